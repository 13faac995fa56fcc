import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/**
 * The path of the jupyter_r2d REST API below the server's base URL.
 */
export const API_NAMESPACE = 'r2d/api';

/**
 * The state of the container engine, as `GET r2d/api/engine` answers it.
 */
export interface IEngineStatus {
  /** Engine kind, e.g. "buildx" or "docker-api". */
  name: string;
  /** Whether the engine answers. */
  available: boolean;
  /** Engine (daemon) version, when known. */
  version: string | null;
  /** Builder name (buildx), when known. */
  builder: string | null;
  /** Builder driver (buildx), when known. */
  driver: string | null;
  /** The engine's error message when it is not available. */
  error: string | null;
  /** Further fields the server may add. */
  [key: string]: unknown;
}

/**
 * An error answered by the jupyter_r2d API (or the network).
 */
export class APIError extends Error {
  /**
   * Create an API error.
   *
   * @param message - human readable message (the server's `message` when given)
   * @param status - HTTP status, 0 for a network error
   * @param body - the parsed error body, if any
   */
  constructor(
    message: string,
    readonly status: number,
    readonly body: unknown = null
  ) {
    super(message);
    this.name = 'APIError';
  }

  /** Whether the server extension is missing (route not found). */
  get notInstalled(): boolean {
    return this.status === 404;
  }
}

/**
 * The full URL of an API endpoint.
 *
 * @param endPoint - path below `r2d/api/`
 * @param settings - server connection settings
 */
export function apiURL(
  endPoint: string,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): string {
  return URLExt.join(settings.baseUrl, API_NAMESPACE, endPoint);
}

/**
 * Call the jupyter_r2d REST API.
 *
 * Authentication and XSRF come from JupyterLab's server connection settings.
 *
 * @param endPoint - path below `r2d/api/` (may carry a query string)
 * @param init - fetch options
 * @param settings - server connection settings
 * @returns the parsed JSON body, or `null` for an empty answer (204)
 * @throws {APIError} on a network error or a non-2xx answer
 */
export async function requestAPI<T>(
  endPoint = '',
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = apiURL(endPoint, settings);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new APIError(
      error instanceof Error ? error.message : String(error),
      0
    );
  }
  const text = await response.text();
  let data: any = null;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    const message =
      (data && typeof data === 'object' && (data.message || data.reason)) ||
      response.statusText ||
      `HTTP ${response.status}`;
    throw new APIError(String(message), response.status, data);
  }
  return data as T;
}

/**
 * Fetch the engine status.
 */
export function getEngine(): Promise<IEngineStatus> {
  return requestAPI<IEngineStatus>('engine');
}

/** A build source: a folder below the server root, or a git repository. */
export type ISource =
  { path: string } | { url: string; ref?: string; subdir?: string };

/** Inline registry credentials, used by one job only and never stored. */
export interface IInlineRegistry {
  /** Registry host[:port]. */
  server: string;
  /** User name; none for an open registry. */
  username?: string;
  /** Password or token; none for an open registry. */
  password?: string;
}

/** The body of `POST builds`. */
export interface IBuildRequest {
  /** What to build; null pushes/runs an existing image. */
  source: ISource | null;
  /** Image reference; optional with a source. */
  image?: string;
  /** Run the image after the build. */
  run?: boolean;
  /** Push the image after the build. */
  push?: boolean;
  /** A configured registry by name, or inline credentials. */
  registry?: string | IInlineRegistry;
  /** Docker build args. */
  build_args?: { [key: string]: string };
}

/** Job status. */
export type JobStatus =
  'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted';

/** A build job record. */
export interface IJob {
  /** Job id. */
  id: string;
  /** Creation time (ISO). */
  created: string;
  /** Start time (ISO). */
  started: string | null;
  /** End time (ISO). */
  finished: string | null;
  /** Job status. */
  status: JobStatus;
  /** Phase of the latest event. */
  phase: string;
  /** The source, without secrets. */
  source: ISource | null;
  /** Normalised image reference. */
  image: string;
  /** Whether the job runs the image. */
  run: boolean;
  /** Whether the job pushes the image. */
  push: boolean;
  /** Registry (never the password). */
  registry?: { server: string; username: string } | null;
  /** Build arg names. */
  build_args?: string[];
  /** Image id after the build. */
  image_id: string | null;
  /** Digest after a push. */
  digest: string | null;
  /** The container after a run. */
  container: { id: string; url: string } | null;
  /** Error message of a failed job. */
  error: string | null;
}

/** Whether a job status is final. */
export function isFinished(status: JobStatus): boolean {
  return status !== 'queued' && status !== 'running';
}

/** One event of a job's stream. */
export interface IJobEvent {
  /** Sequence number (the SSE id). */
  seq: number;
  /** Time (ISO). */
  time: string;
  /** Phase. */
  phase: string;
  /** One log line or a sentence. */
  message: string;
  /** Progress of a step, or bytes of a transfer (`kind` `bytes`). */
  progress?: { kind: string; current: number; total?: number; id?: string };
  /** Set when the message is a notice of the server (e.g. `log_limit`). */
  notice?: string;
  /** On ready: image. */
  image?: string;
  /** On ready after a run: URL. */
  url?: string;
  /** On failed: the error. */
  error?: string;
  /** Other fields. */
  [key: string]: unknown;
}

/** The terminal phases of a job. */
export const TERMINAL_PHASES = ['ready', 'failed', 'cancelled'];

/** A configured registry (never its password). */
export interface IRegistry {
  /** Registry name. */
  name: string;
  /** host[:port]. */
  server: string;
  /** User name. */
  username: string;
}

/** Start a build job. */
export function startBuild(body: IBuildRequest): Promise<IJob> {
  return requestAPI<IJob>('builds', {
    method: 'POST',
    body: JSON.stringify(body)
  });
}

/** List jobs, newest first. */
export async function listBuilds(): Promise<IJob[]> {
  return (await requestAPI<{ builds: IJob[] }>('builds')).builds;
}

/** Get one job. */
export function getBuild(id: string): Promise<IJob> {
  return requestAPI<IJob>(`builds/${encodeURIComponent(id)}`);
}

/** Cancel an active job. */
export function cancelBuild(id: string): Promise<IJob> {
  return requestAPI<IJob>(`builds/${encodeURIComponent(id)}/cancel`, {
    method: 'POST'
  });
}

/** Forget a finished job and its log. */
export async function forgetBuild(id: string): Promise<void> {
  await requestAPI<null>(`builds/${encodeURIComponent(id)}`, {
    method: 'DELETE'
  });
}

/** The configured registries. */
export async function listRegistries(): Promise<IRegistry[]> {
  return (await requestAPI<{ registries: IRegistry[] }>('registries'))
    .registries;
}

/** A local image, as `GET images` lists it. */
export interface IImage {
  /** Image id. */
  id: string;
  /** repo:tag references. */
  tags: string[];
  /** Creation time. */
  created: string;
  /** Size in bytes, layers shared with other images included. */
  size: number;
  /** Bytes of layers shared with other images. */
  shared_size: number;
  /** Bytes of the image's own layers: what removing it frees. */
  unique_size: number;
  /** Image labels. */
  labels: { [key: string]: string };
  /** jupyter_r2d provenance, null for other images. */
  r2d: {
    source?: string;
    ref?: string;
    commit?: string;
    dirty?: boolean;
    job?: string;
  } | null;
  /** Whether the image has no tag. */
  dangling: boolean;
  /** Whether a container uses it. */
  in_use: boolean;
}

/** The answer of `GET images`. */
export interface IImageCatalog {
  /** The images (those the filter matched). */
  images: IImage[];
  /** What all local images take on disk, shared layers counted once. */
  disk: {
    /** Bytes (`docker system df`'s image size); null when the engine cannot tell. */
    size: number | null;
  };
}

/** List local images (optional substring filter), with their disk usage. */
export function listImageCatalog(q = ''): Promise<IImageCatalog> {
  const query = q ? `?q=${encodeURIComponent(q)}` : '';
  return requestAPI<IImageCatalog>(`images${query}`);
}

/** Remove an image by id or name:tag. */
export async function removeImage(ref: string): Promise<void> {
  await requestAPI<null>(`images/${encodeURIComponent(ref)}`, {
    method: 'DELETE'
  });
}

/** The answer of `POST preview`: what repo2docker would build. */
export interface IPreview {
  /** repo2docker buildpack class name. */
  buildpack: string;
  /** The Dockerfile that would be built. */
  dockerfile: string;
  /** Warnings about the source. */
  warnings: string[];
}

/** Preview what repo2docker would build from a source (builds nothing). */
export function previewSource(source: ISource): Promise<IPreview> {
  return requestAPI<IPreview>('preview', {
    method: 'POST',
    body: JSON.stringify({ source })
  });
}

/** jupyter_r2d provenance of an image, decoded from its labels. */
export interface IProvenance {
  /** Folder (relative to the server root) or git URL. */
  source: string | null;
  /** git ref asked for. */
  ref: string | null;
  /** Resolved commit. */
  commit: string | null;
  /** Whether the tree had uncommitted changes. */
  dirty: boolean;
  /** Subdirectory that was built. */
  subdir: string | null;
  /** repo2docker buildpack. */
  buildpack: string | null;
  /** The job that built the image. */
  job: string | null;
  /** repo2docker version. */
  repo2docker_version: string | null;
}

/** One layer of an image's history. */
export interface ILayer {
  /** Creation time (ISO), when known. */
  created: string | null;
  /** The instruction that made the layer. */
  created_by: string;
  /** Size in bytes. */
  size: number;
  /** Comment. */
  comment: string;
}

/** The inspect view of an image (`GET images/<ref>`). */
export interface IImageInspect {
  /** Image id. */
  id: string;
  /** repo:tag references. */
  tags: string[];
  /** Repo digests. */
  digests: string[];
  /** Creation time. */
  created: string | null;
  /** Size in bytes. */
  size: number | null;
  /** Architecture. */
  architecture?: string | null;
  /** OS. */
  os?: string | null;
  /** Container config. */
  config: {
    env: string[];
    cmd: string[] | null;
    entrypoint: string[] | null;
    workdir: string;
    user: string;
    exposed_ports: string[];
  };
  /** Labels. */
  labels: { [key: string]: string };
  /** Provenance, null for images jupyter_r2d/repo2docker did not build. */
  r2d: IProvenance | null;
  /** The repo2docker command that rebuilds the image, when known. */
  reproduce: string | null;
  /** Layer history, newest first. */
  history: ILayer[];
}

/** Inspect one image by id or name:tag. */
export function inspectImage(ref: string): Promise<IImageInspect> {
  return requestAPI<IImageInspect>(`images/${encodeURIComponent(ref)}`);
}

/** One image of a prune answer. */
export interface IPruneEntry {
  /** Image id. */
  id: string;
  /** Bytes of the image's own layers (what removing it frees). */
  size: number;
  /** Why it was kept (skipped entries only). */
  reason?: string;
}

/** The answer of `POST images/prune`. */
export interface IPruneResult {
  /** Whether nothing was removed (a listing only). */
  dry_run: boolean;
  /** Removed (or, in a dry run, to be removed). */
  removed: IPruneEntry[];
  /** Kept, with the reason. */
  skipped: IPruneEntry[];
  /** Bytes freed (or to be freed): the removed images' own layers. */
  space_reclaimed: number;
}

/** Prune dangling jupyter_r2d images (`dryRun`: only list them). */
export function pruneImages(dryRun: boolean): Promise<IPruneResult> {
  return requestAPI<IPruneResult>(
    `images/prune${dryRun ? '?dry_run=true' : ''}`,
    { method: 'POST' }
  );
}

/** A container started by a run. */
export interface IContainer {
  /** Container id. */
  id: string;
  /** Container name. */
  name: string;
  /** The image it runs. */
  image: string;
  /** Docker state (running, exited, ...). */
  status: string;
  /** The URL it serves, if any. */
  url: string | null;
  /** The job that started it. */
  job_id: string | null;
  /** Creation time (ISO). */
  created: string | null;
}

/** Containers started by runs. */
export async function listContainers(): Promise<IContainer[]> {
  return (await requestAPI<{ containers: IContainer[] }>('containers'))
    .containers;
}

/** Stop and remove a container a run started. */
export async function stopContainer(id: string): Promise<void> {
  await requestAPI<null>(`containers/${encodeURIComponent(id)}`, {
    method: 'DELETE'
  });
}
