import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { privateDirMode, privateFileMode } from '../config/private-modes.js';

/**
 * Opens (creating) a SQLite database file for Berth's own use: owner-only, WAL, shared by the server and the CLI.
 * Modes are given explicitly, so the umask cannot widen them, and the file is created or tightened before SQLite
 * opens it because SQLite gives the -wal and -shm files it creates the database file's mode.
 */
export function openPrivateSqlite(file: string): Database.Database {
  mkdirSync(dirname(file), { recursive: true, mode: privateDirMode });
  closeSync(openSync(file, 'a', privateFileMode));
  chmodSync(file, privateFileMode);
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  // Writers in other processes hold the lock for a millisecond or so: waiting beats failing a push or a flush.
  db.pragma('busy_timeout = 5000');
  return db;
}
