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
