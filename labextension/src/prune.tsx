import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IPruneResult } from './api';
import { formatSize } from './images';

/** A short image id (the first 12 hex digits). */
function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

/**
 * The body of the prune dialog: what a prune would remove (from a dry run)
 * and what it keeps, with the reason.
 */
export class PrunePlan extends ReactWidget {
  /**
   * Create the plan view.
   *
   * @param _plan - the dry run's answer
   * @param _trans - translation bundle
   */
  constructor(
    private _plan: IPruneResult,
    private _trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-r2d-PrunePlan');
  }

  protected render(): JSX.Element {
    const trans = this._trans;
    const plan = this._plan;
    return (
      <div className="jp-r2d-prune-plan">
        {plan.removed.length > 0 ? (
          <p>
            {trans._n(
              'This dangling image built by jupyter_r2d will be removed, freeing %2:',
              'These %1 dangling images built by jupyter_r2d will be removed, freeing %2:',
              plan.removed.length,
              formatSize(plan.space_reclaimed)
            )}
          </p>
        ) : (
          <p>{trans.__('No dangling jupyter_r2d image can be removed now.')}</p>
        )}
        {plan.removed.length > 0 && (
          <ul className="jp-r2d-prune-list" aria-label={trans.__('To remove')}>
            {plan.removed.map(entry => (
              <li key={entry.id} data-image-id={entry.id}>
                <code title={entry.id}>{shortId(entry.id)}</code>{' '}
                {formatSize(entry.size)}
              </li>
            ))}
          </ul>
        )}
        {plan.skipped.length > 0 && (
          <>
            <p>{trans.__('Kept:')}</p>
            <ul className="jp-r2d-prune-skipped" aria-label={trans.__('Kept')}>
              {plan.skipped.map(entry => (
                <li key={entry.id} data-image-id={entry.id}>
                  <code title={entry.id}>{shortId(entry.id)}</code>{' '}
                  {formatSize(entry.size)}: {entry.reason}
                </li>
              ))}
            </ul>
          </>
        )}
      </div>
    );
  }
}
