import { Contents } from '@jupyterlab/services';
import { ITranslator, TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import { CommandRegistry } from '@lumino/commands';
import { ISignal, Signal } from '@lumino/signaling';
import { Menu } from '@lumino/widgets';
import * as React from 'react';

import {
  APIError,
  getEngine,
  IContainer,
  IEngineStatus,
  IJob,
  IRegistry,
  IImage,
  listBuilds,
  listContainers,
  listImageCatalog,
  listRegistries
} from './api';
import { BuildForm } from './buildForm';
import { CommandIDs } from './commands';
import { ContainerList } from './containers';
import { EngineStatus } from './engineStatus';
import { containerIcon } from './icons';
import { ImageBrowser } from './images';
import { JobList } from './jobs';

/**
 * The "Images" sidebar panel: engine status, build form, job history,
 * containers started by runs, and the image browser.
 */
export class ImagesPanel extends ReactWidget {
  /**
   * Create the panel.
   *
   * @param options - the panel options
   */
  constructor(options: ImagesPanel.IOptions) {
    super();
    this._options = options;
    this._trans = options.translator.load('jupyter_r2d');
    this.id = 'jupyter-r2d-images';
    this.title.icon = containerIcon;
    this.title.caption = this._trans.__(
      'Images: build, push and run container images with repo2docker'
    );
    this.title.label = '';
    this.addClass('jp-r2d-ImagesPanel');
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', this._trans.__('Images'));
  }

  /** The translation bundle of the panel. */
  get trans(): TranslationBundle {
    return this._trans;
  }

  /** The last engine status, if any. */
  get engine(): IEngineStatus | null {
    return this._engine;
  }

  /** Emitted when the job list changes. */
  get jobsChanged(): Signal<this, IJob[]> {
    return this._jobsChanged;
  }

  /** Emitted when the engine status changes. */
  get engineChanged(): Signal<this, IEngineStatus | null> {
    return this._engineChanged;
  }

  /** The folder the build form builds (relative to the server root). */
  get folder(): string {
    return this._folder;
  }
  set folder(value: string) {
    if (value !== this._folder) {
      this._folder = value;
      this.update();
    }
  }

  /**
   * Build `path` next: the form selects the folder source with it, even when
   * it showed a git repository ("Build Image from This Folder").
   */
  buildFolder(path: string): void {
    this._folder = path;
    this._selectFolder++;
    this.update();
  }

  /** The jobs shown in the history. */
  get jobs(): IJob[] {
    return this._jobs;
  }

  /** The registries configured on the server. */
  get registries(): IRegistry[] {
    return this._registries;
  }

  /** The local images, as last listed. */
  get images(): IImage[] {
    return this._images;
  }

  /** The containers started by runs, as last listed. */
  get containers(): IContainer[] {
    return this._containers;
  }

  /** Add a job that was just started to the history. */
  addJob(job: IJob): void {
    this._jobs = [job, ...this._jobs.filter(j => j.id !== job.id)];
    this._jobsChanged.emit(this._jobs);
    this.update();
  }

  /** Refresh the job history, containers, images and the registries. */
  async refreshJobs(): Promise<void> {
    const [jobs, containers, images, registries] = await Promise.allSettled([
      listBuilds(),
      listContainers(),
      listImageCatalog(),
      this._registriesLoaded
        ? Promise.resolve(this._registries)
        : listRegistries()
    ]);
    if (jobs.status === 'fulfilled') {
      this._jobs = jobs.value;
    }
    if (registries.status === 'fulfilled') {
      this._registries = registries.value;
      this._registriesLoaded = true;
    }
    this._jobsChanged.emit(this._jobs);
    if (containers.status === 'fulfilled') {
      this._containers = containers.value;
      this._containersError = null;
    } else {
      this._containersError = (containers.reason as Error).message;
    }
    if (images.status === 'fulfilled') {
      this._images = images.value.images;
      this._diskSize = images.value.disk.size;
      this._imagesError = null;
    } else {
      this._imagesError = (images.reason as Error).message;
    }
    this.update();
  }

  /**
   * Fetch the engine status again.
   */
  async refreshEngine(): Promise<void> {
    this._loading = true;
    this.update();
    try {
      this._engine = await getEngine();
      this._error = null;
      void this.refreshJobs();
    } catch (error) {
      this._engine = null;
      this._error =
        error instanceof APIError ? error : new APIError(String(error), 0);
    } finally {
      this._loading = false;
      this._engineChanged.emit(this._engine);
      this.update();
    }
  }

  /** Milliseconds between refreshes while visible (0: off). */
  get refreshInterval(): number {
    return this._interval;
  }
  set refreshInterval(value: number) {
    this._interval = value;
    this._schedule();
  }

  protected onAfterShow(): void {
    if (!this._engine?.available) {
      void this.refreshEngine();
    } else {
      void this.refreshJobs();
    }
    this._schedule();
  }

  protected onAfterHide(): void {
    this._schedule();
  }

  dispose(): void {
    window.clearInterval(this._timer);
    super.dispose();
  }

  private _schedule(): void {
    window.clearInterval(this._timer);
    this._timer = 0;
    if (this._interval > 0 && this.isVisible) {
      // No polling while the panel is hidden.
      this._timer = window.setInterval(() => {
        if (this.isVisible && this._engine?.available) {
          void this.refreshJobs();
        }
      }, this._interval);
    }
  }

  protected onAfterAttach(msg: any): void {
    super.onAfterAttach(msg);
    if (this.isVisible && !this._engine && !this._loading) {
      void this.refreshEngine();
    }
  }

  protected render(): JSX.Element {
    const ready = !!this._engine?.available;
    return (
      <div className="jp-r2d-panel-content">
        <header className="jp-r2d-header">
          <h2 className="jp-r2d-title">{this._trans.__('Images')}</h2>
        </header>
        <EngineStatus
          engine={this._engine}
          error={this._error}
          loading={this._loading}
          onRetry={() => void this.refreshEngine()}
          trans={this._trans}
        />
        {ready && (
          <section
            className="jp-r2d-section"
            aria-label={this._trans.__('Build')}
          >
            <h3>{this._trans.__('Build')}</h3>
            <BuildForm
              folder={this._folder}
              selectFolder={this._selectFolder}
              filesChanged={this._options.filesChanged}
              registries={this._registries}
              defaultRun={this._options.defaults?.run ?? false}
              defaultPush={this._options.defaults?.push ?? false}
              defaultRegistry={this._options.defaults?.registry ?? ''}
              disabled={!ready}
              onStarted={job => {
                this.addJob(job);
                this._options.onStarted?.(job);
              }}
              trans={this._trans}
            />
          </section>
        )}
        {ready && (
          <section
            className="jp-r2d-section"
            aria-label={this._trans.__('Jobs')}
          >
            <h3>{this._trans.__('Jobs')}</h3>
            <JobList
              jobs={this._jobs}
              trans={this._trans}
              onOpen={job => this._options.openLog?.(job)}
              onRebuild={job => this._execute(CommandIDs.rebuildJob, job.id)}
              onForget={job => this._execute(CommandIDs.forgetJob, job.id)}
            />
          </section>
        )}
        {ready && (
          <section
            className="jp-r2d-section"
            aria-label={this._trans.__('Containers')}
          >
            <h3>{this._trans.__('Containers')}</h3>
            {this._containersError && (
              <div className="jp-r2d-banner jp-r2d-mod-error" role="alert">
                {this._trans.__(
                  'Cannot list containers: %1',
                  this._containersError
                )}
              </div>
            )}
            <ContainerList
              containers={this._containers}
              trans={this._trans}
              onStop={container =>
                void this._options.commands.execute(CommandIDs.stopContainer, {
                  id: container.id,
                  name: container.name
                })
              }
              onOpenJob={id =>
                void this._options.commands.execute(CommandIDs.openLog, {
                  id
                })
              }
            />
          </section>
        )}
        {ready && (
          <section
            className="jp-r2d-section"
            aria-label={this._trans.__('Local images')}
          >
            <h3>{this._trans.__('Local images')}</h3>
            {this._imagesError && (
              <div className="jp-r2d-banner jp-r2d-mod-error" role="alert">
                {this._trans.__('Cannot list images: %1', this._imagesError)}
              </div>
            )}
            <ImageBrowser
              images={this._images}
              diskSize={this._diskSize}
              trans={this._trans}
              onInspect={ref =>
                void this._options.commands.execute(CommandIDs.inspectImage, {
                  ref
                })
              }
              onMenu={(ref, anchor) => this._openImageMenu(ref, anchor)}
              onPrune={() =>
                void this._options.commands.execute(CommandIDs.pruneImages)
              }
            />
          </section>
        )}
      </div>
    );
  }

  /** The actions menu of an image (the same commands as its context menu). */
  private _openImageMenu(ref: string, anchor: HTMLElement): void {
    const menu = new Menu({ commands: this._options.commands });
    menu.addClass('jp-r2d-ImageMenu');
    for (const command of [
      CommandIDs.inspectImage,
      CommandIDs.runImage,
      CommandIDs.pushImage,
      CommandIDs.removeImage
    ]) {
      menu.addItem({ command, args: { ref } });
    }
    menu.aboutToClose.connect(() => {
      requestAnimationFrame(() => menu.dispose());
      if (anchor.isConnected) {
        anchor.focus();
      }
    });
    const rect = anchor.getBoundingClientRect();
    menu.open(rect.left, rect.bottom);
    menu.activeIndex = 0;
  }

  /** Run a command that takes a job id. */
  private _execute(command: string, id: string): void {
    void this._options.commands.execute(command, { id });
  }

  private _trans: TranslationBundle;
  private _options: ImagesPanel.IOptions;
  private _folder = '';
  private _selectFolder = 0;
  private _jobs: IJob[] = [];
  private _registries: IRegistry[] = [];
  private _registriesLoaded = false;
  private _images: IImage[] = [];
  private _diskSize: number | null = null;
  private _containers: IContainer[] = [];
  private _containersError: string | null = null;
  private _imagesError: string | null = null;
  private _interval = 10000;
  private _jobsChanged = new Signal<this, IJob[]>(this);
  private _timer = 0;
  private _engine: IEngineStatus | null = null;
  private _error: APIError | null = null;
  private _loading = false;
  private _engineChanged = new Signal<this, IEngineStatus | null>(this);
}

/**
 * A namespace for ImagesPanel statics.
 */
export namespace ImagesPanel {
  /**
   * Options to create the panel.
   */
  export interface IOptions {
    /** The application translator. */
    translator: ITranslator;
    /** The application's commands (the panel's actions are commands). */
    commands: CommandRegistry;
    /** Open the log tab of a job. */
    openLog?: (job: IJob) => void;
    /** Called when the build form started a job. */
    onStarted?: (job: IJob) => void;
    /** Files changed through JupyterLab (the form's preview follows them). */
    filesChanged?: ISignal<unknown, Contents.IChangedArgs>;
    /** Form defaults (from the settings). */
    defaults?: { run: boolean; push: boolean; registry: string };
  }
}
