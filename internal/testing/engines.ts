import { randomBytes } from 'node:crypto';

/** The environment variables through which the real-engine test tier finds its servers. */
export type EngineEnv = 'CHAT_REDIS_URL' | 'CHAT_REDIS_CLUSTER_NODES' | 'CHAT_KAFKA_BROKERS' | 'CHAT_CASSANDRA_CONTACT_POINTS';

/**
 * The endpoint of a real engine for `*.engine.spec.ts`. Engine tests never skip: a missing engine
 * is a failed run with the way to fix it, not a green run that proved nothing.
 * @throws Error naming the variable and how to provide it.
 */
export function requireEngineEnv(name: EngineEnv): string {
  const value = process.env[name];
  if (value && value.trim() !== '') return value.trim();
  throw new Error(
    `${name} is not set: the engine tests need a real server. Run them through \`make test\`, ` +
      `or start the engines with \`eval "$(deploy/local/up all redis-cluster)"\` and run them again in that shell.`,
  );
}

/**
 * A short string unique to this call, for Redis key prefixes, Kafka topics and Cassandra
 * keyspaces, so runs and suites sharing one server never see each other's data. Lowercase
 * letters, digits and `_` only (valid as a keyspace name), starting with a letter.
 */
export function uniquePrefix(tag: string): string {
  const clean = tag.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 16) || 't';
  const start = /^[a-z]/.test(clean) ? clean : `t_${clean}`;
  return `${start}_${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}
