import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createAuditLog, isAuthError, type AuditEventInput } from '../auth/index.js';
import { defaultDataDir } from '../config/data-dir.js';
import { createStateStore, type StateStore } from '../state/index.js';
import { CliUsageError } from './cli-error.js';

/**
 * What the admin commands (token, namespace, audit, ca, trust) share: argument parsing that turns every mistake
 * into a CliUsageError naming the help to read, the data directory, the state store, audit events, tables.
 */

type Options = NonNullable<ParseArgsConfig['options']>;

type StrictConfig<O extends Options> = { args: string[]; options: O; strict: true; allowPositionals: true };
export type ParsedCommandArgs<O extends Options> = ReturnType<typeof parseArgs<StrictConfig<O>>>;

/** node:util parseArgs, strict, positionals allowed (each command checks its own), errors naming the `--help` to read. */
export function parseCommandArgs<O extends Options>(argv: string[], options: O, helpCommand: string): ParsedCommandArgs<O> {
  try {
    return parseArgs<StrictConfig<O>>({ args: argv, options, strict: true, allowPositionals: true });
  } catch (error) {
    throw new CliUsageError(`${(error as Error).message}\nRun "${helpCommand} --help" for usage.`);
  }
}

export function dataDirOf(values: { data?: string | boolean | undefined }): string {
  return typeof values.data === 'string' && values.data !== '' ? values.data : defaultDataDir();
}

/** For commands that only read: a typo in --data must not silently create an empty Berth somewhere. */
export function requireDataDir(dataDir: string): void {
  if (!existsSync(dataDir)) {
    throw new Error(`no Berth data directory at ${dataDir}: pass --data DIR (or set BERTH_DATA), or start "berth serve" once to create it`);
  }
}

/**
 * Opens the state store shared with a running server: every write goes through its cross-process lock, so
 * `berth token create` in one terminal and `berth serve` in another never lose each other's changes.
 */
export async function openState(dataDir: string): Promise<StateStore> {
  // The server creates its data directory 0700 (keys and hashes live there); a CLI-created one must match.
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  return createStateStore(dataDir);
}

/** Records one admin change in the audit trail (actor 'admin', client 'cli'). */
export async function auditAdmin(dataDir: string, event: Omit<AuditEventInput, 'actor' | 'client' | 'outcome'>): Promise<void> {
  const audit = await createAuditLog(dataDir);
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

/** The value of `--anonymous-pull=true|false` (also yes/no, 1/0): `berth namespace set` and `berth upstream add`. */
export function parseAnonymousPull(text: string | undefined): boolean {
  if (text === 'true' || text === 'yes' || text === '1') return true;
  if (text === 'false' || text === 'no' || text === '0') return false;
  throw new CliUsageError(`--anonymous-pull needs true or false, e.g. --anonymous-pull=false${text === undefined ? '' : ` (got "${text}")`}`);
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
