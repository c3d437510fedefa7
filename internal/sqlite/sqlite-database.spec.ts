import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openSqliteDatabase, type SqliteDatabase } from './sqlite-database';
import { migrateSchema } from './sqlite-migrations';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sqlite-db-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('openSqliteDatabase', () => {
  it('creates the parent directory and sets WAL, foreign keys, busy timeout and synchronous', () => {
    const path = join(dir, 'a', 'b', 'chat.db');
    const db = openSqliteDatabase({ path, synchronous: 'full' });
    try {
      assert.ok(existsSync(path));
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
      assert.equal(db.pragma('busy_timeout', { simple: true }), 5000);
      assert.equal(db.pragma('synchronous', { simple: true }), 2); // FULL
    } finally {
      db.close();
    }
    const normal = openSqliteDatabase({ path, synchronous: 'normal', busyTimeoutMs: 250 });
    assert.equal(normal.pragma('synchronous', { simple: true }), 1); // NORMAL
    assert.equal(normal.pragma('busy_timeout', { simple: true }), 250);
    normal.close();
  });

  it('opens a private in-memory database', () => {
    const db = openSqliteDatabase({ path: ':memory:', synchronous: 'normal' });
    assert.equal(db.memory, true);
    assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
    db.close();
  });
});

describe('migrateSchema', () => {
  const versions = (db: SqliteDatabase, owner: string) =>
    db.prepare('SELECT version FROM schema_migrations WHERE owner = ? ORDER BY version').pluck().all(owner);

  it('applies pending scripts once, in order, per owner', () => {
    const db = openSqliteDatabase({ path: join(dir, 'migrate.db'), synchronous: 'full' });
    const v1 = 'CREATE TABLE t (a INTEGER)';
    assert.equal(migrateSchema(db, 'one', [v1]), 1);
    assert.equal(migrateSchema(db, 'one', [v1]), 1);
    assert.equal(migrateSchema(db, 'one', [v1, 'ALTER TABLE t ADD COLUMN b TEXT']), 2);
    assert.equal(migrateSchema(db, 'two', ['CREATE TABLE u (a INTEGER)']), 1);
    assert.deepEqual(versions(db, 'one'), [1, 2]);
    assert.deepEqual(versions(db, 'two'), [1]);
    assert.deepEqual(db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all('t'), ['a', 'b']);
    db.close();
  });

  it('leaves the schema at a whole version when a script fails', () => {
    const db = openSqliteDatabase({ path: ':memory:', synchronous: 'full' });
    assert.throws(() => migrateSchema(db, 'x', ['CREATE TABLE ok (a INTEGER)', 'CREATE TABLE bad (a INTEGER); SELECT nope FROM nowhere']));
    assert.deepEqual(versions(db, 'x'), [1]);
    assert.equal(db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'bad'").pluck().get(), 0);
    db.close();
  });

  it('refuses a schema newer than the code', () => {
    const db = openSqliteDatabase({ path: ':memory:', synchronous: 'full' });
    migrateSchema(db, 'x', ['CREATE TABLE a (a INTEGER)', 'CREATE TABLE b (a INTEGER)']);
    assert.throws(() => migrateSchema(db, 'x', ['CREATE TABLE a (a INTEGER)']), /newer than this build/);
    db.close();
  });
});
