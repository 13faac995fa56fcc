import { ITranslator, TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Signal } from '@lumino/signaling';
import * as React from 'react';

import { APIError, getEngine, IEngineStatus } from './api';
import { EngineStatus } from './engineStatus';
import { containerIcon } from './icons';

/**
 * The "Images" sidebar panel.
 *
 * For now it holds the engine status; the build form, job history,
 * containers and the image browser are added as sections.
 */
export class ImagesPanel extends ReactWidget {
  /**
   * Create the panel.
   *
   * @param options - the panel options
   */
  constructor(options: ImagesPanel.IOptions) {
    super();
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

  /** Emitted when the engine status changes. */
  get engineChanged(): Signal<this, IEngineStatus | null> {
    return this._engineChanged;
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

  protected onAfterShow(): void {
    if (!this._engine?.available) {
      void this.refreshEngine();
    }
  }

  protected onAfterAttach(msg: any): void {
    super.onAfterAttach(msg);
    if (this.isVisible && !this._engine && !this._loading) {
      void this.refreshEngine();
    }
  }

  protected render(): JSX.Element {
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
      </div>
    );
  }

  private _trans: TranslationBundle;
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
  }
}
