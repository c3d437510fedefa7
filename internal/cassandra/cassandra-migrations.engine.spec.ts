import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireEngineEnv, uniquePrefix } from '../testing/engines';
import { dropKeyspace, migrateKeyspace, type CqlMigrations } from './cassandra-migrations';
import { CassandraSession, parseContactPoints } from './cassandra-session';

const contactPoints = parseContactPoints(requireEngineEnv('CHAT_CASSANDRA_CONTACT_POINTS'));
const localDataCenter = process.env.CHAT_CASSANDRA_LOCAL_DC ?? 'datacenter1';
const keyspace = uniquePrefix('migrations');
const sessions: CassandraSession[] = [];
function session(): CassandraSession {
  const s = new CassandraSession({
    contactPoints,
    localDataCenter,
    keyspace,
    replication: { class: 'NetworkTopologyStrategy', dataCenters: { [localDataCenter]: 1 } },
  });
  sessions.push(s);
  return s;
}
after(async () => {
  await dropKeyspace(session());
  await Promise.all(sessions.map((s) => s.close()));
});

const V1 = ['CREATE TABLE IF NOT EXISTS {keyspace}.notes (id int PRIMARY KEY, body text)'];
const V2 = ['CREATE TABLE IF NOT EXISTS {keyspace}.tags (id int, tag text, PRIMARY KEY (id, tag))'];
const V3 = ['CREATE TABLE IF NOT EXISTS {keyspace}.more (id int PRIMARY KEY)'];

async function versions(s: CassandraSession, owner: string): Promise<number[]> {
  const rows = await s.selectAll('read', `SELECT version FROM ${s.table('schema_migrations')} WHERE owner = ?`, [owner]);
  return rows.map((r) => Number(r.get('version'))).sort();
}

async function tables(s: CassandraSession): Promise<string[]> {
  const rows = await s.selectAll('read', 'SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?', [keyspace]);
  return rows.map((r) => String(r.get('table_name'))).sort();
}

describe('migrateKeyspace on a real Cassandra', () => {
  it('creates the keyspace with the configured replication and applies each version once, even when racing', async () => {
    const migrations: CqlMigrations = [V1, V2];
    const [a, b] = [session(), session()];
    assert.deepEqual(await Promise.all([migrateKeyspace(a, 'demo', migrations), migrateKeyspace(b, 'demo', migrations)]), [2, 2]);
    assert.deepEqual(await versions(a, 'demo'), [1, 2]);
    assert.deepEqual(await tables(a), ['notes', 'schema_migration_lease', 'schema_migrations', 'tags']);
    const ks = await a.execute('read', 'SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?', [keyspace], { idempotent: true });
    const replication = ks.first()?.get('replication') as Record<string, string> | undefined;
    assert.equal(replication?.class, 'org.apache.cassandra.locator.NetworkTopologyStrategy');
    assert.equal(replication?.[localDataCenter], '1');
    // The lease was released.
    const lease = await a.execute('read', `SELECT holder FROM ${a.table('schema_migration_lease')}`, [], { idempotent: true });
    assert.equal(lease.rowLength, 0);
  });

  it('applies only what is new, keeps owners apart, and refuses a schema newer than the build', async () => {
    const s = session();
    assert.equal(await migrateKeyspace(s, 'demo', [V1, V2]), 2);
    assert.equal(await migrateKeyspace(s, 'demo', [V1, V2, V3]), 3);
    assert.deepEqual(await versions(s, 'demo'), [1, 2, 3]);
    assert.equal(await migrateKeyspace(s, 'other', [V1]), 1);
    assert.deepEqual(await versions(s, 'other'), [1]);
    await assert.rejects(migrateKeyspace(s, 'demo', [V1]), /at version 3, newer than this build knows \(1\)/);
  });
});
