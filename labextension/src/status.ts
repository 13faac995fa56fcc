import { TranslationBundle } from '@jupyterlab/translation';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { IJob } from './api';

/**
 * Status bar item: the number of running and of queued build jobs.
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
    const running = jobs.filter(job => job.status === 'running').length;
    const queued = jobs.filter(job => job.status === 'queued').length;
    const active = running + queued;
    const changed = active > 0 !== this._active > 0;
    this._active = active;
    const trans = this._trans;
    if (running === 0) {
      this.node.textContent = trans._n(
        '%1 build queued',
        '%1 builds queued',
        queued
      );
    } else {
      const text = trans._n('%1 build running', '%1 builds running', running);
      // Queued jobs wait for a free slot (max_concurrent_builds): not running.
      this.node.textContent = queued
        ? trans._n('%2, %1 queued', '%2, %1 queued', queued, text)
        : text;
    }
    this.node.title = trans.__('jupyter_r2d: active build jobs');
    this.node.setAttribute('aria-label', this.node.textContent);
    if (changed) {
      this._activeChanged.emit();
    }
  }

  private _active = 0;
  private _activeChanged = new Signal<this, void>(this);
}
