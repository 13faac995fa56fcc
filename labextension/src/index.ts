import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  Notification,
  showDialog,
  WidgetTracker
} from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import {
  ReadonlyJSONObject,
  ReadonlyPartialJSONObject
} from '@lumino/coreutils';

import {
  forgetBuild,
  getBuild,
  IBuildRequest,
  IJob,
  IJobEvent,
  isFinished,
  pruneImages,
  startBuild,
  stopContainer
} from './api';
import { CommandIDs } from './commands';
// eslint-disable-next-line jupyter/prefer-lazy-imports -- the build form (in the sidebar) loads it at start
import { describeError } from './fields';
import type { ImageInspectWidget } from './inspect';
import type { JobLogWidget } from './logView';
// eslint-disable-next-line jupyter/prefer-lazy-imports -- the sidebar is added at start
import { ImagesPanel } from './panel';
// eslint-disable-next-line jupyter/prefer-lazy-imports -- the status item is registered at start
import { ActiveJobsStatus } from './status';

export { CommandIDs } from './commands';

const NO_ARGS = { args: { type: 'object', properties: {} } };

/** A command's arguments: one required string (and optional strings). */
function oneArg(name: string, more: { [key: string]: { type: string } } = {}) {
  const args: ReadonlyJSONObject = {
    type: 'object',
    properties: { [name]: { type: 'string' }, ...more },
    required: [name]
  };
  return { args };
}

/**
 * The Images sidebar plugin.
 */
const panelPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-r2d:panel',
  description:
    'The Images sidebar: container engine status, builds, containers and images.',
  autoStart: true,
  optional: [
    ILayoutRestorer,
    ICommandPalette,
    ITranslator,
    IDefaultFileBrowser,
    ISettingRegistry,
    IStatusBar
  ],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null,
    browser: IDefaultFileBrowser | null,
    settingRegistry: ISettingRegistry | null,
    statusBar: IStatusBar | null
  ): void => {
    const tr = translator ?? nullTranslator;
    const trans = tr.load('jupyter_r2d');
    const tracker = new WidgetTracker<JobLogWidget>({
      namespace: 'jupyter-r2d-log'
    });
    const inspectTracker = new WidgetTracker<ImageInspectWidget>({
      namespace: 'jupyter-r2d-inspect'
    });

    const openLog = async (
      jobId: string,
      label?: string
    ): Promise<JobLogWidget> => {
      const existing = tracker.find(w => w.content.jobId === jobId);
      if (existing) {
        app.shell.activateById(existing.id);
        return existing;
      }
      // xterm.js loads with the first log tab, not at application start.
      const { JobLogWidget } = await import('./logView');
      const widget = new JobLogWidget(jobId, trans, label);
      widget.content.onFinished(event => onFinished(jobId, label, event));
      void tracker.add(widget);
      app.shell.add(widget, 'main');
      app.shell.activateById(widget.id);
      return widget;
    };

    const onFinished = (
      jobId: string,
      label: string | undefined,
      event: IJobEvent
    ): void => {
      void panel.refreshJobs();
      // Open inspect views show the image as it is now.
      inspectTracker.forEach(w => void w.content.refresh());
      const status =
        event.phase === 'ready'
          ? 'succeeded'
          : event.phase === 'failed'
            ? 'failed'
            : 'cancelled';
      announce(jobId, label ?? jobId, status, event.error);
    };

    // Jobs seen queued or running in this page. Only their end is announced,
    // once: a reload or a log opened later replays the events of jobs that
    // ended long ago. The log's terminal event or the job list, whichever
    // comes first, tells the end.
    const live = new Set<string>();
    const notify = (jobs: IJob[]): void => {
      for (const job of jobs) {
        if (!isFinished(job.status)) {
          live.add(job.id);
        } else {
          announce(job.id, job.image, job.status, job.error);
        }
      }
    };
    const announce = (
      jobId: string,
      name: string,
      status: string,
      error: unknown
    ): void => {
      if (!live.delete(jobId)) {
        return;
      }
      const actions = [
        {
          label: trans.__('Open log'),
          callback: () => {
            void openLog(jobId, name);
          }
        }
      ];
      if (status === 'succeeded') {
        Notification.success(trans.__('Build of %1 succeeded', name), {
          autoClose: 8000,
          actions
        });
      } else if (status === 'cancelled') {
        Notification.warning(trans.__('Build of %1 cancelled', name), {
          autoClose: 5000
        });
      } else {
        Notification.error(
          trans.__('Build of %1 failed: %2', name, String(error ?? '')),
          { autoClose: false, actions }
        );
      }
    };

    /** Start a job, add it to the history and open its log. */
    const start = async (
      body: IBuildRequest,
      alwaysOpenLog: boolean
    ): Promise<IJob | null> => {
      try {
        const job = await startBuild(body);
        panel.addJob(job);
        if (alwaysOpenLog || openLogOnBuild) {
          void openLog(job.id, job.image);
        }
        return job;
      } catch (error) {
        Notification.error(
          trans.__(
            'Cannot start the job: %1',
            describeError(error, trans).message
          ),
          { autoClose: 8000 }
        );
        return null;
      }
    };

    const defaults = { run: false, push: false, registry: '' };
    let openLogOnBuild = true;
    const panel = new ImagesPanel({
      translator: tr,
      commands: app.commands,
      filesChanged: app.serviceManager.contents.fileChanged,
      defaults,
      openLog: (job: IJob) => {
        void openLog(job.id, job.image);
      },
      onStarted: (job: IJob) => {
        if (openLogOnBuild) {
          void openLog(job.id, job.image);
        }
      }
    });
    if (settingRegistry) {
      void settingRegistry.load(panelPlugin.id).then(settings => {
        const apply = () => {
          defaults.run = settings.get('defaultRun').composite as boolean;
          defaults.push = settings.get('defaultPush').composite as boolean;
          defaults.registry = settings.get('defaultRegistry')
            .composite as string;
          openLogOnBuild = settings.get('openLogOnBuild').composite as boolean;
          panel.refreshInterval =
            (settings.get('refreshInterval').composite as number) * 1000;
        };
        settings.changed.connect(apply);
        apply();
      });
    }
    app.shell.add(panel, 'left', { rank: 850 });
    panel.jobsChanged.connect((_, jobs) => notify(jobs));
    if (statusBar) {
      const item = new ActiveJobsStatus(trans, () =>
        app.shell.activateById(panel.id)
      );
      statusBar.registerStatusItem('jupyter-r2d:active-jobs', {
        item,
        align: 'left',
        rank: 50,
        isActive: () => item.active,
        activeStateChanged: item.activeChanged
      });
      panel.jobsChanged.connect((_, jobs) => {
        item.jobs = jobs;
      });
    }
    if (restorer) {
      restorer.add(panel, 'jupyter-r2d-images');
      void restorer.restore(tracker, {
        command: CommandIDs.openLog,
        args: widget => ({
          id: widget.content.jobId,
          label: widget.title.label.replace(/^Build: /, '')
        }),
        name: widget => widget.content.jobId
      });
      void restorer.restore(inspectTracker, {
        command: CommandIDs.inspectImage,
        args: widget => ({ ref: widget.content.ref }),
        name: widget => widget.content.ref
      });
    }

    if (browser) {
      const follow = () => {
        panel.folder = browser.model.path.replace(/^[^:]*:/, '');
      };
      browser.model.pathChanged.connect(follow);
      follow();
    }

    app.commands.addCommand(CommandIDs.openPanel, {
      label: trans.__('Show the Images Panel'),
      caption: trans.__('Open the jupyter_r2d Images sidebar'),
      describedBy: NO_ARGS,
      execute: () => {
        app.shell.activateById(panel.id);
      }
    });
    app.commands.addCommand(CommandIDs.refreshEngine, {
      label: trans.__('Refresh Container Engine Status'),
      describedBy: NO_ARGS,
      execute: () => panel.refreshEngine()
    });
    app.commands.addCommand(CommandIDs.openLog, {
      label: trans.__('Open Build Log'),
      describedBy: oneArg('id', { label: { type: 'string' } }),
      execute: args =>
        openLog(String(args.id), args.label ? String(args.label) : undefined)
    });
    app.commands.addCommand(CommandIDs.buildFolder, {
      label: trans.__('Build Image from This Folder'),
      caption: trans.__('Build a container image with repo2docker'),
      describedBy: NO_ARGS,
      execute: () => {
        if (browser) {
          const item = browser.selectedItems().next();
          const selected = item && !item.done ? item.value : null;
          panel.buildFolder(
            selected && selected.type === 'directory'
              ? selected.path
              : browser.model.path.replace(/^[^:]*:/, '')
          );
        }
        app.shell.activateById(panel.id);
      }
    });

    /** The image of a command: its `ref` arg, or the row right-clicked. */
    const imageRef = (args: ReadonlyPartialJSONObject): string => {
      if (args.ref) {
        return String(args.ref);
      }
      const row = app.contextMenuHitTest(node => !!node.dataset.image);
      return row?.dataset.image ?? '';
    };
    /** Whether a reference names a tag (run/push need one, not an id). */
    const isTag = (ref: string) => !!ref && !ref.startsWith('sha256:');
    const refArgs = {
      args: {
        type: 'object',
        properties: { ref: { type: 'string' } }
      } as ReadonlyJSONObject
    };

    app.commands.addCommand(CommandIDs.inspectImage, {
      label: trans.__('Inspect Image'),
      caption: trans.__(
        'Labels, configuration, layer history and provenance of an image'
      ),
      describedBy: refArgs,
      isEnabled: args => !!imageRef(args),
      execute: async args => {
        const ref = imageRef(args);
        const existing = inspectTracker.find(w => w.content.ref === ref);
        if (existing) {
          app.shell.activateById(existing.id);
          void existing.content.refresh();
          return existing;
        }
        const { ImageInspectWidget } = await import('./inspect');
        const widget = new ImageInspectWidget(ref, trans, {
          run: image =>
            void app.commands.execute(CommandIDs.runImage, { ref: image }),
          push: image =>
            void app.commands.execute(CommandIDs.pushImage, { ref: image }),
          openJob: id => void openLog(id)
        });
        void inspectTracker.add(widget);
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
        return widget;
      }
    });

    app.commands.addCommand(CommandIDs.runImage, {
      label: trans.__('Run Image'),
      caption: trans.__('Start a container from an existing image'),
      describedBy: refArgs,
      isEnabled: args => isTag(imageRef(args)),
      execute: args =>
        start({ source: null, image: imageRef(args), run: true }, true)
    });

    app.commands.addCommand(CommandIDs.removeImage, {
      label: trans.__('Remove Image…'),
      caption: trans.__('Remove an image or one of its tags'),
      describedBy: refArgs,
      isEnabled: args => !!imageRef(args),
      execute: async args => {
        const ref = imageRef(args);
        const image = panel.images.find(
          i => i.id === ref || i.tags.includes(ref)
        );
        if (!image) {
          await panel.refreshJobs();
          return false;
        }
        const { removeImageInteractive } = await import('./images');
        const removed = await removeImageInteractive(image, ref, trans);
        await panel.refreshJobs();
        return removed;
      }
    });

    app.commands.addCommand(CommandIDs.pushImage, {
      label: trans.__('Push Image…'),
      caption: trans.__('Push an existing image to a registry'),
      describedBy: refArgs,
      isEnabled: args => isTag(imageRef(args)),
      execute: async args => {
        const image = imageRef(args);
        const { askIntent } = await import('./intentDialog');
        const value = await askIntent(
          trans.__('Push %1', image),
          trans.__('Push'),
          {
            registries: panel.registries,
            askRegistry: true,
            registry: defaults.registry,
            image
          },
          trans
        );
        if (!value) {
          return null;
        }
        return start(
          { source: null, image, push: true, registry: value.registry },
          true
        );
      }
    });

    app.commands.addCommand(CommandIDs.rebuildJob, {
      label: trans.__('Rebuild with the Same Settings'),
      caption: trans.__('Start a finished job again with the same settings'),
      describedBy: oneArg('id'),
      execute: async args => {
        const id = String(args.id);
        const job = panel.jobs.find(j => j.id === id) ?? (await getBuild(id));
        const body: IBuildRequest = {
          source: job.source,
          image: job.image,
          run: job.run,
          push: job.push
        };
        // Configured registries are found again by server; a login typed
        // once (to push, or to pull a private base), and build arg values,
        // were never kept: ask for them again.
        const configured = job.registry
          ? panel.registries.find(
              r =>
                r.server === job.registry!.server &&
                (r.username ?? '') === (job.registry!.username ?? '')
            )
          : undefined;
        const needLogin = !!job.registry?.username && !configured;
        const buildArgs = job.build_args ?? [];
        if (configured) {
          body.registry = configured.name;
        }
        if (needLogin || buildArgs.length > 0) {
          const { askIntent } = await import('./intentDialog');
          const value = await askIntent(
            trans.__('Rebuild %1', job.image),
            trans.__('Rebuild'),
            {
              registries: panel.registries,
              askRegistry: needLogin,
              server: needLogin ? job.registry!.server : undefined,
              username: needLogin ? job.registry!.username : undefined,
              // Only a pushed image shows the name it is pushed as.
              image: job.push ? job.image : undefined,
              buildArgs,
              message: needLogin
                ? trans.__(
                    'The password for %1 was used once and not kept: type it again.',
                    job.registry!.server
                  )
                : undefined
            },
            trans
          );
          if (!value) {
            return null;
          }
          if (needLogin) {
            body.registry = value.registry;
          }
          if (buildArgs.length > 0) {
            body.build_args = value.buildArgs;
          }
        }
        return start(body, false);
      }
    });

    app.commands.addCommand(CommandIDs.forgetJob, {
      label: trans.__('Forget Job'),
      caption: trans.__('Remove a finished job and its log from the history'),
      describedBy: oneArg('id'),
      execute: async args => {
        const id = String(args.id);
        try {
          await forgetBuild(id);
          tracker.find(w => w.content.jobId === id)?.close();
        } catch (error) {
          Notification.error(
            trans.__('Cannot forget job %1: %2', id, (error as Error).message),
            { autoClose: 8000 }
          );
        }
        await panel.refreshJobs();
      }
    });

    app.commands.addCommand(CommandIDs.stopContainer, {
      label: trans.__('Stop Container'),
      caption: trans.__('Stop and remove a container a run started'),
      describedBy: oneArg('id', { name: { type: 'string' } }),
      execute: async args => {
        const id = String(args.id);
        const name = args.name ? String(args.name) : id.slice(0, 12);
        const answer = await showDialog({
          title: trans.__('Stop container'),
          body: trans.__(
            'Stop and remove %1? Anything not saved outside the container is lost.',
            name
          ),
          buttons: [
            Dialog.cancelButton({ label: trans.__('Cancel') }),
            Dialog.warnButton({ label: trans.__('Stop') })
          ]
        });
        if (!answer.button.accept) {
          return;
        }
        try {
          await stopContainer(id);
          Notification.success(trans.__('Stopped %1', name), {
            autoClose: 3000
          });
        } catch (error) {
          Notification.error(
            trans.__('Cannot stop %1: %2', name, (error as Error).message),
            { autoClose: 8000 }
          );
        }
        await panel.refreshJobs();
      }
    });

    app.commands.addCommand(CommandIDs.pruneImages, {
      label: trans.__('Prune Dangling jupyter_r2d Images…'),
      caption: trans.__(
        'Remove untagged images that jupyter_r2d built, after showing them'
      ),
      describedBy: NO_ARGS,
      execute: async () => {
        let plan;
        try {
          plan = await pruneImages(true);
        } catch (error) {
          Notification.error(
            trans.__(
              'Cannot list images to prune: %1',
              (error as Error).message
            ),
            { autoClose: 8000 }
          );
          return;
        }
        if (plan.removed.length === 0 && plan.skipped.length === 0) {
          Notification.info(
            trans.__('No dangling jupyter_r2d images: nothing to prune.'),
            { autoClose: 4000 }
          );
          return;
        }
        const { PrunePlan } = await import('./prune');
        const answer = await showDialog({
          title: trans.__('Prune dangling images'),
          body: new PrunePlan(plan, trans),
          buttons:
            plan.removed.length > 0
              ? [
                  Dialog.cancelButton({ label: trans.__('Cancel') }),
                  Dialog.warnButton({
                    label: trans._n(
                      'Remove %1 image',
                      'Remove %1 images',
                      plan.removed.length
                    )
                  })
                ]
              : [Dialog.okButton({ label: trans.__('Close') })]
        });
        if (!answer.button.accept || plan.removed.length === 0) {
          return;
        }
        try {
          const { formatSize } = await import('./images');
          const done = await pruneImages(false);
          Notification.success(
            trans._n(
              'Removed %1 image, %2 reclaimed',
              'Removed %1 images, %2 reclaimed',
              done.removed.length,
              formatSize(done.space_reclaimed)
            ),
            { autoClose: 5000 }
          );
        } catch (error) {
          Notification.error(
            trans.__('Prune failed: %1', (error as Error).message),
            { autoClose: 8000 }
          );
        }
        await panel.refreshJobs();
      }
    });

    // One item: a folder row is inside the listing, and the context menu
    // shows every item whose selector matches the target or an ancestor.
    app.contextMenu.addItem({
      command: CommandIDs.buildFolder,
      selector: '.jp-DirListing-content',
      rank: 20
    });
    [
      CommandIDs.inspectImage,
      CommandIDs.runImage,
      CommandIDs.pushImage,
      CommandIDs.removeImage
    ].forEach((command, i) =>
      app.contextMenu.addItem({
        command,
        selector: '.jp-r2d-image[data-image]',
        rank: 10 + i
      })
    );
    if (palette) {
      const category = trans.__('Container Images');
      palette.addItem({ command: CommandIDs.openPanel, category });
      palette.addItem({ command: CommandIDs.refreshEngine, category });
      palette.addItem({ command: CommandIDs.buildFolder, category });
      palette.addItem({ command: CommandIDs.pruneImages, category });
    }
  }
};

export default [panelPlugin];
