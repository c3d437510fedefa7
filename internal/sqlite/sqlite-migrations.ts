import type { SqliteDatabase } from './sqlite-database';

/**
 * Brings the tables of one schema owner (e.g. "history", "groups") up to date.
 *
 * `migrations` is that owner's ordered, append-only list of SQL scripts: version N is
 * `migrations[N - 1]`. Applied versions are recorded in `schema_migrations(owner, version)`, so
 * several stores can keep their tables in one file without knowing about each other. Each pending
 * script runs in its own IMMEDIATE transaction together with its version row, so a crash leaves
 * the schema at a whole version, and two processes opening the same file at once apply each
 * script exactly once. Never edit a released script; append a new one.
 *
 * Throws when the file was migrated by a newer build (more versions than `migrations` knows):
 * running old code against a newer schema silently is how data gets lost.
 *
 * @returns the owner's schema version after migrating.
 */
export function migrateSchema(db: SqliteDatabase, owner: string, migrations: readonly string[]): number {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    owner      TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    applied_at INTEGER NOT NULL,
    PRIMARY KEY (owner, version)
  ) WITHOUT ROWID`);
  const current = db.prepare<[string], number>('SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE owner = ?').pluck();
  const record = db.prepare<[string, number, number]>('INSERT INTO schema_migrations (owner, version, applied_at) VALUES (?, ?, ?)');

  const applyNext = db.transaction((): boolean => {
    // Re-read inside the write lock: another connection may have migrated meanwhile.
    const version = current.get(owner) ?? 0;
    if (version > migrations.length) {
      throw new Error(`sqlite schema of "${owner}" is at version ${version}, newer than this build knows (${migrations.length})`);
    }
    if (version === migrations.length) return false;
    db.exec(migrations[version]);
    record.run(owner, version + 1, Date.now());
    return true;
  });
  while (applyNext.immediate()) {
    // one version per transaction
  }
  return migrations.length;
}
