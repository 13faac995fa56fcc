import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import {
  IBuildRequest,
  IJob,
  IPreview,
  IRegistry,
  ISource,
  previewSource,
  startBuild
} from './api';
import { RegistryLogin } from './registryLogin';

/** The distribution reference grammar, simplified (lower-case path, tag). */
const IMAGE_RE =
  /^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?$/;

/**
 * Check an image reference as the user types it.
 *
 * @returns an error message, or null when valid (empty is valid: derived)
 */
export function validateImage(
  value: string,
  trans: TranslationBundle
): string | null {
  if (value.trim() === '') {
    return null;
  }
  if (!IMAGE_RE.test(value.trim())) {
    return trans.__(
      'Not a valid image name: use lower-case letters, digits, ".", "_", "-", "/" and an optional ":tag".'
    );
  }
  return null;
}

/** Derive an image name from a folder path or git URL. */
export function deriveImageName(source: string): string {
  const last =
    source
      .replace(/\.git$/, '')
      .split(/[/:]/)
      .filter(Boolean)
      .pop() ?? 'image';
  const name = last.toLowerCase().replace(/[^a-z0-9._-]+/g, '-');
  return (name.replace(/^[._-]+|[._-]+$/g, '') || 'image') + ':latest';
}

/**
 * Props of the build form.
 */
export interface IBuildFormProps {
  /** The folder open in the file browser (relative to the server root). */
  folder: string;
  /** Registries configured on the server. */
  registries: IRegistry[];
  /** Default for the Run tick. */
  defaultRun: boolean;
  /** Default for the Push tick. */
  defaultPush: boolean;
  /** Default registry name. */
  defaultRegistry: string;
  /** Whether the engine can build. */
  disabled: boolean;
  /** Called with the new job. */
  onStarted: (job: IJob) => void;
  /** Translation bundle. */
  trans: TranslationBundle;
}

const INLINE = '__inline__';

/**
 * The build form: what to build, the image name, and run/push intents.
 */
export function BuildForm(props: IBuildFormProps): JSX.Element {
  const { trans } = props;
  const [kind, setKind] = React.useState<'folder' | 'git'>('folder');
  const [gitUrl, setGitUrl] = React.useState('');
  const [gitRef, setGitRef] = React.useState('');
  const [subdir, setSubdir] = React.useState('');
  const [image, setImage] = React.useState('');
  const [imageEdited, setImageEdited] = React.useState(false);
  const [run, setRun] = React.useState(props.defaultRun);
  const [push, setPush] = React.useState(props.defaultPush);
  const [registry, setRegistry] = React.useState(props.defaultRegistry);
  // Without a push, a registry login only serves the build's pulls.
  const [pullLogin, setPullLogin] = React.useState(false);
  const [server, setServer] = React.useState('');
  const [username, setUsername] = React.useState('');
  const [password, setPassword] = React.useState('');
  const [args, setArgs] = React.useState('');
  const [busy, setBusy] = React.useState(false);
  const [error, setError] = React.useState<string | null>(null);

  const [preview, setPreview] = React.useState<{
    key: string;
    result: IPreview;
  } | null>(null);
  const [previewBusy, setPreviewBusy] = React.useState(false);

  const sourceLabel = kind === 'folder' ? props.folder || '/' : gitUrl;
  const source: ISource =
    kind === 'folder'
      ? { path: props.folder }
      : {
          url: gitUrl,
          ...(gitRef ? { ref: gitRef } : {}),
          ...(subdir ? { subdir } : {})
        };
  const sourceKey = JSON.stringify(source);
  const shownPreview =
    preview && preview.key === sourceKey ? preview.result : null;

  const runPreview = async () => {
    setPreviewBusy(true);
    setError(null);
    try {
      const result = await previewSource(source);
      setPreview({ key: sourceKey, result });
    } catch (err) {
      setPreview(null);
      setError(trans.__('Preview failed: %1', (err as Error).message));
    } finally {
      setPreviewBusy(false);
    }
  };
  const suggested = deriveImageName(
    kind === 'folder' ? props.folder || 'root' : gitUrl || 'image'
  );
  const imageValue = imageEdited ? image : suggested;
  const imageError = validateImage(imageValue, trans);
  const chosenRegistry =
    registry || (props.registries[0] ? props.registries[0].name : INLINE);

  const registryFields = (
    <fieldset className="jp-r2d-registry">
      <legend>
        {push ? trans.__('Registry') : trans.__('Registry login for pulls')}
      </legend>
      <select
        className="jp-mod-styled"
        aria-label={trans.__('Registry')}
        value={chosenRegistry}
        onChange={e => setRegistry(e.target.value)}
      >
        {props.registries.map(r => (
          <option key={r.name} value={r.name}>
            {r.name} ({r.server})
          </option>
        ))}
        <option value={INLINE}>{trans.__('Other (log in once)…')}</option>
      </select>
      {chosenRegistry === INLINE && (
        <RegistryLogin
          trans={trans}
          server={server}
          username={username}
          password={password}
          onChange={(field, value) =>
            ({
              server: setServer,
              username: setUsername,
              password: setPassword
            })[field](value)
          }
        />
      )}
    </fieldset>
  );

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    if (imageError) {
      return;
    }
    const body: IBuildRequest = { source, run, push };
    if (imageValue.trim()) {
      body.image = imageValue.trim();
    }
    if (push || pullLogin) {
      body.registry =
        chosenRegistry === INLINE
          ? { server, username, password }
          : chosenRegistry;
    }
    const buildArgs: { [key: string]: string } = {};
    for (const line of args.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) {
        buildArgs[line.slice(0, eq).trim()] = line.slice(eq + 1);
      }
    }
    if (Object.keys(buildArgs).length > 0) {
      body.build_args = buildArgs;
    }
    setBusy(true);
    setError(null);
    try {
      const job = await startBuild(body);
      props.onStarted(job);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      // Typed once, never stored: clear the password whatever happened.
      setPassword('');
      setBusy(false);
    }
  };

  return (
    <form
      className="jp-r2d-buildform"
      onSubmit={submit}
      aria-label={trans.__('Build an image')}
    >
      <fieldset className="jp-r2d-source">
        <legend>{trans.__('Source')}</legend>
        <label>
          <input
            type="radio"
            name="r2d-source"
            checked={kind === 'folder'}
            onChange={() => setKind('folder')}
          />
          {trans.__('Folder open in the file browser')}
        </label>
        {kind === 'folder' && (
          <code className="jp-r2d-folder" data-folder={props.folder}>
            {'/' + props.folder}
          </code>
        )}
        <label>
          <input
            type="radio"
            name="r2d-source"
            checked={kind === 'git'}
            onChange={() => setKind('git')}
          />
          {trans.__('Git repository')}
        </label>
        {kind === 'git' && (
          <div className="jp-r2d-git">
            <input
              className="jp-mod-styled"
              type="text"
              placeholder={trans.__('https://github.com/owner/repo')}
              aria-label={trans.__('Git URL')}
              value={gitUrl}
              onChange={e => setGitUrl(e.target.value)}
            />
            <input
              className="jp-mod-styled"
              type="text"
              placeholder={trans.__('ref (branch, tag or commit)')}
              aria-label={trans.__('Git ref')}
              value={gitRef}
              onChange={e => setGitRef(e.target.value)}
            />
            <input
              className="jp-mod-styled"
              type="text"
              placeholder={trans.__('subdirectory')}
              aria-label={trans.__('Subdirectory')}
              value={subdir}
              onChange={e => setSubdir(e.target.value)}
            />
          </div>
        )}
      </fieldset>
      <label className="jp-r2d-field">
        {trans.__('Image name')}
        <input
          className="jp-mod-styled jp-r2d-image-input"
          type="text"
          name="image"
          aria-label={trans.__('Image name')}
          aria-invalid={!!imageError}
          value={imageValue}
          onChange={e => {
            setImageEdited(true);
            setImage(e.target.value);
          }}
        />
      </label>
      {imageError && (
        <div className="jp-r2d-field-error" role="alert">
          {imageError}
        </div>
      )}
      <div className="jp-r2d-intents">
        <label>
          <input
            type="checkbox"
            name="run"
            checked={run}
            onChange={e => setRun(e.target.checked)}
          />
          {trans.__('Run')}
        </label>
        <label>
          <input
            type="checkbox"
            name="push"
            checked={push}
            onChange={e => setPush(e.target.checked)}
          />
          {trans.__('Push')}
        </label>
      </div>
      {push && registryFields}
      <details className="jp-r2d-advanced">
        <summary>{trans.__('Advanced')}</summary>
        {!push && (
          <label>
            <input
              type="checkbox"
              name="pull-login"
              checked={pullLogin}
              onChange={e => setPullLogin(e.target.checked)}
            />
            {trans.__('Private base image: log in to its registry')}
          </label>
        )}
        {!push && pullLogin && registryFields}
        <label className="jp-r2d-field">
          {trans.__('Build args (KEY=value, one a line)')}
          <textarea
            className="jp-mod-styled"
            aria-label={trans.__('Build args')}
            value={args}
            onChange={e => setArgs(e.target.value)}
          />
        </label>
      </details>
      {error && (
        <div className="jp-r2d-field-error" role="alert">
          {error}
        </div>
      )}
      <div className="jp-r2d-form-buttons">
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-reject jp-r2d-preview-button"
          aria-label={trans.__(
            'Preview the buildpack and Dockerfile repo2docker would use'
          )}
          disabled={previewBusy || props.disabled || !sourceLabel}
          onClick={() => void runPreview()}
        >
          {previewBusy ? trans.__('Previewing…') : trans.__('Preview')}
        </button>
        <button
          type="submit"
          className="jp-Button jp-mod-styled jp-mod-accept jp-r2d-build"
          disabled={busy || props.disabled || !!imageError || !sourceLabel}
        >
          {trans.__('Build')}
        </button>
      </div>
      {shownPreview && (
        <section
          className="jp-r2d-preview"
          aria-label={trans.__('Build preview')}
        >
          <div className="jp-r2d-preview-head">
            <span>
              {trans.__('Buildpack:')}{' '}
              <strong data-field="buildpack">{shownPreview.buildpack}</strong>
            </span>
            <button
              type="button"
              className="jp-Button jp-mod-styled jp-mod-reject jp-r2d-small"
              aria-label={trans.__('Close the preview')}
              onClick={() => setPreview(null)}
            >
              {trans.__('Close')}
            </button>
          </div>
          {shownPreview.warnings.length > 0 && (
            <ul className="jp-r2d-warnings" aria-label={trans.__('Warnings')}>
              {shownPreview.warnings.map((w, i) => (
                <li key={i}>{w}</li>
              ))}
            </ul>
          )}
          <pre
            className="jp-r2d-code jp-r2d-dockerfile"
            tabIndex={0}
            aria-label={trans.__('Rendered Dockerfile')}
          >
            {shownPreview.dockerfile}
          </pre>
        </section>
      )}
    </form>
  );
}
