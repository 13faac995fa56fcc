import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { IInlineRegistry } from './api';

/** One field of a registry login typed for a single job. */
export type RegistryLoginField = 'server' | 'username' | 'password';

/** Props of {@link RegistryLogin}. */
export interface IRegistryLoginProps {
  trans: TranslationBundle;
  server: string;
  username: string;
  password: string;
  onChange: (field: RegistryLoginField, value: string) => void;
}

/**
 * Server, user name and password of a registry login for one job: used by the build
 * form and the push dialog. The login is optional (an open registry needs none);
 * the password field asks the browser not to save it.
 */
export function RegistryLogin(props: IRegistryLoginProps): JSX.Element {
  const { trans, onChange } = props;
  return (
    <div className="jp-r2d-inline-registry">
      <label className="jp-r2d-field">
        {trans.__('Registry server')}
        <input
          className="jp-mod-styled"
          type="text"
          name="server"
          placeholder={trans.__('host[:port]')}
          value={props.server}
          onChange={e => onChange('server', e.target.value)}
        />
      </label>
      <label className="jp-r2d-field">
        {trans.__('Username')}
        <input
          className="jp-mod-styled"
          type="text"
          name="username"
          autoComplete="off"
          placeholder={trans.__('optional: none for an open registry')}
          value={props.username}
          onChange={e => onChange('username', e.target.value)}
        />
      </label>
      <label className="jp-r2d-field">
        {trans.__('Password')}
        <input
          className="jp-mod-styled"
          type="password"
          name="password"
          autoComplete="new-password"
          placeholder={trans.__('password or token (not stored)')}
          value={props.password}
          onChange={e => onChange('password', e.target.value)}
        />
      </label>
    </div>
  );
}

/**
 * The inline registry of a request: the server, and the login only when one
 * was typed (an open registry takes none).
 */
export function inlineRegistry(
  server: string,
  username: string,
  password: string
): IInlineRegistry {
  const registry: IInlineRegistry = { server: server.trim() };
  if (username.trim() || password) {
    registry.username = username.trim();
    registry.password = password;
  }
  return registry;
}
