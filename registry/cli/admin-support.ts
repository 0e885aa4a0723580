import { statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { isAuthError, type AuditEventInput } from '../auth/index.js';
import { defaultDataDir } from '../config/data-dir.js';
import type { StateStore } from '../state/index.js';
import { MetadataOptionError, openAuditLog, openStateStore, parseMetadataOption, type MetadataBackend } from '../state/metadata-backend.js';
import type { EncryptingDriver } from '../storage/encryption/encrypting-driver.js';
import { openStorage, parseStorageOption, StorageOptionError, type OpenStorageOptions, type StorageBackend } from '../storage/storage-backend.js';
import { CliUsageError } from './cli-error.js';
import { optionsOf } from './command-kit.js';

/**
 * What the admin commands share: the data directory, the state store, audit events, tables.
 */

/** The data directory a command works on: `--data DIR` (before or after the command's name), else the default. */
export function dataDirOf(command: Command): string {
  const { data } = optionsOf(command);
  return typeof data === 'string' && data !== '' ? data : defaultDataDir();
}

/**
 * A data directory is a directory: `--data /etc/passwd` is a mistake in the command line (exit 2), said as such,
 * not as the EEXIST that mkdir would answer. Returns whether the directory exists.
 */
export function checkDataDirPath(dataDir: string): boolean {
  for (let path = dataDir; ; path = dirname(path)) {
    let isDirectory: boolean;
    try {
      isDirectory = statSync(path).isDirectory();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code === 'ENOENT' || code === 'ENOTDIR') && dirname(path) !== path) continue;
      if (code === 'ENOENT') return false;
      if (code === 'EACCES') throw new Error(`cannot read the data directory ${dataDir}: permission denied (pass --data DIR with a directory of yours)`);
      throw error;
    }
    if (isDirectory) return path === dataDir;
    const what = path === dataDir ? `--data ${dataDir} is a file` : `--data ${dataDir}: ${path} is a file`;
    throw new CliUsageError(`${what}, not a directory: pass the directory Berth keeps its data in (default ${defaultDataDir()})`);
  }
}

/** For commands that only read: a typo in --data must not silently create an empty Berth somewhere. */
export function requireDataDir(dataDir: string): void {
  if (!checkDataDirPath(dataDir)) {
    throw new Error(`no Berth data directory at ${dataDir}: pass --data DIR (or set BERTH_DATA), or start "berth serve" once to create it`);
  }
}

/** Creates the data directory the way the server does (0700: keys and hashes live there), with a plain error. */
export async function prepareDataDir(dataDir: string): Promise<void> {
  if (checkDataDirPath(dataDir)) return;
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EACCES') {
      throw new Error(`cannot create the data directory ${dataDir}: permission denied (pass --data DIR with a directory you can write)`);
    }
    throw error;
  }
}

/** The metadata backend a command works on: `--metadata URL` (before or after the command's name), else BERTH_METADATA, else state.json. */
export function metadataOf(command: Command): MetadataBackend {
  const { metadata } = optionsOf(command);
  try {
    return parseMetadataOption(typeof metadata === 'string' ? metadata : undefined);
  } catch (error) {
    if (error instanceof MetadataOptionError) throw new CliUsageError(error.message);
    throw error;
  }
}

/** The storage a command works on: `--storage URL` (before or after the command's name), else BERTH_STORAGE, else the data directory. */
export function storageOf(command: Command): StorageBackend {
  const { storage } = optionsOf(command);
  try {
    return parseStorageOption(typeof storage === 'string' ? storage : undefined);
  } catch (error) {
    if (error instanceof StorageOptionError) throw new CliUsageError(error.message);
    throw error;
  }
}

/**
 * Runs `work` on the command's storage, checked against the metadata database's binding (a gc or sync against
 * another bucket than the database describes would delete or write the wrong content), and closes it after.
 */
export async function withStorage<T>(
  dataDir: string,
  storage: StorageBackend,
  metadata: MetadataBackend,
  work: (driver: EncryptingDriver) => Promise<T>,
  options: Pick<OpenStorageOptions, 'inlineReads'> = {},
): Promise<T> {
  const opened = await openStorage(dataDir, storage, metadata, options);
  try {
    return await work(opened.driver);
  } finally {
    opened.close();
  }
}

/**
 * Opens the state store shared with a running server: every write goes through its cross-process lock (or the
 * database's row lock), so `berth token create` in one terminal and `berth serve` in another (or on another node)
 * never lose each other's changes.
 */
export async function openState(dataDir: string, metadata: MetadataBackend): Promise<StateStore> {
  await prepareDataDir(dataDir);
  return openStateStore(dataDir, metadata);
}

/** Records one admin change in the audit trail (actor 'admin', client 'cli'). */
export async function auditAdmin(dataDir: string, metadata: MetadataBackend, event: Omit<AuditEventInput, 'actor' | 'client' | 'outcome'>): Promise<void> {
  const audit = await openAuditLog(dataDir, metadata);
  try {
    await audit.record({ actor: 'admin', client: 'cli', outcome: 'success', ...event });
  } finally {
    await audit.close();
  }
}

/** Invalid names, scopes and expiries are how the command was called (exit 2); the rest are runtime errors. */
export function asCliError(error: unknown): unknown {
  if (isAuthError(error) && ['BERTH_TOKEN_NAME_INVALID', 'BERTH_SCOPE_INVALID', 'BERTH_EXPIRY_INVALID'].includes(error.code)) {
    return new CliUsageError(error.message);
  }
  return error;
}

/** `2030-01-02 03:04Z` (UTC, minutes): short enough for a table, unambiguous across time zones. */
export function formatTime(iso: string | null | undefined, empty = '-'): string {
  if (!iso) return empty;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 16).replace('T', ' ')}Z`;
}

/** Left-aligned columns separated by two spaces; the last column is not padded (no trailing blanks). */
export function formatTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}
