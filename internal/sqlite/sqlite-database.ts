import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';

/** A better-sqlite3 connection, re-exported so adapters need not import the driver's namespace. */
export type SqliteDatabase = Database.Database;

/** A prepared statement taking positional parameters `P` and reading rows of type `R`. */
export type SqliteStatement<P extends unknown[] = unknown[], R = unknown> = Database.Statement<P, R>;

/** Options of {@link openSqliteDatabase}. */
export interface SqliteDatabaseOptions {
  /** A file path (its parent directory is created) or `':memory:'` for a private in-memory database. */
  path: string;
  /**
   * `full` syncs the WAL on every commit, so a resolved write survives a power loss: what the store
   * ports promise ("resolves once durable"). `normal` only syncs at checkpoints: a crash of the
   * process loses nothing, a power loss may lose the latest commits but never corrupts the file.
   */
  synchronous: 'full' | 'normal';
  /** How long a writer waits for another connection's lock before SQLITE_BUSY. Default 5000 ms. */
  busyTimeoutMs?: number;
}

/** Whether `path` names an in-memory (or anonymous temporary) database rather than a file. */
function isMemoryPath(path: string): boolean {
  return path === '' || path === ':memory:' || path.startsWith('file::memory:');
}

/**
 * Opens (creating if needed) the SQLite database the embedded adapters share. One file holds the
 * tables of every store; each store creates its own tables with {@link migrateSchema} under its own
 * owner name. The caller owns the returned connection and closes it after the stores that use it.
 */
export function openSqliteDatabase(options: SqliteDatabaseOptions): SqliteDatabase {
  const memory = isMemoryPath(options.path);
  if (!memory) mkdirSync(dirname(resolve(options.path)), { recursive: true });
  const db = new Database(options.path);
  try {
    // WAL lets readers proceed during a write and makes each commit one sequential append;
    // an in-memory database has no journal file to speak of, so it keeps its default.
    if (!memory) db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('foreign_keys = ON');
    db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}
