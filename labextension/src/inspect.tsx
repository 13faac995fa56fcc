import { Clipboard, MainAreaWidget, Notification } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IImageInspect, inspectImage } from './api';
import { containerIcon } from './icons';
import { DateTime } from './dates';
import { formatSize } from './images';

/**
 * What the inspect view can ask of the application.
 */
export interface IInspectActions {
  /** Run the image (a build job without a source). */
  run: (ref: string) => void;
  /** Push the image. */
  push: (ref: string) => void;
  /** Open the log of the job that built the image. */
  openJob: (jobId: string) => void;
}

/** A command line (array or string form) as one string. */
function commandLine(value: string[] | string | null): string {
  if (value === null || value === undefined) {
    return '';
  }
  return Array.isArray(value) ? JSON.stringify(value) : String(value);
}

/**
 * The body of an image's inspect tab: provenance, reproduce command, labels,
 * config and layer history.
 */
export class ImageInspectView extends ReactWidget {
  /**
   * Create the view.
   *
   * @param ref - image id or name:tag
   * @param trans - translation bundle
   * @param actions - run, push, open a job
   */
  constructor(
    readonly ref: string,
    private _trans: TranslationBundle,
    private _actions: IInspectActions
  ) {
    super();
    this.addClass('jp-r2d-InspectView');
    this.node.dataset.ref = ref;
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', _trans.__('Inspect %1', ref));
  }

  /** The loaded data, if any. */
  get data(): IImageInspect | null {
    return this._data;
  }

  /** Fetch the image again. */
  async refresh(): Promise<void> {
    this._loading = true;
    this.update();
    try {
      this._data = await inspectImage(this.ref);
      this._error = null;
    } catch (error) {
      this._data = null;
      this._error = (error as Error).message;
    } finally {
      this._loading = false;
      this.update();
    }
  }

  protected onAfterAttach(msg: any): void {
    super.onAfterAttach(msg);
    if (!this._data && !this._loading) {
      void this.refresh();
    }
  }

  protected render(): JSX.Element {
    const trans = this._trans;
    const data = this._data;
    if (!data) {
      return (
        <div className="jp-r2d-inspect">
          {this._error ? (
            <div className="jp-r2d-banner jp-r2d-mod-error" role="alert">
              <strong>{trans.__('Cannot inspect %1', this.ref)}</strong>
              <p className="jp-r2d-error-text">{this._error}</p>
              <button
                className="jp-Button jp-mod-styled jp-mod-reject"
                onClick={() => void this.refresh()}
              >
                {trans.__('Retry')}
              </button>
            </div>
          ) : (
            <p>{trans.__('Loading %1…', this.ref)}</p>
          )}
        </div>
      );
    }
    const config = data.config;
    const tagged = data.tags.length > 0;
    const runRef = tagged ? data.tags[0] : data.id;
    const layersTotal = data.history.reduce((sum, l) => sum + l.size, 0);
    return (
      <div className="jp-r2d-inspect">
        <header className="jp-r2d-inspect-header">
          <h1>{data.tags[0] ?? data.id.slice(0, 19)}</h1>
          <div className="jp-r2d-inspect-actions">
            <button
              className="jp-Button jp-mod-styled jp-mod-accept"
              data-action="run"
              aria-label={trans.__('Run %1', runRef)}
              disabled={!tagged}
              onClick={() => this._actions.run(runRef)}
            >
              {trans.__('Run')}
            </button>
            <button
              className="jp-Button jp-mod-styled jp-mod-reject"
              data-action="push"
              aria-label={trans.__('Push %1', runRef)}
              disabled={!tagged}
              onClick={() => this._actions.push(runRef)}
            >
              {trans.__('Push')}
            </button>
            <button
              className="jp-Button jp-mod-styled jp-mod-reject"
              data-action="refresh"
              aria-label={trans.__('Refresh the inspect view')}
              disabled={this._loading}
              onClick={() => void this.refresh()}
            >
              {trans.__('Refresh')}
            </button>
          </div>
        </header>
        <dl className="jp-r2d-facts">
          <dt>{trans.__('Id')}</dt>
          <dd>
            <code>{data.id}</code>
          </dd>
          <dt>{trans.__('Tags')}</dt>
          <dd>{data.tags.join(', ') || trans.__('none (dangling)')}</dd>
          {data.digests.length > 0 && (
            <>
              <dt>{trans.__('Digests')}</dt>
              <dd>
                {data.digests.map(d => (
                  <code key={d} className="jp-r2d-block">
                    {d}
                  </code>
                ))}
              </dd>
            </>
          )}
          <dt>{trans.__('Created')}</dt>
          <dd>
            <DateTime iso={data.created} />
          </dd>
          <dt>{trans.__('Size')}</dt>
          <dd>{data.size !== null ? formatSize(data.size) : ''}</dd>
          {data.architecture && (
            <>
              <dt>{trans.__('Platform')}</dt>
              <dd>{`${data.os}/${data.architecture}`}</dd>
            </>
          )}
        </dl>

        {data.r2d && (
          <section
            className="jp-r2d-inspect-section jp-r2d-provenance"
            aria-label={trans.__('Built by jupyter_r2d')}
          >
            <h2>{trans.__('Built from')}</h2>
            <dl className="jp-r2d-facts">
              <dt>{trans.__('Source')}</dt>
              <dd data-field="source">{data.r2d.source ?? ''}</dd>
              {data.r2d.ref && data.r2d.ref !== data.r2d.commit && (
                <>
                  <dt>{trans.__('Ref')}</dt>
                  <dd data-field="ref">{data.r2d.ref}</dd>
                </>
              )}
              <dt>{trans.__('Commit')}</dt>
              <dd data-field="commit">
                <code>{data.r2d.commit ?? trans.__('not a git tree')}</code>
                {data.r2d.dirty && (
                  <span
                    className="jp-r2d-marker jp-r2d-mod-dirty"
                    title={trans.__(
                      'The tree had uncommitted changes: the commit alone does not reproduce this image.'
                    )}
                  >
                    {trans.__('dirty')}
                  </span>
                )}
              </dd>
              {data.r2d.subdir && (
                <>
                  <dt>{trans.__('Subdirectory')}</dt>
                  <dd data-field="subdir">{data.r2d.subdir}</dd>
                </>
              )}
              {data.r2d.buildpack && (
                <>
                  <dt>{trans.__('Buildpack')}</dt>
                  <dd data-field="buildpack">{data.r2d.buildpack}</dd>
                </>
              )}
              {data.r2d.repo2docker_version && (
                <>
                  <dt>{trans.__('repo2docker')}</dt>
                  <dd>{data.r2d.repo2docker_version}</dd>
                </>
              )}
              {data.r2d.job && (
                <>
                  <dt>{trans.__('Build job')}</dt>
                  <dd>
                    <button
                      className="jp-r2d-link"
                      aria-label={trans.__(
                        'Open the log of job %1',
                        data.r2d.job
                      )}
                      onClick={() => this._actions.openJob(data.r2d!.job!)}
                    >
                      {data.r2d.job}
                    </button>
                  </dd>
                </>
              )}
            </dl>
            {data.reproduce && (
              <div className="jp-r2d-reproduce">
                <h3>{trans.__('Reproduce this build')}</h3>
                <pre className="jp-r2d-code" data-field="reproduce">
                  {data.reproduce}
                </pre>
                <button
                  className="jp-Button jp-mod-styled jp-mod-reject"
                  data-action="copy-reproduce"
                  aria-label={trans.__('Copy the reproduce command')}
                  onClick={() => {
                    Clipboard.copyToSystem(data.reproduce ?? '');
                    Notification.info(trans.__('Command copied'), {
                      autoClose: 2000
                    });
                  }}
                >
                  {trans.__('Copy')}
                </button>
              </div>
            )}
          </section>
        )}

        <section
          className="jp-r2d-inspect-section"
          aria-label={trans.__('Configuration')}
        >
          <h2>{trans.__('Configuration')}</h2>
          <dl className="jp-r2d-facts jp-r2d-config">
            <dt>{trans.__('Command')}</dt>
            <dd>
              <code>{commandLine(config.cmd) || trans.__('none')}</code>
            </dd>
            <dt>{trans.__('Entrypoint')}</dt>
            <dd>
              <code>{commandLine(config.entrypoint) || trans.__('none')}</code>
            </dd>
            <dt>{trans.__('Working directory')}</dt>
            <dd>
              <code>{config.workdir || '/'}</code>
            </dd>
            <dt>{trans.__('User')}</dt>
            <dd>
              <code>{config.user || trans.__('root (default)')}</code>
            </dd>
            <dt>{trans.__('Exposed ports')}</dt>
            <dd data-field="ports">
              {config.exposed_ports.join(', ') || trans.__('none')}
            </dd>
          </dl>
          <h3>{trans.__('Environment')}</h3>
          <table className="jp-r2d-table jp-r2d-env">
            <tbody>
              {config.env.map(entry => {
                const eq = entry.indexOf('=');
                return (
                  <tr key={entry}>
                    <th scope="row">{eq < 0 ? entry : entry.slice(0, eq)}</th>
                    <td>
                      <code>{eq < 0 ? '' : entry.slice(eq + 1)}</code>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </section>

        <section
          className="jp-r2d-inspect-section"
          aria-label={trans.__('Labels')}
        >
          <h2>{trans.__('Labels')}</h2>
          {Object.keys(data.labels).length === 0 ? (
            <p className="jp-r2d-empty">{trans.__('No labels.')}</p>
          ) : (
            <table className="jp-r2d-table jp-r2d-labels">
              <tbody>
                {Object.entries(data.labels)
                  .sort(([a], [b]) => a.localeCompare(b))
                  .map(([key, value]) => (
                    <tr key={key} data-label={key}>
                      <th scope="row">{key}</th>
                      <td>
                        <code>{value}</code>
                      </td>
                    </tr>
                  ))}
              </tbody>
            </table>
          )}
        </section>

        <section
          className="jp-r2d-inspect-section"
          aria-label={trans.__('Layer history')}
        >
          <h2>
            {trans.__(
              'History: %1 layers, %2',
              data.history.length,
              formatSize(layersTotal)
            )}
          </h2>
          <table className="jp-r2d-table jp-r2d-history">
            <thead>
              <tr>
                <th scope="col">{trans.__('Size')}</th>
                <th scope="col">{trans.__('Created by')}</th>
                <th scope="col">{trans.__('Created')}</th>
              </tr>
            </thead>
            <tbody>
              {data.history.map((layer, i) => (
                <tr key={i}>
                  <td className="jp-r2d-num">{formatSize(layer.size)}</td>
                  <td>
                    <code>{layer.created_by}</code>
                  </td>
                  <td>
                    <DateTime iso={layer.created} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      </div>
    );
  }

  private _data: IImageInspect | null = null;
  private _error: string | null = null;
  private _loading = false;
}

/** The DOM id of an image's inspect tab (one tab per reference). */
export function inspectWidgetId(ref: string): string {
  const safe = ref.replace(
    /[^a-zA-Z0-9-]/g,
    c => `_${c.charCodeAt(0).toString(16)}`
  );
  return `jupyter-r2d-inspect-${safe}`;
}

/**
 * A main-area tab with an image's inspect view.
 */
export class ImageInspectWidget extends MainAreaWidget<ImageInspectView> {
  /**
   * Create the tab.
   *
   * @param ref - image id or name:tag
   * @param trans - translation bundle
   * @param actions - run, push, open a job
   */
  constructor(ref: string, trans: TranslationBundle, actions: IInspectActions) {
    super({ content: new ImageInspectView(ref, trans, actions) });
    this.id = inspectWidgetId(ref);
    this.title.icon = containerIcon;
    this.title.label = trans.__('Image: %1', ref);
    this.title.caption = trans.__('Inspect image %1', ref);
    this.title.closable = true;
    this.addClass('jp-r2d-InspectWidget');
  }
}
