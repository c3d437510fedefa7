import { requireEngineEnv, uniquePrefix } from '../../testing/engines';
import { parseContactPoints, type CassandraOptions } from '../cassandra-session';

/**
 * Session options for an engine test file: the Cassandra that `make test` started, and one fresh
 * keyspace for the whole file (schema changes are slow; tests isolate themselves by ids).
 */
export function cassandraTestOptions(tag: string): { keyspace: string; localDataCenter: string; contactPoints: string[]; options: (extra?: Partial<CassandraOptions>) => CassandraOptions } {
  const contactPoints = parseContactPoints(requireEngineEnv('CHAT_CASSANDRA_CONTACT_POINTS'));
  const localDataCenter = process.env.CHAT_CASSANDRA_LOCAL_DC ?? 'datacenter1';
  const keyspace = uniquePrefix(tag);
  return {
    keyspace,
    localDataCenter,
    contactPoints,
    options: (extra = {}) => ({ contactPoints, localDataCenter, keyspace, requestTimeoutMs: 10_000, ...extra }),
  };
}
