import { Contents } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';
import { ISignal } from '@lumino/signaling';
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
import { describeError, IFieldError } from './fields';
import { inlineRegistry, RegistryLogin } from './registryLogin';

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

/** The last component of a path, as Python's `PurePath.name`. */
function lastComponent(path: string): string {
  return (
    path
      .split('/')
      .filter(part => part && part !== '.')
      .pop() ?? ''
  );
}

/**
 * The default image name of a source: `name:tag`, the folder or repository
 * name (and subdir) as the repository, the git ref as the tag (a full commit
 * id shortened to 7), else `latest`.
 *
 * The server's rule (`SourceSpec.default_image_name`), mirrored so the form
 * shows the name before asking; both are tested on tests/image_names.json.
 */
export function deriveImageName(source: ISource): string {
  let base: string;
  if ('url' in source) {
    // Without user:password@ (never in a name), as the server's public URL.
    const url = source.url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1');
    base = (url.replace(/\/+$/, '').split('/').pop() ?? '').split(':').pop()!;
    base = base.replace(/\.git$/, '');
  } else {
    base = lastComponent(source.path);
  }
  if ('subdir' in source && source.subdir) {
    const sub = lastComponent(source.subdir);
    base = base ? `${base}-${sub}` : sub;
  }
  const name =
    base
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 128)
      .replace(/-+$/, '') || 'root';
  let tag = 'latest';
  const ref = 'url' in source ? source.ref : undefined;
  if (ref) {
    const short = /^[0-9a-fA-F]{40}$/.test(ref)
      ? ref.toLowerCase().slice(0, 7)
      : ref;
    tag =
      short
        .replace(/[^A-Za-z0-9_.-]+/g, '-')
        .replace(/^[.-]+/, '')
        .slice(0, 128) || 'latest';
  }
  return `${name}:${tag}`;
}

/**
 * Props of the build form.
 */
export interface IBuildFormProps {
  /** The folder open in the file browser (relative to the server root). */
  folder: string;
  /**
   * Each new value selects the folder source ("Build Image from This
   * Folder"), whatever the form showed before.
   */
  selectFolder?: number;
  /** Files saved, renamed or deleted through JupyterLab (refreshes the preview). */
  filesChanged?: ISignal<unknown, Contents.IChangedArgs>;
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

/** Whether `path` (server-relative) is `folder` or inside it. */
function isInside(path: string | null | undefined, folder: string): boolean {
  if (typeof path !== 'string') {
    return false;
  }
  const clean = path.replace(/^[^:/]*:/, '').replace(/^\/+/, '');
  return !folder || clean === folder || clean.startsWith(folder + '/');
}

/**
 * The build form: what to build, the image name, and run/push intents.
 */
export function BuildForm(props: IBuildFormProps): JSX.Element {
  const { trans } = props;
  const [kind, setKind] = React.useState<'folder' | 'git'>('folder');
  const [gitUrl, setGitUrl] = React.useState('');
  const [gitRef, setGitRef] = React.useState('');
  const [subdir, setSubdir] = React.useState('');
  // Names the user typed, each for the source it was typed for: another
  // source shows its own (derived) name, never the last one typed.
  const [typed, setTyped] = React.useState<{ [source: string]: string }>({});
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
  const [error, setError] = React.useState<IFieldError | null>(null);

  const [preview, setPreview] = React.useState<{
    key: string;
    result: IPreview;
  } | null>(null);
  const [previewBusy, setPreviewBusy] = React.useState(false);

  React.useEffect(() => {
    if (props.selectFolder) {
      setKind('folder');
    }
  }, [props.selectFolder]);

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

  /** Forget an error about a field that changed or went away. */
  const clearError = (prefix: string) =>
    setError(e => (e?.field?.startsWith(prefix) ? null : e));

  const runPreview = async (quiet = false) => {
    const key = sourceKey;
    if (!quiet) {
      setPreviewBusy(true);
      setError(null);
    }
    try {
      const result = await previewSource(source);
      // A refresh does not bring back a preview closed meanwhile.
      setPreview(p => (!quiet || p?.key === key ? { key, result } : p));
    } catch (err) {
      setPreview(null);
      const { field, message } = describeError(err, trans);
      setError({ field, message: trans.__('Preview failed: %1', message) });
    } finally {
      if (!quiet) {
        setPreviewBusy(false);
      }
    }
  };

  // The preview of a folder follows its files: refresh it when JupyterLab
  // changed one inside it, or when the form gets the focus back (edited in a
  // terminal, say). A git source is what its remote has: not refreshed.
  const refresh = React.useRef<(change?: Contents.IChangedArgs) => void>(
    () => undefined
  );
  refresh.current = (change?: Contents.IChangedArgs) => {
    const touched =
      !change ||
      isInside(change.newValue?.path, props.folder) ||
      isInside(change.oldValue?.path, props.folder);
    if (shownPreview && kind === 'folder' && !previewBusy && touched) {
      void runPreview(true);
    }
  };
  React.useEffect(() => {
    const signal = props.filesChanged;
    if (!signal) {
      return;
    }
    const onChange = (_: unknown, change: Contents.IChangedArgs) =>
      refresh.current(change);
    signal.connect(onChange);
    return () => {
      signal.disconnect(onChange);
    };
  }, [props.filesChanged]);

  const suggested = deriveImageName(source);
  const imageValue = typed[sourceKey] ?? suggested;
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
        onChange={e => {
          clearError('registry');
          setRegistry(e.target.value);
        }}
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
          onChange={(field, value) => {
            clearError('registry');
            ({
              server: setServer,
              username: setUsername,
              password: setPassword
            })[field](value);
          }}
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
    // An emptied name: the server derives it (by the same rule).
    if (imageValue.trim()) {
      body.image = imageValue.trim();
    }
    if (push || pullLogin) {
      body.registry =
        chosenRegistry === INLINE
          ? inlineRegistry(server, username, password)
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
      setError(describeError(err, trans));
    } finally {
      // Typed once, never stored: clear the password whatever happened.
      setPassword('');
      setBusy(false);
    }
  };

  /** Choose the source kind; its fields' errors go with the old one. */
  const chooseKind = (value: 'folder' | 'git') => {
    clearError('source');
    setKind(value);
  };

  return (
    <form
      className="jp-r2d-buildform"
      onSubmit={submit}
      aria-label={trans.__('Build an image')}
      onFocus={e => {
        const from = e.relatedTarget as Node | null;
        const to = e.target as HTMLElement;
        if (
          !(from && e.currentTarget.contains(from)) &&
          !to.closest('.jp-r2d-preview-button')
        ) {
          refresh.current();
        }
      }}
    >
      <fieldset className="jp-r2d-source">
        <legend>{trans.__('Source')}</legend>
        <label>
          <input
            type="radio"
            name="r2d-source"
            value="folder"
            checked={kind === 'folder'}
            onChange={() => chooseKind('folder')}
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
            value="git"
            checked={kind === 'git'}
            onChange={() => chooseKind('git')}
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
              onChange={e => {
                clearError('source');
                setGitUrl(e.target.value);
              }}
            />
            <input
              className="jp-mod-styled"
              type="text"
              placeholder={trans.__('ref (branch, tag or commit)')}
              aria-label={trans.__('Git ref')}
              value={gitRef}
              onChange={e => {
                clearError('source');
                setGitRef(e.target.value);
              }}
            />
            <input
              className="jp-mod-styled"
              type="text"
              placeholder={trans.__('subdirectory')}
              aria-label={trans.__('Subdirectory')}
              value={subdir}
              onChange={e => {
                clearError('source');
                setSubdir(e.target.value);
              }}
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
          placeholder={suggested}
          value={imageValue}
          onChange={e => {
            clearError('image');
            const value = e.target.value;
            setTyped(t => ({ ...t, [sourceKey]: value }));
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
            onChange={e => {
              clearError('registry');
              setPush(e.target.checked);
            }}
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
              onChange={e => {
                clearError('registry');
                setPullLogin(e.target.checked);
              }}
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
            onChange={e => {
              clearError('build_args');
              setArgs(e.target.value);
            }}
          />
        </label>
      </details>
      {error && (
        <div
          className="jp-r2d-field-error"
          role="alert"
          data-field={error.field ?? undefined}
        >
          {error.message}
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
