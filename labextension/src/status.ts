import { TranslationBundle } from '@jupyterlab/translation';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { IJob, isFinished } from './api';

/**
 * Status bar item: the number of active (queued or running) build jobs.
 */
export class ActiveJobsStatus extends Widget {
  /**
   * Create the item.
   *
   * @param trans - translation bundle
   * @param onClick - called when the item is clicked
   */
  constructor(
    private _trans: TranslationBundle,
    onClick: () => void
  ) {
    super();
    this.addClass('jp-r2d-StatusItem');
    this.node.setAttribute('role', 'button');
    this.node.tabIndex = 0;
    this.node.addEventListener('click', onClick);
    this.node.addEventListener('keydown', event => {
      if (event.key === 'Enter' || event.key === ' ') {
        onClick();
      }
    });
    this.jobs = [];
  }

  /** Whether a job is active (the status bar shows the item only then). */
  get active(): boolean {
    return this._active > 0;
  }

  /** Emitted when `active` changes. */
  get activeChanged(): ISignal<this, void> {
    return this._activeChanged;
  }

  /** Update from the job list. */
  set jobs(jobs: IJob[]) {
    const active = jobs.filter(job => !isFinished(job.status)).length;
    const changed = active > 0 !== this._active > 0;
    this._active = active;
    this.node.textContent = this._trans._n(
      '%1 build running',
      '%1 builds running',
      active
    );
    this.node.title = this._trans.__('jupyter_r2d: active build jobs');
    this.node.setAttribute('aria-label', this.node.textContent);
    if (changed) {
      this._activeChanged.emit();
    }
  }

  private _active = 0;
  private _activeChanged = new Signal<this, void>(this);
}
