import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

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
 * form and the push dialog. The password field asks the browser not to save it.
 */
export function RegistryLogin(props: IRegistryLoginProps): JSX.Element {
  const { trans, onChange } = props;
  return (
    <div className="jp-r2d-inline-registry">
      <input
        className="jp-mod-styled"
        type="text"
        name="server"
        placeholder={trans.__('registry host[:port]')}
        aria-label={trans.__('Registry server')}
        value={props.server}
        onChange={e => onChange('server', e.target.value)}
      />
      <input
        className="jp-mod-styled"
        type="text"
        name="username"
        autoComplete="off"
        placeholder={trans.__('user name')}
        aria-label={trans.__('Registry user name')}
        value={props.username}
        onChange={e => onChange('username', e.target.value)}
      />
      <input
        className="jp-mod-styled"
        type="password"
        name="password"
        autoComplete="new-password"
        placeholder={trans.__('password or token (not stored)')}
        aria-label={trans.__('Registry password')}
        value={props.password}
        onChange={e => onChange('password', e.target.value)}
      />
    </div>
  );
}
