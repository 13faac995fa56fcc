import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  Notification,
  WidgetTracker
} from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { IJob, IJobEvent } from './api';
import type { JobLogWidget } from './logView';
// eslint-disable-next-line jupyter/prefer-lazy-imports -- the sidebar is added at start
import { ImagesPanel } from './panel';
import { ActiveJobsStatus } from './status';

/**
 * Command ids of jupyter_r2d.
 */
export namespace CommandIDs {
  /** Show the Images panel. */
  export const openPanel = 'jupyter-r2d:open-panel';
  /** Refresh the engine status. */
  export const refreshEngine = 'jupyter-r2d:refresh-engine';
  /** Open the log tab of a job. */
  export const openLog = 'jupyter-r2d:open-log';
  /** Show the build form for a folder. */
  export const buildFolder = 'jupyter-r2d:build-folder';
}

const NO_ARGS = { args: { type: 'object', properties: {} } };

/**
 * The Images sidebar plugin.
 */
const panelPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-r2d:panel',
  description:
    'The Images sidebar: container engine status, builds and images.',
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
      const name = label ?? jobId;
      const actions = [
        {
          label: trans.__('Open log'),
          callback: () => {
            void openLog(jobId, label);
          }
        }
      ];
      if (event.phase === 'ready') {
        Notification.success(trans.__('Build of %1 succeeded', name), {
          autoClose: 8000,
          actions
        });
      } else if (event.phase === 'failed') {
        Notification.error(
          trans.__('Build of %1 failed: %2', name, String(event.error ?? '')),
          { autoClose: false, actions }
        );
      } else {
        Notification.warning(trans.__('Build of %1 cancelled', name), {
          autoClose: 5000
        });
      }
    };

    const defaults = { run: false, push: false, registry: '' };
    let openLogOnBuild = true;
    const panel = new ImagesPanel({
      translator: tr,
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
    if (statusBar) {
      const item = new ActiveJobsStatus(trans, () =>
        app.shell.activateById(panel.id)
      );
      statusBar.registerStatusItem('jupyter-r2d:active-jobs', {
        item,
        align: 'left',
        rank: 50,
        isActive: () => true
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
      describedBy: {
        args: {
          type: 'object',
          properties: { id: { type: 'string' }, label: { type: 'string' } },
          required: ['id']
        }
      },
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
          panel.folder =
            selected && selected.type === 'directory'
              ? selected.path
              : browser.model.path.replace(/^[^:]*:/, '');
        }
        app.shell.activateById(panel.id);
      }
    });
    app.contextMenu.addItem({
      command: CommandIDs.buildFolder,
      selector: '.jp-DirListing-item[data-isdir="true"]',
      rank: 20
    });
    app.contextMenu.addItem({
      command: CommandIDs.buildFolder,
      selector: '.jp-DirListing-content',
      rank: 20
    });
    if (palette) {
      const category = trans.__('Container Images');
      palette.addItem({ command: CommandIDs.openPanel, category });
      palette.addItem({ command: CommandIDs.refreshEngine, category });
      palette.addItem({ command: CommandIDs.buildFolder, category });
    }
  }
};

export default [panelPlugin];
