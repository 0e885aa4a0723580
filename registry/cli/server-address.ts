import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isLoopback, parseListenAddress } from '../config/listen-address.js';
import { findRunningServer, type ServerRecord } from '../runtime/server-record.js';
import { stateFileName } from '../state/index.js';

/**
 * Where clients reach the Berth of a data directory, for the commands that print addresses (`ui-url`,
 * `mirror-config`, `trust`, `status`): the running server's real listeners when one runs, else what a server
 * started on the saved settings would listen on (with startBerth's defaults), marked as such so the command can
 * say that nothing listens there yet.
 */
export interface ServerAddresses {
  /** The running server, when there is one. */
  running?: ServerRecord;
  /** `http://127.0.0.1:5000`; absent when that listener is off. */
  http?: string;
  https?: string;
}

export const defaultListen = '127.0.0.1:5000';
export const defaultTlsListen = '127.0.0.1:5443';

export async function serverAddresses(dataDir: string): Promise<ServerAddresses> {
  const running = await findRunningServer(dataDir);
  if (running) return { running, http: dialable(running.urls.http), https: dialable(running.urls.https) };
  const settings = await savedSettings(dataDir);
  return {
    http: urlOfSetting('http', settings.listen, defaultListen),
    https: urlOfSetting('https', settings.tlsListen, defaultTlsListen),
  };
}

/** The sentence a command prints (to stderr) when it had to fall back on the settings. */
export function notRunningNote(dataDir: string): string {
  return `no Berth server is running on ${dataDir}: these are the addresses from its settings; start it with "berth serve --data ${dataDir}" (or npm start), and "berth status" shows what it listens on`;
}

/** Read, not opened as a store: printing addresses must not create or lock anything. */
async function savedSettings(dataDir: string): Promise<{ listen?: unknown; tlsListen?: unknown }> {
  try {
    const state = JSON.parse(await readFile(join(dataDir, stateFileName), 'utf8')) as { settings?: { listen?: unknown; tlsListen?: unknown } };
    return state.settings ?? {};
  } catch {
    return {};
  }
}

/** A HOST:PORT setting as a URL clients can dial (a wildcard bind address is reached on loopback). */
function urlOfSetting(scheme: 'http' | 'https', setting: unknown, fallback: string): string | undefined {
  const value = typeof setting === 'string' && setting ? setting : fallback;
  try {
    const { host, port } = parseListenAddress(value);
    const dialable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
    return `${scheme}://${dialable.includes(':') ? `[${dialable}]` : dialable}:${port}`;
  } catch {
    return undefined;
  }
}

/** A listener bound to every address (`0.0.0.0`, `::`) is reached on loopback from this machine. */
function dialable(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const parsed = new URL(url);
  if (parsed.hostname === '0.0.0.0') parsed.hostname = '127.0.0.1';
  else if (parsed.hostname === '[::]') parsed.hostname = '[::1]';
  return parsed.origin;
}

/**
 * Whether Berth is reachable from this machine only: the saved listen settings (what the next start uses) and,
 * while a server runs, its real listeners (a `--listen 0.0.0.0:5000` run is not in the settings).
 */
export async function reachableFromLoopbackOnly(dataDir: string, savedLoopbackOnly: boolean): Promise<boolean> {
  if (!savedLoopbackOnly) return false;
  const running = await findRunningServer(dataDir);
  if (!running) return true;
  return [running.urls.http, running.urls.https].every((url) => url === undefined || isLoopback(new URL(url).hostname.replace(/^\[|\]$/g, '')));
}
