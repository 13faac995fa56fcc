import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { APIError, IEngineStatus } from './api';

const INSTALL_COMMANDS = [
  'pip install jupyter_r2d',
  'jupyter server extension enable jupyter_r2d'
].join('\n');

/**
 * Props of the engine status view.
 */
export interface IEngineStatusProps {
  /** The engine status, or null while loading / on error. */
  engine: IEngineStatus | null;
  /** The error of the last engine request, if any. */
  error: APIError | null;
  /** Whether a request is running. */
  loading: boolean;
  /** Ask for the status again. */
  onRetry: () => void;
  /** Translation bundle. */
  trans: TranslationBundle;
}

/**
 * The engine status block at the top of the Images panel.
 *
 * Shows the engine name, version, builder and driver; a banner with the
 * engine's error and a Retry button when Docker is unreachable; an install
 * hint when the server extension is missing.
 */
export function EngineStatus(props: IEngineStatusProps): JSX.Element {
  const { engine, error, loading, onRetry, trans } = props;
  const retry = (
    <button
      className="jp-Button jp-mod-styled jp-mod-reject jp-r2d-retry"
      onClick={onRetry}
      disabled={loading}
      aria-label={trans.__('Retry connecting to the container engine')}
    >
      {trans.__('Retry')}
    </button>
  );
  if (error) {
    if (error.notInstalled) {
      return (
        <div className="jp-r2d-banner jp-r2d-mod-warning" role="alert">
          <strong>
            {trans.__(
              'The jupyter_r2d server extension is not installed or not enabled.'
            )}
          </strong>
          <p>
            {trans.__(
              'Install it in the environment that runs Jupyter, then restart the server:'
            )}
          </p>
          <pre className="jp-r2d-code">{INSTALL_COMMANDS}</pre>
          {retry}
        </div>
      );
    }
    return (
      <div className="jp-r2d-banner jp-r2d-mod-error" role="alert">
        <strong>{trans.__('Cannot reach the jupyter_r2d server.')}</strong>
        <p className="jp-r2d-error-text">{error.message}</p>
        {retry}
      </div>
    );
  }
  if (!engine) {
    return (
      <div className="jp-r2d-engine jp-r2d-mod-loading">
        {trans.__('Checking the container engine…')}
      </div>
    );
  }
  if (!engine.available) {
    return (
      <div
        className="jp-r2d-banner jp-r2d-mod-error jp-r2d-engine-unavailable"
        role="alert"
      >
        <strong>{trans.__('Docker is unreachable.')}</strong>
        {engine.error && <p className="jp-r2d-error-text">{engine.error}</p>}
        <p>
          {trans.__(
            'Start the Docker engine (or check DOCKER_HOST), then retry.'
          )}
        </p>
        {retry}
      </div>
    );
  }
  const rows: [string, string | null][] = [
    [trans.__('Engine'), engine.name],
    [trans.__('Version'), engine.version],
    [trans.__('Builder'), engine.builder],
    [trans.__('Driver'), engine.driver]
  ];
  return (
    <div
      className="jp-r2d-engine jp-r2d-engine-available"
      aria-label={trans.__('Container engine status')}
    >
      <span
        className="jp-r2d-dot jp-r2d-mod-ok"
        title={trans.__('Engine available')}
      />
      <dl className="jp-r2d-engine-facts">
        {rows
          .filter(([, value]) => !!value)
          .map(([label, value]) => (
            <React.Fragment key={label}>
              <dt>{label}</dt>
              <dd data-field={label}>{value}</dd>
            </React.Fragment>
          ))}
      </dl>
    </div>
  );
}
