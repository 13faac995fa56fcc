import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { IJob, isFinished } from './api';
import { DateTime } from './dates';

const STATUS_ICONS: { [status: string]: string } = {
  queued: '…',
  running: '⟳',
  succeeded: '✓',
  failed: '✗',
  cancelled: '⊘',
  interrupted: '!'
};

/** The translated name of a job status. */
export function statusLabel(status: string, trans: TranslationBundle): string {
  const labels: { [status: string]: string } = {
    queued: trans.__('queued'),
    running: trans.__('running'),
    succeeded: trans.__('succeeded'),
    failed: trans.__('failed'),
    cancelled: trans.__('cancelled'),
    interrupted: trans.__('interrupted')
  };
  return labels[status] ?? status;
}

/** A job's source, as one short string. */
export function describeSource(job: IJob): string {
  const source = job.source;
  if (!source) {
    return '';
  }
  if ('path' in source) {
    return '/' + source.path;
  }
  return source.url + (source.ref ? `@${source.ref}` : '');
}

/** The duration of a job, m:ss. */
export function duration(job: IJob): string {
  if (!job.started) {
    return '';
  }
  const end = job.finished ? Date.parse(job.finished) : Date.now();
  const seconds = Math.max(
    0,
    Math.round((end - Date.parse(job.started)) / 1000)
  );
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

/**
 * Props of the job list.
 */
export interface IJobListProps {
  /** Jobs, newest first. */
  jobs: IJob[];
  /** Open a job's log. */
  onOpen: (job: IJob) => void;
  /** Forget a finished job. */
  onForget: (job: IJob) => void;
  /** Start a job again with the same settings. */
  onRebuild: (job: IJob) => void;
  /** Translation bundle. */
  trans: TranslationBundle;
}

/**
 * The job history: status, image, source, duration and start time.
 */
export function JobList(props: IJobListProps): JSX.Element {
  const { trans } = props;
  if (props.jobs.length === 0) {
    return <p className="jp-r2d-empty">{trans.__('No builds yet.')}</p>;
  }
  return (
    <ul className="jp-r2d-jobs" aria-label={trans.__('Build jobs')}>
      {props.jobs.map(job => (
        <li
          key={job.id}
          className={`jp-r2d-job jp-r2d-status-${job.status}`}
          data-job={job.id}
          data-status={job.status}
        >
          <span
            className="jp-r2d-status-icon"
            title={statusLabel(job.status, trans)}
            aria-label={statusLabel(job.status, trans)}
          >
            {STATUS_ICONS[job.status] ?? '?'}
          </span>
          <span className="jp-r2d-job-main">
            <span className="jp-r2d-job-image">{job.image}</span>
            <span className="jp-r2d-job-source">
              {describeSource(job) || trans.__('existing image')}
              {job.run && (
                <span className="jp-r2d-marker">{trans.__('run')}</span>
              )}
              {job.push && (
                <span className="jp-r2d-marker">{trans.__('push')}</span>
              )}
            </span>
            <span className="jp-r2d-job-meta">
              <DateTime iso={job.created} /> {duration(job)}
            </span>
            {job.container?.url && (
              <a
                className="jp-r2d-job-url"
                href={job.container.url}
                target="_blank"
                rel="noopener noreferrer"
              >
                {job.container.url}
              </a>
            )}
          </span>
          <span className="jp-r2d-row-actions">
            <button
              className="jp-Button jp-mod-styled jp-mod-reject"
              data-action="log"
              aria-label={trans.__('Open the log of %1', job.image)}
              onClick={() => props.onOpen(job)}
            >
              {trans.__('Log')}
            </button>
            {isFinished(job.status) && (
              <>
                <button
                  className="jp-Button jp-mod-styled jp-mod-reject"
                  data-action="rebuild"
                  aria-label={trans.__(
                    'Rebuild %1 with the same settings',
                    job.image
                  )}
                  title={trans.__(
                    'Start this job again with the same settings'
                  )}
                  onClick={() => props.onRebuild(job)}
                >
                  {job.source ? trans.__('Rebuild') : trans.__('Repeat')}
                </button>
                <button
                  className="jp-Button jp-mod-styled jp-mod-reject"
                  data-action="forget"
                  aria-label={trans.__('Forget job %1', job.id)}
                  title={trans.__(
                    'Remove this job and its log from the history'
                  )}
                  onClick={() => props.onForget(job)}
                >
                  {trans.__('Forget')}
                </button>
              </>
            )}
          </span>
        </li>
      ))}
    </ul>
  );
}
