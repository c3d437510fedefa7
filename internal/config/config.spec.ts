import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, describeSettings, loadConfig, requireSettings } from './config';
import { SETTINGS } from './config-schema';

describe('loadConfig', () => {
  it('applies defaults and parses types', () => {
    const c = loadConfig({ CHAT_DEV_MODE: 'true' });
    assert.equal(c.httpPort, 8080);
    assert.equal(c.devMode, true);
    assert.deepEqual(c.jwtAlgorithms, ['HS256']);
    assert.equal(c.maxGroupSize, 500);
  });

  it('names every bad variable', () => {
    assert.throws(
      () => loadConfig({ CHAT_HTTP_PORT: 'eighty', CHAT_MAX_GROUP_SIZE: '-1', CHAT_DEV_MODE: 'true' }),
      (err: unknown) => err instanceof ConfigError && err.problems.length === 2 && /CHAT_HTTP_PORT/.test(err.message) && /CHAT_MAX_GROUP_SIZE/.test(err.message),
    );
  });

  it('requires a secret outside dev mode', () => {
    assert.throws(() => loadConfig({}), /CHAT_JWT_SECRET is required/);
    assert.doesNotThrow(() => loadConfig({ CHAT_JWT_SECRET: 'x'.repeat(32) }));
  });

  it('rejects a short secret and unknown algorithms', () => {
    assert.throws(() => loadConfig({ CHAT_JWT_SECRET: 'short' }), /CHAT_JWT_SECRET/);
    assert.throws(() => loadConfig({ CHAT_DEV_MODE: '1', CHAT_JWT_ALGORITHMS: 'none' }), /CHAT_JWT_ALGORITHMS/);
  });

  it('requires the endpoints of the engines it selects', () => {
    assert.throws(() => loadConfig({ CHAT_DEV_MODE: 'true', CHAT_BUS: 'kafka', CHAT_SESSIONS: 'redis', CHAT_STORE: 'cassandra' }), (err: unknown) => err instanceof ConfigError && err.problems.length === 3);
    assert.throws(() => loadConfig({ CHAT_DEV_MODE: 'true', CHAT_STORE: 'mysql' }), /CHAT_STORE/);
    const c = loadConfig({ CHAT_DEV_MODE: 'true', CHAT_SESSIONS: 'redis', CHAT_REDIS_URL: 'redis://127.0.0.1:16379' });
    assert.equal(c.sessions, 'redis');
  });

  it('takes TLS files only in complete sets', () => {
    assert.throws(() => loadConfig({ CHAT_DEV_MODE: 'true', CHAT_TLS_CERT_FILE: 'c.pem' }), /CHAT_TLS_CERT_FILE and CHAT_TLS_KEY_FILE go together/);
    assert.throws(() => loadConfig({ CHAT_DEV_MODE: 'true', CHAT_GRPC_TLS_CA_FILE: 'ca.pem', CHAT_GRPC_TLS_CERT_FILE: 'c.pem' }), /CHAT_GRPC_TLS_CA_FILE, CHAT_GRPC_TLS_CERT_FILE and CHAT_GRPC_TLS_KEY_FILE go together/);
    assert.doesNotThrow(() => loadConfig({ CHAT_DEV_MODE: 'true', CHAT_TLS_CERT_FILE: 'c.pem', CHAT_TLS_KEY_FILE: 'k.pem' }));
  });

  it('takes the relay flow-control knobs: window, queue bound and liveness timeout', () => {
    const c = loadConfig({ CHAT_DEV_MODE: 'true' });
    assert.deepEqual([c.relayMaxBatch, c.relayMaxInFlight, c.relayMaxQueued, c.relayAckTimeoutMs], [256, 4, 4096, 3000]);
    const tuned = loadConfig({ CHAT_DEV_MODE: 'true', CHAT_RELAY_MAX_IN_FLIGHT: '16', CHAT_RELAY_MAX_QUEUED: '100000', CHAT_RELAY_ACK_TIMEOUT_MS: '500' });
    assert.deepEqual([tuned.relayMaxInFlight, tuned.relayMaxQueued, tuned.relayAckTimeoutMs], [16, 100000, 500]);
    assert.throws(
      () => loadConfig({ CHAT_DEV_MODE: 'true', CHAT_RELAY_MAX_IN_FLIGHT: '0', CHAT_RELAY_MAX_QUEUED: 'lots' }),
      (err: unknown) => err instanceof ConfigError && err.problems.length === 2 && /CHAT_RELAY_MAX_IN_FLIGHT/.test(err.message) && /CHAT_RELAY_MAX_QUEUED/.test(err.message),
    );
  });

  it('takes the ack batching knobs: flush interval and batch size, both positive', () => {
    const c = loadConfig({ CHAT_DEV_MODE: 'true' });
    assert.deepEqual([c.ackFlushMs, c.ackMaxBatch], [1000, 500]);
    const tuned = loadConfig({ CHAT_DEV_MODE: 'true', CHAT_ACK_FLUSH_MS: '250', CHAT_ACK_MAX_BATCH: '2000' });
    assert.deepEqual([tuned.ackFlushMs, tuned.ackMaxBatch], [250, 2000]);
    assert.throws(
      () => loadConfig({ CHAT_DEV_MODE: 'true', CHAT_ACK_FLUSH_MS: '0', CHAT_ACK_MAX_BATCH: 'many' }),
      (err: unknown) => err instanceof ConfigError && err.problems.length === 2 && /CHAT_ACK_FLUSH_MS/.test(err.message) && /CHAT_ACK_MAX_BATCH/.test(err.message),
    );
  });

  it('takes the SQLite writer thread and its bounds: batch size and queue, both positive, linger 0 to 100 ms', () => {
    const c = loadConfig({ CHAT_DEV_MODE: 'true' });
    assert.deepEqual([c.sqliteWriterThread, c.sqliteWriteMaxBatch, c.sqliteWriteMaxQueued], [true, 1000, 100_000]);
    const tuned = loadConfig({ CHAT_DEV_MODE: 'true', CHAT_SQLITE_WRITER_THREAD: 'false', CHAT_SQLITE_WRITE_MAX_BATCH: '64', CHAT_SQLITE_WRITE_MAX_QUEUED: '5000' });
    assert.deepEqual([tuned.sqliteWriterThread, tuned.sqliteWriteMaxBatch, tuned.sqliteWriteMaxQueued], [false, 64, 5000]);
    assert.throws(
      () => loadConfig({ CHAT_DEV_MODE: 'true', CHAT_SQLITE_WRITE_MAX_BATCH: '0', CHAT_SQLITE_WRITE_MAX_QUEUED: 'lots', CHAT_SQLITE_WRITER_THREAD: 'maybe' }),
      (err: unknown) => err instanceof ConfigError && err.problems.length === 3 && /CHAT_SQLITE_WRITE_MAX_BATCH="0": Too small: expected number to be >=1/.test(err.message) && /CHAT_SQLITE_WRITE_MAX_QUEUED="lots"/.test(err.message) && /CHAT_SQLITE_WRITER_THREAD="maybe"/.test(err.message),
    );
    assert.throws(() => loadConfig({ CHAT_DEV_MODE: 'true', CHAT_SQLITE_WRITE_MAX_BATCH: '100001' }), /CHAT_SQLITE_WRITE_MAX_BATCH="100001": Too big: expected number to be <=100000/);
    assert.equal(c.sqliteWriteLingerMs, 0);
    assert.equal(loadConfig({ CHAT_DEV_MODE: 'true', CHAT_SQLITE_WRITE_LINGER_MS: '2' }).sqliteWriteLingerMs, 2);
    for (const bad of ['-1', '101', 'soon']) assert.throws(() => loadConfig({ CHAT_DEV_MODE: 'true', CHAT_SQLITE_WRITE_LINGER_MS: bad }), /CHAT_SQLITE_WRITE_LINGER_MS/);
  });

  it('takes the Kafka producer linger, 0 to 100 ms, 2 by default', () => {
    assert.equal(loadConfig({ CHAT_DEV_MODE: 'true' }).kafkaLingerMs, 2);
    assert.equal(loadConfig({ CHAT_DEV_MODE: 'true', CHAT_KAFKA_LINGER_MS: '0' }).kafkaLingerMs, 0);
    for (const bad of ['-1', '101', 'soon']) assert.throws(() => loadConfig({ CHAT_DEV_MODE: 'true', CHAT_KAFKA_LINGER_MS: bad }), /CHAT_KAFKA_LINGER_MS/);
  });

  it('takes replicated engines: Kafka min.insync.replicas within the replication factor, Redis sentinels as host:port', () => {
    const c = loadConfig({ CHAT_DEV_MODE: 'true' });
    assert.deepEqual([c.kafkaMinInsyncReplicas, c.redisSentinels, c.redisSentinelName], [undefined, undefined, 'chat']);
    const ha = loadConfig({ CHAT_DEV_MODE: 'true', CHAT_KAFKA_REPLICATION_FACTOR: '3', CHAT_KAFKA_MIN_INSYNC_REPLICAS: '2', CHAT_REDIS_SENTINELS: '127.0.0.1:26380, 127.0.0.1:26381', CHAT_REDIS_SENTINEL_NAME: 'mesh' });
    assert.deepEqual([ha.kafkaMinInsyncReplicas, ha.redisSentinels, ha.redisSentinelName], [2, '127.0.0.1:26380, 127.0.0.1:26381', 'mesh']);
    assert.throws(() => loadConfig({ CHAT_DEV_MODE: 'true', CHAT_KAFKA_MIN_INSYNC_REPLICAS: '2' }), /CHAT_KAFKA_MIN_INSYNC_REPLICAS must not exceed CHAT_KAFKA_REPLICATION_FACTOR/);
    for (const bad of ['127.0.0.1', 'a:1,,b:2', 'a:port']) assert.throws(() => loadConfig({ CHAT_DEV_MODE: 'true', CHAT_REDIS_SENTINELS: bad }), /CHAT_REDIS_SENTINELS.*host:port/);
    assert.equal(loadConfig({ CHAT_DEV_MODE: 'true' }).cassandraSpeculativeDelayMs, 300);
    assert.equal(loadConfig({ CHAT_DEV_MODE: 'true', CHAT_CASSANDRA_SPECULATIVE_DELAY_MS: '0' }).cassandraSpeculativeDelayMs, 0);
    assert.throws(() => loadConfig({ CHAT_DEV_MODE: 'true', CHAT_CASSANDRA_SPECULATIVE_DELAY_MS: '-5' }), /CHAT_CASSANDRA_SPECULATIVE_DELAY_MS/);
  });

  it('takes a Redis Cluster as host:port seeds, in place of CHAT_REDIS_URL, never with Sentinels', () => {
    const nodes = '127.0.0.1:16701, 127.0.0.1:16702';
    const c = loadConfig({ CHAT_DEV_MODE: 'true', CHAT_SESSIONS: 'redis', CHAT_REDIS_CLUSTER_NODES: nodes });
    assert.deepEqual([c.redisClusterNodes, c.redisUrl], [nodes, undefined]);
    assert.doesNotThrow(() => requireSettings(c, ['redisUrl'], 'chat-server'));
    assert.throws(() => requireSettings(loadConfig({ CHAT_DEV_MODE: 'true' }), ['redisUrl'], 'chat-server'), /CHAT_REDIS_URL \(or CHAT_REDIS_CLUSTER_NODES\) is required by chat-server/);
    assert.throws(() => loadConfig({ CHAT_DEV_MODE: 'true', CHAT_SESSIONS: 'redis' }), /CHAT_REDIS_URL \(or CHAT_REDIS_CLUSTER_NODES\) is required for CHAT_SESSIONS=redis/);
    assert.throws(() => loadConfig({ CHAT_DEV_MODE: 'true', CHAT_REDIS_CLUSTER_NODES: nodes, CHAT_REDIS_SENTINELS: '127.0.0.1:26380' }), /exclude each other/);
    for (const bad of ['127.0.0.1', 'a:1,,b:2']) assert.throws(() => loadConfig({ CHAT_DEV_MODE: 'true', CHAT_REDIS_CLUSTER_NODES: bad }), /CHAT_REDIS_CLUSTER_NODES.*host:port/);
  });

  it('takes the services\' max gRPC connection age, 5 min by default, 0 for never', () => {
    assert.equal(loadConfig({ CHAT_DEV_MODE: 'true' }).grpcMaxConnectionAgeMs, 300_000);
    assert.equal(loadConfig({ CHAT_DEV_MODE: 'true', CHAT_GRPC_MAX_CONNECTION_AGE_MS: '0' }).grpcMaxConnectionAgeMs, 0);
    assert.throws(() => loadConfig({ CHAT_DEV_MODE: 'true', CHAT_GRPC_MAX_CONNECTION_AGE_MS: '-1' }), /CHAT_GRPC_MAX_CONNECTION_AGE_MS/);
  });

  it('takes the presence watch TTL, positive, 60 s by default', () => {
    assert.equal(loadConfig({ CHAT_DEV_MODE: 'true' }).presenceWatchTtlMs, 60_000);
    assert.equal(loadConfig({ CHAT_DEV_MODE: 'true', CHAT_PRESENCE_WATCH_TTL_MS: '1500' }).presenceWatchTtlMs, 1500);
    assert.throws(() => loadConfig({ CHAT_DEV_MODE: 'true', CHAT_PRESENCE_WATCH_TTL_MS: '0' }), /CHAT_PRESENCE_WATCH_TTL_MS/);
  });

  it('lists every variable in the help text', () => {
    assert.match(describeSettings(), /CHAT_MAX_FRAME_BYTES/);
  });
});

describe('README', () => {
  it('documents every setting', () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    const missing = Object.values(SETTINGS).filter((s) => !readme.includes(`| \`${s.env}\` |`)).map((s) => s.env);
    assert.deepEqual(missing, [], 'add these to the configuration table in README.md');
  });

  it('shows the default of every relay setting', () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    const relay = Object.values(SETTINGS).filter((s) => s.env.startsWith('CHAT_RELAY_'));
    assert.ok(relay.length >= 7, `${relay.length} relay settings`);
    const stale = relay.filter((s) => !readme.includes(`| \`${s.env}\` | ${s.default} |`)).map((s) => s.env);
    assert.deepEqual(stale, [], 'the README rows of these relay settings show another default');
  });
});
