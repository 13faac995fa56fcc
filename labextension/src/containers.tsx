import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { IContainer } from './api';
import { DateTime } from './dates';

/**
 * Props of the container list.
 */
export interface IContainerListProps {
  /** Containers started by runs. */
  containers: IContainer[];
  /** Stop and remove a container. */
  onStop: (container: IContainer) => void;
  /** Open the log of the job that started a container. */
  onOpenJob: (jobId: string) => void;
  /** Translation bundle. */
  trans: TranslationBundle;
}

/**
 * Containers started by runs: name, image, status, URL, stop.
 */
export function ContainerList(props: IContainerListProps): JSX.Element {
  const { trans } = props;
  if (props.containers.length === 0) {
    return <p className="jp-r2d-empty">{trans.__('No containers running.')}</p>;
  }
  return (
    <ul className="jp-r2d-containers" aria-label={trans.__('Containers')}>
      {props.containers.map(container => (
        <li
          key={container.id}
          className={`jp-r2d-container jp-r2d-state-${container.status}`}
          data-container={container.id}
          data-job={container.job_id ?? ''}
          data-status={container.status}
        >
          <span className="jp-r2d-container-main">
            <span className="jp-r2d-container-name">{container.name}</span>
            <span className="jp-r2d-container-image">{container.image}</span>
            <span className="jp-r2d-container-meta">
              <span
                className={`jp-r2d-marker jp-r2d-mod-${container.status === 'running' ? 'ok' : 'off'}`}
              >
                {container.status}
              </span>{' '}
              <DateTime iso={container.created} />
            </span>
            {container.url && (
              <a
                className="jp-r2d-container-url"
                href={container.url}
                target="_blank"
                rel="noopener noreferrer"
                aria-label={trans.__('Open %1 in a new tab', container.name)}
              >
                {container.url.split('?')[0]}
              </a>
            )}
          </span>
          <span className="jp-r2d-row-actions">
            {container.job_id && (
              <button
                className="jp-Button jp-mod-styled jp-mod-reject"
                aria-label={trans.__(
                  'Open the log of the run of %1',
                  container.name
                )}
                onClick={() => props.onOpenJob(container.job_id!)}
              >
                {trans.__('Log')}
              </button>
            )}
            <button
              className="jp-Button jp-mod-styled jp-mod-warn"
              aria-label={trans.__('Stop %1', container.name)}
              onClick={() => props.onStop(container)}
            >
              {trans.__('Stop')}
            </button>
          </span>
        </li>
      ))}
    </ul>
  );
}
