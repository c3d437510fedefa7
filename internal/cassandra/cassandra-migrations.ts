import { randomUUID } from 'node:crypto';
import { isLwtContention } from './cassandra-errors';
import type { CassandraSession, KeyspaceReplication } from './cassandra-session';

/**
 * One schema owner's ordered, append-only list of migrations: version N is `migrations[N - 1]`,
 * a list of CQL statements (Cassandra runs one statement per request). `{keyspace}` in a
 * statement is replaced by the session's keyspace. Statements must be safe to run again
 * (`CREATE ... IF NOT EXISTS`): a runner that dies between a statement and recording its version
 * reruns the whole version. Never edit a released migration; append a new one.
 */
export type CqlMigrations = readonly (readonly string[])[];

/**
 * The migration that caps each table's coordinator-side speculative retry. A read at LOCAL_QUORUM
 * waits for two replicas the coordinator chose; if one of them just died, the coordinator only
 * learns it from gossip seconds later and, until it asks another replica, the read waits for its
 * timeout (past our RPC deadlines). Cassandra's default (`99p`) asks another replica after the
 * table's 99th-percentile latency, but a table with few samples yet (a young deployment, every
 * test keyspace) has no percentile and does not speculate. `MIN(99p,50ms)` speculates after the
 * percentile or 50 ms, whichever is lower: one extra replica read for the slowest reads only.
 */
export function speculativeRetryMigration(tables: readonly string[]): readonly string[] {
  return tables.map((t) => `ALTER TABLE {keyspace}.${t} WITH speculative_retry = 'MIN(99p,50ms)'`);
}

const LOCK_TTL_S = 300;
const LOCK_POLL_MS = 250;

/**
 * Brings the tables of one schema owner (e.g. "history", "groups") in the session's keyspace up
 * to date, creating the keyspace first (with the session's replication) when it is missing.
 *
 * Applied versions are recorded in `schema_migrations(owner, version)`, so several stores keep
 * their tables in one keyspace without knowing about each other. Up to date is the common case
 * and costs two schema-table reads and one query, no schema change. Otherwise the runner takes a
 * keyspace-wide lease (a lightweight transaction with a TTL, so a crashed runner frees it within
 * 5 minutes), because concurrent schema changes from several processes can leave Cassandra's
 * nodes disagreeing on a table's identity; it then re-reads the versions and applies what is
 * still pending.
 *
 * An existing keyspace is never altered: changing replication is an operator's decision (and needs
 * a repair), not a side effect of starting a process.
 *
 * Throws when the keyspace was migrated by a newer build (more versions than `migrations` knows).
 * @returns the owner's schema version after migrating.
 */
export async function migrateKeyspace(session: CassandraSession, owner: string, migrations: CqlMigrations): Promise<number> {
  await ensureBookkeeping(session);
  const versionsTable = session.table('schema_migrations');
  const current = async (): Promise<number> => {
    const rows = await session.selectAll(`read ${owner} schema version`, `SELECT version FROM ${versionsTable} WHERE owner = ?`, [owner]);
    const version = rows.reduce((max, row) => Math.max(max, Number(row.get('version'))), 0);
    if (version > migrations.length) {
      throw new Error(`cassandra schema of "${owner}" in ${session.keyspace} is at version ${version}, newer than this build knows (${migrations.length})`);
    }
    return version;
  };
  if ((await current()) === migrations.length) return migrations.length;

  await withMigrationLease(session, async () => {
    for (let version = await current(); version < migrations.length; version++) {
      for (const statement of migrations[version] ?? []) {
        await session.schema(`migrate ${owner} to version ${version + 1}`, statement.replaceAll('{keyspace}', session.keyspace));
      }
      await session.execute(
        `record ${owner} schema version`,
        `INSERT INTO ${versionsTable} (owner, version, applied_at) VALUES (?, ?, ?)`,
        [owner, version + 1, new Date()],
        { idempotent: true },
      );
    }
  });
  return migrations.length;
}

/** Drops the session's keyspace and everything in it (tests; never called by services). */
export async function dropKeyspace(session: CassandraSession): Promise<void> {
  await session.schema('drop keyspace', `DROP KEYSPACE IF EXISTS ${session.keyspace}`);
}

/**
 * Creates the keyspace and the runner's own tables when missing; no schema change otherwise.
 * Runners may race here (the lease does not exist yet): a `CREATE ... IF NOT EXISTS` that finds
 * another runner's change under way can answer before the table is usable, so this waits until
 * the node's schema shows everything it needs.
 */
async function ensureBookkeeping(session: CassandraSession): Promise<void> {
  const ks = session.keyspace;
  const deadline = Date.now() + session.schemaTimeoutMs;
  const keyspaceExists = async (): Promise<boolean> =>
    (await session.execute('read schema', 'SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?', [ks], { idempotent: true }))
      .rowLength > 0;
  const tables = async (): Promise<Set<string>> =>
    new Set(
      (await session.selectAll('read schema', 'SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?', [ks]))
        .map((row) => String(row.get('table_name'))),
    );
  const waitFor = async (what: string, ready: () => Promise<boolean>): Promise<void> => {
    while (!(await ready())) {
      if (Date.now() > deadline) throw new Error(`cassandra keyspace ${ks}: ${what} did not appear within ${session.schemaTimeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  if (!(await keyspaceExists())) {
    await session.schema('create keyspace', `CREATE KEYSPACE IF NOT EXISTS ${ks} WITH replication = ${replicationCql(session.replication)}`);
    await waitFor('the keyspace', keyspaceExists);
  }
  const existing = await tables();
  if (!existing.has('schema_migrations')) {
    await session.schema('create schema_migrations', `CREATE TABLE IF NOT EXISTS ${ks}.schema_migrations (
      owner text, version int, applied_at timestamp, PRIMARY KEY (owner, version))`);
  }
  if (!existing.has('schema_migration_lease')) {
    await session.schema('create schema_migration_lease', `CREATE TABLE IF NOT EXISTS ${ks}.schema_migration_lease (
      name text PRIMARY KEY, holder text)`);
  }
  await waitFor('the migration tables', async () => {
    const now = await tables();
    return now.has('schema_migrations') && now.has('schema_migration_lease');
  });
}

/** Runs `work` holding the keyspace's migration lease; waits for it up to the schema timeout. */
async function withMigrationLease(session: CassandraSession, work: () => Promise<void>): Promise<void> {
  const table = session.table('schema_migration_lease');
  const holder = randomUUID();
  const deadline = Date.now() + session.schemaTimeoutMs;
  for (;;) {
    if (await tryTakeLease(session, table, holder)) break;
    if (Date.now() > deadline) {
      throw new Error(`cassandra keyspace ${session.keyspace}: another process has held the migration lease for over ${session.schemaTimeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS * (0.5 + Math.random())));
  }
  try {
    await work();
  } finally {
    await releaseLease(session, table, holder);
  }
}

/** Best effort: a lease that could not be released expires after LOCK_TTL_S. */
async function releaseLease(session: CassandraSession, table: string, holder: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await session.execute(
        'release migration lease', `DELETE FROM ${table} WHERE name = 'migrations' IF holder = ?`, [holder], { idempotent: true },
      );
      return;
    } catch (err) {
      if (!isLwtContention(err)) return;
    }
  }
}

/**
 * One attempt at the lease. A Paxos round that lost to another runner's leaves the outcome open;
 * the next attempt's answer (the stored holder) settles it, so such a failure counts as "not yet".
 */
async function tryTakeLease(session: CassandraSession, table: string, holder: string): Promise<boolean> {
  try {
    const taken = await session.execute(
      'take migration lease',
      `INSERT INTO ${table} (name, holder) VALUES ('migrations', ?) IF NOT EXISTS USING TTL ${LOCK_TTL_S}`,
      [holder],
      { idempotent: true },
    );
    return taken.wasApplied() || taken.first()?.get('holder') === holder;
  } catch (err) {
    if (isLwtContention(err)) return false;
    throw err;
  }
}

function replicationCql(replication: KeyspaceReplication): string {
  if (replication.class === 'SimpleStrategy') {
    return `{'class': 'SimpleStrategy', 'replication_factor': ${replication.replicationFactor}}`;
  }
  const dcs = Object.entries(replication.dataCenters).map(([dc, rf]) => `'${dc}': ${rf}`);
  return `{'class': 'NetworkTopologyStrategy', ${dcs.join(', ')}}`;
}
