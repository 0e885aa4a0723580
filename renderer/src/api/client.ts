import { reportReachable, reportUnreachable } from './connection.js';
import { adminRoutes } from './contract.js';

/**
 * The one place the GUI talks HTTP. Reads are plain GETs; mutations carry `X-Berth-Admin: 1` (the admin API's
 * CSRF guard: a cross-site form cannot set custom headers) and JSON. The session is a same-origin cookie.
 */

export interface ApiErrorBody {
  error: { code: string; message: string; hint?: string };
}

/** An error the GUI can show as-is: what happened, and what to do about it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** No HTTP answer at all: Berth is stopped or the network is gone (the shell shows this once, see connection.ts). */
  get unreachable(): boolean {
    return this.code === offlineCode;
  }

  get needsSignIn(): boolean {
    return this.status === 401 && (this.code === 'BERTH_ADMIN_SIGNIN_REQUIRED' || this.code.startsWith('BERTH_ADMIN_SESSION'));
  }
}

const offlineCode = 'BERTH_UI_OFFLINE';

type Listener = (error: ApiError) => void;
const signInListeners = new Set<Listener>();

/** The app shell listens here and swaps every page for the sign-in screen on a 401. */
export function onSignInRequired(listener: Listener): () => void {
  signInListeners.add(listener);
  return () => signInListeners.delete(listener);
}

function isErrorBody(value: unknown): value is ApiErrorBody {
  if (typeof value !== 'object' || value === null) return false;
  const error = (value as { error?: unknown }).error;
  return typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string';
}

/** Messages for failures that never reach the API (server stopped, proxy page, network gone). */
function transportError(status: number, text: string): ApiError {
  if (status === 0) {
    return new ApiError(0, offlineCode, 'Berth is not answering.', 'Check that Berth is running (`berth serve`), then try again.');
  }
  const snippet = text.trim().slice(0, 160);
  return new ApiError(
    status,
    `HTTP_${status}`,
    `The server answered ${status}${snippet ? `: ${snippet}` : ''}.`,
    status >= 500 ? 'Check Berth’s log for details, then try again.' : undefined,
  );
}

async function toApiError(response: Response): Promise<ApiError> {
  return errorOfText(response.status, await response.text().catch(() => ''));
}

function errorOfText(status: number, text: string): ApiError {
  try {
    const body: unknown = JSON.parse(text);
    if (isErrorBody(body)) return new ApiError(status, body.error.code, body.error.message, body.error.hint);
  } catch {
    // Not JSON: fall through to a generic message with the status.
  }
  return transportError(status, text);
}

export type Query = Record<string, string | number | boolean | null | undefined>;

/** `/api/x` + `{a: 1, b: undefined}` → `/api/x?a=1`. Empty strings are dropped too: an empty filter is no filter. */
export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue;
    params.set(key, String(value));
  }
  const search = params.toString();
  return search ? `${path}${path.includes('?') ? '&' : '?'}${search}` : path;
}

async function request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const mutation = method !== 'GET' && method !== 'HEAD';
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (mutation) {
    headers['X-Berth-Admin'] = '1';
    headers['Content-Type'] = 'application/json';
  }
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: mutation && body !== undefined ? JSON.stringify(body) : mutation ? '{}' : undefined,
      signal,
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    reportUnreachable();
    throw transportError(0, '');
  }
  reportReachable();
  if (!response.ok) {
    const error = await toApiError(response);
    if (error.needsSignIn) for (const listener of signInListeners) listener(error);
    throw error;
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const api = {
  get: <T>(path: string, query?: Query, signal?: AbortSignal) => request<T>('GET', withQuery(path, query), undefined, signal),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, body),
  put: <T>(path: string, body?: unknown) => request<T>('PUT', path, body),
  patch: <T>(path: string, body?: unknown) => request<T>('PATCH', path, body),
  delete: <T>(path: string, body?: unknown) => request<T>('DELETE', path, body),
};

/** Asks Berth whether it is there (`/api/health` needs no session); the answer, or its absence, goes to connection.ts. */
export async function checkReachable(): Promise<boolean> {
  try {
    await request('GET', adminRoutes.health);
    return true;
  } catch (error) {
    return !(error instanceof ApiError && error.unreachable);
  }
}

/** Any thrown value → text for an Alert: the message, then the hint on its own line. */
export function describeError(error: unknown): { title: string; hint?: string; code?: string } {
  if (error instanceof ApiError) return { title: error.message, hint: error.hint, code: error.code };
  if (error instanceof Error) return { title: error.message };
  return { title: String(error) };
}

/**
 * Sends a file as the raw body of a POST (the archive import), reporting upload progress: fetch cannot, so this
 * one request goes through XMLHttpRequest, with the same CSRF header, cookie and error shapes as the others.
 */
export function uploadFile<T>(path: string, file: Blob, onProgress: (sent: number, total: number) => void, onSent?: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.setRequestHeader('X-Berth-Admin', '1');
    xhr.setRequestHeader('Content-Type', 'application/x-tar');
    xhr.upload.onprogress = (event) => onProgress(event.loaded, event.lengthComputable ? event.total : file.size);
    xhr.upload.onload = () => onSent?.();
    xhr.onerror = () => reject(transportError(0, ''));
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        reportReachable();
        resolve(JSON.parse(xhr.responseText) as T);
        return;
      }
      const error = errorOfText(xhr.status, xhr.responseText);
      if (error.needsSignIn) for (const listener of signInListeners) listener(error);
      reject(error);
    };
    xhr.send(file);
  });
}
