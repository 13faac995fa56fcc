import { TranslationBundle } from '@jupyterlab/translation';
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

  /** Update from the job list. */
  set jobs(jobs: IJob[]) {
    const active = jobs.filter(job => !isFinished(job.status)).length;
    this.node.textContent = this._trans._n(
      '%1 build running',
      '%1 builds running',
      active
    );
    this.node.title = this._trans.__('jupyter_r2d: active build jobs');
    this.node.setAttribute('aria-label', this.node.textContent);
    this.setHidden(active === 0);
  }
}
