import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { waitUntil } from '../testing/wait-until';
import { openSqliteDatabase } from './sqlite-database';
import { WalCheckpointer } from './wal-checkpointer';

describe('WalCheckpointer', () => {
  it('copies the WAL into the file from its thread, and gives checkpoints back to commits when stopped', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wal-checkpointer-'));
    const path = join(dir, 'chat.sqlite');
    const db = openSqliteDatabase({ path, synchronous: 'normal' });
    try {
      db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)');
      const checkpointer = WalCheckpointer.start(db, { intervalMs: 20, log: pino({ level: 'silent' }) });
      assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 0, 'no checkpoint inside commits');
      const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
      const before = statSync(path).size;
      for (let i = 0; i < 200; i++) insert.run('x'.repeat(1000)); // 200 commits, about 50 pages
      await waitUntil(() => statSync(path).size > before + 100_000, 5000, 'the rows copied into the database file');
      await checkpointer.stop();
      assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 1000);
      assert.equal(db.prepare('SELECT count(*) FROM t').pluck().get(), 200);
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives checkpoints back to commits when its thread dies', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wal-checkpointer-'));
    const db = openSqliteDatabase({ path: join(dir, 'chat.sqlite'), synchronous: 'normal' });
    try {
      const logged: string[] = [];
      const log = pino({ level: 'error' }, { write: (line: string) => void logged.push(line) });
      const checkpointer = WalCheckpointer.start(db, { intervalMs: 1000, log });
      await (checkpointer as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
      await waitUntil(() => db.pragma('wal_autocheckpoint', { simple: true }) === 1000, 2000, 'the automatic checkpoint back');
      assert.match(logged.join(''), /WAL checkpoint thread exited/);
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
