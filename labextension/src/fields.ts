import { TranslationBundle } from '@jupyterlab/translation';

import { APIError } from './api';

/**
 * The form's label of each field the server may name in a 400 (its `field`, a
 * dotted API path). The one place API paths become what the user reads.
 */
function labels(trans: TranslationBundle): { [field: string]: string } {
  return {
    source: trans.__('Source'),
    'source.path': trans.__('Folder'),
    'source.url': trans.__('Git URL'),
    'source.ref': trans.__('Git ref'),
    'source.subdir': trans.__('Subdirectory'),
    image: trans.__('Image name'),
    run: trans.__('Run'),
    push: trans.__('Push'),
    registry: trans.__('Registry'),
    'registry.server': trans.__('Registry server'),
    'registry.username': trans.__('Username'),
    'registry.password': trans.__('Password'),
    build_args: trans.__('Build args')
  };
}

/** The form's label of an API field path (`build_args.KEY` names the arg). */
export function fieldLabel(field: string, trans: TranslationBundle): string {
  const known = labels(trans)[field];
  if (known) {
    return known;
  }
  if (field.startsWith('build_args.')) {
    return trans.__('Build arg %1', field.slice('build_args.'.length));
  }
  const parent = field.slice(0, field.lastIndexOf('.'));
  return labels(trans)[parent] ?? field;
}

/** An error as the form shows it: the field it is about, and a message. */
export interface IFieldError {
  /** The API field path the server named, if any. */
  field: string | null;
  /** The message, starting with the field's form label. */
  message: string;
}

/**
 * Describe an error of the API for the form: the server says
 * "registry.username: must be ..."; the user reads "Username: must be ...".
 */
export function describeError(
  error: unknown,
  trans: TranslationBundle
): IFieldError {
  const message = error instanceof Error ? error.message : String(error);
  const body = error instanceof APIError ? error.body : null;
  const field =
    body && typeof body === 'object' && 'field' in body
      ? String((body as { field: unknown }).field)
      : null;
  if (!field) {
    return { field: null, message };
  }
  const prefix = `${field}: `;
  const rest = message.startsWith(prefix)
    ? message.slice(prefix.length)
    : message;
  return { field, message: `${fieldLabel(field, trans)}: ${rest}` };
}
