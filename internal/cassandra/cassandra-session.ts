import { Client, policies, types, type ArrayOrObject, type QueryOptions } from 'cassandra-driver';
import { CassandraDeadlineError, toStoreError } from './cassandra-errors';

/** Consistency levels a deployment may choose for reads and writes. */
export type Consistency = 'ONE' | 'LOCAL_ONE' | 'QUORUM' | 'LOCAL_QUORUM' | 'EACH_QUORUM' | 'ALL';
/** Consistency of the Paxos phase of lightweight transactions. */
export type SerialConsistency = 'SERIAL' | 'LOCAL_SERIAL';

/** Replication of the keyspace, used when the migration runner creates it. */
export type KeyspaceReplication =
  | { class: 'SimpleStrategy'; replicationFactor: number }
  | { class: 'NetworkTopologyStrategy'; dataCenters: Readonly<Record<string, number>> };

/** Everything the Cassandra adapters need, validated by {@link createCassandraSession}. */
export interface CassandraOptions {
  /** `host` or `host:port` (default port 9042), e.g. from `CHAT_CASSANDRA_CONTACT_POINTS`. */
  contactPoints: readonly string[];
  /** The data center this process is in: its nodes are the ones queried (`LOCAL_*` levels). */
  localDataCenter: string;
  /** The keyspace of the chat tables: `[a-z][a-z0-9_]{0,47}`. */
  keyspace: string;
  /** Used only when the keyspace does not exist yet. Default SimpleStrategy, RF 1 (local use). */
  replication?: KeyspaceReplication;
  /** Reads and writes. Default LOCAL_QUORUM (a single node accepts it). */
  consistency?: Consistency;
  /** Lightweight transactions. Default LOCAL_SERIAL. */
  serialConsistency?: SerialConsistency;
  /** Opening a TCP connection and the CQL handshake. Default 5000. */
  connectTimeoutMs?: number;
  /**
   * How long one request waits for its answer (the driver's read timeout). Every call settles
   * within connectTimeoutMs + requestTimeoutMs, retries and a reconnect included. Default 5000.
   */
  requestTimeoutMs?: number;
  /** Schema changes and waiting for schema agreement. Default 60000. */
  schemaTimeoutMs?: number;
  /** Reconnecting to a node that went down: exponential from base to max. Default 1000..30000. */
  reconnectBaseDelayMs?: number;
  reconnectMaxDelayMs?: number;
  /**
   * An idempotent statement with no answer after this long is sent to another node too, and the
   * first answer wins (the driver's speculative execution): a node that died or stalls costs a
   * read this much, not the request timeout, in the seconds before the cluster notices. 0: off.
   * Default 0.
   */
  speculativeDelayMs?: number;
  credentials?: { username: string; password: string };
}

/** How one statement may be run. */
export interface StatementOptions {
  /** True when running it twice has the effect of running it once: the driver may then retry it. */
  idempotent: boolean;
  /** A longer or shorter timeout than the session's requestTimeoutMs. */
  timeoutMs?: number;
}

/** One statement of a batch. */
export interface BatchStatement {
  query: string;
  params: unknown[];
}

const KEYSPACE = /^[a-z][a-z0-9_]{0,47}$/;
const CONTACT_POINT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$/;
const DATA_CENTER = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Parses a comma-separated contact point list (`"10.0.0.1:9042,10.0.0.2"`). Throws a RangeError
 * naming the bad entry, for config validation.
 */
export function parseContactPoints(value: string): string[] {
  const points = value.split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (points.length === 0) throw new RangeError('no Cassandra contact point given');
  for (const point of points) {
    const port = CONTACT_POINT.exec(point)?.[2];
    if (!CONTACT_POINT.test(point) || (port !== undefined && (Number(port.slice(1)) < 1 || Number(port.slice(1)) > 65535))) {
      throw new RangeError(`Cassandra contact point ${JSON.stringify(point)} is not host or host:port`);
    }
  }
  return points;
}

/**
 * The one way the adapters talk to Cassandra: a driver client with the project's settings, plus
 * the rules every call follows. Statements are prepared (the driver caches them by text), ids
 * travel as `bigint`, each call has a deadline, and every driver failure becomes a ChatError
 * (UNAVAILABLE for reachability, INTERNAL otherwise; see toStoreError) with the cause kept.
 *
 * Several stores may share one session; whoever creates it closes it.
 */
export class CassandraSession {
  readonly keyspace: string;
  readonly replication: KeyspaceReplication;
  readonly schemaTimeoutMs: number;
  private readonly client: Client;
  private readonly requestTimeoutMs: number;
  private readonly deadlineMs: number;
  private readonly consistency: number;
  private readonly serialConsistency: number;
  private readonly replacedHosts = new Set<unknown>();

  constructor(options: CassandraOptions) {
    if (!KEYSPACE.test(options.keyspace)) throw new RangeError(`keyspace ${JSON.stringify(options.keyspace)} is not [a-z][a-z0-9_]{0,47}`);
    if (!DATA_CENTER.test(options.localDataCenter)) throw new RangeError(`local data center ${JSON.stringify(options.localDataCenter)} is not valid`);
    const contactPoints = parseContactPoints(options.contactPoints.join(','));
    this.keyspace = options.keyspace;
    this.replication = validReplication(options.replication ?? { class: 'SimpleStrategy', replicationFactor: 1 });
    const connectTimeoutMs = positive(options.connectTimeoutMs ?? 5000, 'connectTimeoutMs');
    this.requestTimeoutMs = positive(options.requestTimeoutMs ?? 5000, 'requestTimeoutMs');
    this.schemaTimeoutMs = positive(options.schemaTimeoutMs ?? 60_000, 'schemaTimeoutMs');
    this.deadlineMs = connectTimeoutMs + this.requestTimeoutMs;
    this.consistency = types.consistencies[camel(options.consistency ?? 'LOCAL_QUORUM')];
    this.serialConsistency = types.consistencies[camel(options.serialConsistency ?? 'LOCAL_SERIAL')];
    const reconnectBase = positive(options.reconnectBaseDelayMs ?? 1000, 'reconnectBaseDelayMs');
    const reconnectMax = Math.max(reconnectBase, positive(options.reconnectMaxDelayMs ?? 30_000, 'reconnectMaxDelayMs'));
    this.client = new Client({
      contactPoints,
      localDataCenter: options.localDataCenter,
      credentials: options.credentials,
      // Ids are Snowflakes up to 2^63-1: bigint columns cross the driver as JS bigint, never number.
      encoding: { useBigIntAsLong: true },
      socketOptions: { connectTimeout: connectTimeoutMs, readTimeout: this.requestTimeoutMs },
      protocolOptions: { maxSchemaAgreementWaitSeconds: Math.ceil(this.schemaTimeoutMs / 1000) },
      policies: {
        reconnection: new policies.reconnection.ExponentialReconnectionPolicy(reconnectBase, reconnectMax, false),
        // One more execution at most: with RF 3 and LOCAL_QUORUM, one node down is what this covers.
        ...(options.speculativeDelayMs ? { speculativeExecution: new policies.speculativeExecution.ConstantSpeculativeExecutionPolicy(options.speculativeDelayMs, 1) } : {}),
      },
      queryOptions: {
        consistency: this.consistency,
        serialConsistency: this.serialConsistency,
        prepare: true,
        captureStackTrace: false,
      },
    });
    // cassandra-driver 4.10: when the control connection re-initialises after losing every host
    // ("refreshing contact points"), it replaces the Host objects of client.hosts without shutting
    // the replaced ones down. Their pools then reconnect forever, outliving shutdown() and keeping
    // the process alive. A replaced host gets no new requests; shut it down once those already
    // sent through it have had their timeout, or at close().
    this.client.on('hostRemove', (host: unknown) => {
      this.replacedHosts.add(host);
      setTimeout(() => {
        this.replacedHosts.delete(host);
        shutDownHost(host);
      }, this.requestTimeoutMs + 100).unref();
    });
  }

  /** `keyspace.table`, for statements (names are validated, so this is safe to interpolate). */
  table(name: string): string {
    return `${this.keyspace}.${name}`;
  }

  /** Connects (and fails with UNAVAILABLE within the deadline if no contact point answers). */
  async connect(): Promise<void> {
    await this.guard('connect', this.deadlineMs, () => this.client.connect());
  }

  /** Runs one prepared statement. `what` names the operation in errors. */
  execute(what: string, query: string, params: ArrayOrObject, options: StatementOptions): Promise<types.ResultSet> {
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    return this.guard(what, timeoutMs + this.deadlineMs - this.requestTimeoutMs, () =>
      this.client.execute(query, params, this.queryOptions(options.idempotent, timeoutMs)),
    );
  }

  /** Runs a batch of prepared statements: logged (atomic across partitions) or unlogged. */
  batch(what: string, statements: readonly BatchStatement[], options: StatementOptions & { logged: boolean }): Promise<types.ResultSet> {
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    return this.guard(what, timeoutMs + this.deadlineMs - this.requestTimeoutMs, () =>
      this.client.batch(
        statements.map((s) => ({ query: s.query, params: s.params })),
        { ...this.queryOptions(options.idempotent, timeoutMs), logged: options.logged },
      ),
    );
  }

  /**
   * Every row of a query, fetched `pageSize` at a time. For reads bounded by their partition
   * (one user's conversations, one group's members), never for scans.
   */
  async selectAll(what: string, query: string, params: ArrayOrObject, pageSize = 1000): Promise<types.Row[]> {
    const rows: types.Row[] = [];
    let pageState: string | undefined;
    do {
      const result = await this.guard(what, this.deadlineMs, () =>
        this.client.execute(query, params, { ...this.queryOptions(true, this.requestTimeoutMs), fetchSize: pageSize, pageState }),
      );
      rows.push(...result.rows);
      pageState = result.pageState ?? undefined;
    } while (pageState);
    return rows;
  }

  /** Runs one schema statement (not prepared; waits for schema agreement). */
  schema(what: string, query: string): Promise<types.ResultSet> {
    return this.guard(what, this.schemaTimeoutMs + this.deadlineMs, () =>
      this.client.execute(query, [], { prepare: false, readTimeout: this.schemaTimeoutMs, consistency: this.consistency }),
    );
  }

  /** Closes every connection. Calls made afterwards fail with UNAVAILABLE. */
  async close(): Promise<void> {
    try {
      await this.guard('shutdown', this.deadlineMs, () => this.client.shutdown());
    } finally {
      for (const host of this.replacedHosts) shutDownHost(host);
      this.replacedHosts.clear();
    }
  }

  private queryOptions(idempotent: boolean, timeoutMs: number): QueryOptions {
    return {
      prepare: true,
      isIdempotent: idempotent,
      readTimeout: timeoutMs,
      consistency: this.consistency,
      serialConsistency: this.serialConsistency,
    };
  }

  /**
   * Runs a driver call under a deadline of its own (the driver's timeouts cover one request; this
   * covers connecting, retries and anything else that could wait) and maps its failures.
   */
  private async guard<T>(what: string, deadlineMs: number, call: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CassandraDeadlineError(what, deadlineMs)), deadlineMs);
      timer.unref();
    });
    try {
      // race() subscribes to the call, so a late rejection after the deadline is never unhandled.
      return await Promise.race([call(), deadline]);
    } catch (err) {
      throw toStoreError(err, what);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Builds the session for `options`; it connects on first use (or on `connect()`). */
export function createCassandraSession(options: CassandraOptions): CassandraSession {
  return new CassandraSession(options);
}

function shutDownHost(host: unknown): void {
  const shutdown = (host as { shutdown?: unknown } | null)?.shutdown;
  if (typeof shutdown !== 'function') return;
  const done: unknown = shutdown.call(host, false);
  if (done instanceof Promise) done.catch(() => undefined);
}

function positive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

function validReplication(replication: KeyspaceReplication): KeyspaceReplication {
  if (replication.class === 'SimpleStrategy') {
    positive(replication.replicationFactor, 'replicationFactor');
  } else {
    const entries = Object.entries(replication.dataCenters);
    if (entries.length === 0) throw new RangeError('NetworkTopologyStrategy needs at least one data center');
    for (const [dc, rf] of entries) {
      if (!DATA_CENTER.test(dc)) throw new RangeError(`data center name ${JSON.stringify(dc)} is not valid`);
      positive(rf, `replication factor of ${dc}`);
    }
  }
  return replication;
}

/** `LOCAL_QUORUM` -> `localQuorum`, the key of `types.consistencies`. */
function camel(level: Consistency | SerialConsistency): keyof typeof types.consistencies {
  return level.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof typeof types.consistencies;
}
