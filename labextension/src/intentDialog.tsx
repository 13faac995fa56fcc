import { Dialog, showDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IInlineRegistry, IRegistry } from './api';
import { inlineRegistry, RegistryLogin } from './registryLogin';

/** The select value for registry credentials typed once. */
export const INLINE_REGISTRY = '__inline__';

/** The registry host of an image reference, or null (Docker Hub). */
export function registryOf(image: string): string | null {
  const slash = image.indexOf('/');
  if (slash < 0) {
    return null;
  }
  const first = image.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost'
    ? first
    : null;
}

/**
 * What the intent dialog asks for.
 */
export interface IIntentOptions {
  /** Registries configured on the server. */
  registries: IRegistry[];
  /** Whether a registry must be chosen (a push). */
  askRegistry: boolean;
  /** Preferred registry name (e.g. the default from the settings). */
  registry?: string;
  /** Prefilled server of inline credentials. */
  server?: string;
  /** Prefilled user name of inline credentials. */
  username?: string;
  /** The image that is pushed, to show the name it is pushed as. */
  image?: string;
  /** Names of build args whose values must be typed again. */
  buildArgs?: string[];
  /** An explanation shown first. */
  message?: string;
}

/**
 * The answer of the intent dialog.
 */
export interface IIntentValue {
  /** A configured registry by name, or credentials typed once. */
  registry?: string | IInlineRegistry;
  /** Build arg values. */
  buildArgs: { [key: string]: string };
}

/**
 * Dialog body: a registry choice (configured, or typed once with a password
 * that lives only until the dialog closes) and build-arg values.
 */
export class IntentForm
  extends ReactWidget
  implements Dialog.IBodyWidget<IIntentValue>
{
  /**
   * Create the form.
   *
   * @param options - what to ask for
   * @param trans - translation bundle
   */
  constructor(
    private _options: IIntentOptions,
    private _trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-r2d-IntentForm');
    const host = _options.image ? registryOf(_options.image) : null;
    const names = _options.registries.map(r => r.name);
    if (_options.server !== undefined) {
      this._registry = INLINE_REGISTRY; // a rebuild of a typed-once login
    } else if (host) {
      // The image names its registry: use the configured one for that host.
      this._registry =
        _options.registries.find(r => r.server === host)?.name ??
        INLINE_REGISTRY;
    } else if (_options.registry && names.includes(_options.registry)) {
      this._registry = _options.registry;
    } else {
      this._registry = names[0] ?? INLINE_REGISTRY;
    }
    this._server = _options.server ?? host ?? '';
    this._username = _options.username ?? '';
    for (const name of _options.buildArgs ?? []) {
      this._args[name] = '';
    }
  }

  /** The values typed, read once when the dialog is accepted. */
  getValue(): IIntentValue {
    const value: IIntentValue = { buildArgs: { ...this._args } };
    if (this._options.askRegistry) {
      value.registry =
        this._registry === INLINE_REGISTRY
          ? inlineRegistry(this._server, this._username, this._password)
          : this._registry;
    }
    return value;
  }

  dispose(): void {
    this._password = ''; // typed once, never kept
    super.dispose();
  }

  protected render(): JSX.Element {
    const trans = this._trans;
    const options = this._options;
    const set = (apply: () => void) => {
      apply();
      this.update();
    };
    const server =
      this._registry === INLINE_REGISTRY
        ? this._server
        : (options.registries.find(r => r.name === this._registry)?.server ??
          '');
    const image = options.image ?? '';
    const target =
      image && server && !registryOf(image) ? `${server}/${image}` : image;
    return (
      <div className="jp-r2d-intent">
        {options.message && <p>{options.message}</p>}
        {options.askRegistry && (
          <fieldset className="jp-r2d-registry">
            <legend>{trans.__('Registry')}</legend>
            <select
              className="jp-mod-styled"
              aria-label={trans.__('Registry')}
              value={this._registry}
              onChange={e => set(() => (this._registry = e.target.value))}
            >
              {options.registries.map(r => (
                <option key={r.name} value={r.name}>
                  {r.name} ({r.server})
                </option>
              ))}
              <option value={INLINE_REGISTRY}>
                {trans.__('Other (log in once)…')}
              </option>
            </select>
            {this._registry === INLINE_REGISTRY && (
              <RegistryLogin
                trans={trans}
                server={this._server}
                username={this._username}
                password={this._password}
                onChange={(field, value) =>
                  set(() => {
                    if (field === 'server') {
                      this._server = value;
                    } else if (field === 'username') {
                      this._username = value;
                    } else {
                      this._password = value;
                    }
                  })
                }
              />
            )}
            {target && (
              <p className="jp-r2d-hint">{trans.__('Pushed as %1', target)}</p>
            )}
          </fieldset>
        )}
        {Object.keys(this._args).length > 0 && (
          <fieldset className="jp-r2d-buildargs">
            <legend>{trans.__('Build args')}</legend>
            <p className="jp-r2d-hint">
              {trans.__(
                'Build arg values are not kept with the job; type them again.'
              )}
            </p>
            {Object.keys(this._args).map(name => (
              <label className="jp-r2d-field" key={name}>
                {name}
                <input
                  className="jp-mod-styled"
                  type="text"
                  aria-label={trans.__('Value of build arg %1', name)}
                  value={this._args[name]}
                  onChange={e => set(() => (this._args[name] = e.target.value))}
                />
              </label>
            ))}
          </fieldset>
        )}
      </div>
    );
  }

  private _registry: string;
  private _server: string;
  private _username: string;
  private _password = '';
  private _args: { [key: string]: string } = {};
}

/**
 * Ask for a job's registry and build-arg values.
 *
 * @returns the values, or null when the user cancelled
 */
export async function askIntent(
  title: string,
  acceptLabel: string,
  options: IIntentOptions,
  trans: TranslationBundle
): Promise<IIntentValue | null> {
  const body = new IntentForm(options, trans);
  const result = await showDialog<IIntentValue>({
    title,
    body,
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.okButton({ label: acceptLabel })
    ],
    focusNodeSelector: 'select, input'
  });
  const value = result.button.accept ? result.value : null;
  body.dispose();
  return value;
}
