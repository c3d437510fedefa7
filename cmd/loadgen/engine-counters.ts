import { Client as CassandraClient } from 'cassandra-driver';
import { Redis } from 'ioredis';
import { parseMetrics } from '../../internal/telemetry/metrics-parse';

/**
 * Work counters of a mesh, read from the engines themselves and from every process's /metrics, so
 * a run can say how many RPCs, Kafka requests, Cassandra statements and Redis commands each
 * message cost. Every figure is a running total; a run takes the difference over its window.
 *
 * - `redis commands`: INFO commandstats, every command but INFO itself (this probe's).
 * - `cassandra requests` (native protocol requests), `cassandra statements` (CQL statements
 *   executed, prepared or not; a batch counts once), `cassandra mutations` (MutationStage tasks:
 *   row writes, Paxos and batchlog included), `cassandra reads` (ReadStage tasks): Cassandra's
 *   own virtual tables. This probe's three queries per read are included (negligible).
 * - `rpc`: gRPC calls the processes served (chat_rpc_calls_total; a stream counts once).
 * - `kafka <api>`: Kafka requests the processes sent, by API (chat_kafka_requests_total).
 */
export class EngineCounters {
  private redis?: Redis;
  private cassandra?: CassandraClient;

  constructor(
    private readonly o: {
      /** redis://host:port of the mesh's Redis. */
      redisUrl?: string;
      /** host:port of one Cassandra node. */
      cassandraContactPoint?: string;
      cassandraLocalDc?: string;
      /** Base URLs of every process's HTTP server with /metrics. */
      metricsUrls: () => string[];
    },
  ) {}

  async read(): Promise<Record<string, number>> {
    const [redis, cassandra, scraped] = await Promise.all([this.readRedis(), this.readCassandra(), this.readMetrics()]);
    return { ...redis, ...cassandra, ...scraped };
  }

  async close(): Promise<void> {
    this.redis?.disconnect();
    await this.cassandra?.shutdown();
  }

  private async readRedis(): Promise<Record<string, number>> {
    if (!this.o.redisUrl) return {};
    this.redis ??= new Redis(this.o.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 1 });
    const info = await this.redis.info('commandstats');
    let calls = 0;
    for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (m[1] !== 'info') calls += Number(m[2]);
    return { 'redis commands': calls };
  }

  private async readCassandra(): Promise<Record<string, number>> {
    if (!this.o.cassandraContactPoint) return {};
    if (!this.cassandra) {
      const [host, port] = this.o.cassandraContactPoint.split(':');
      this.cassandra = new CassandraClient({ contactPoints: [host], protocolOptions: { port: Number(port ?? 9042) }, localDataCenter: this.o.cassandraLocalDc ?? 'datacenter1' });
    }
    const [pools, cql] = await Promise.all([
      this.cassandra.execute('SELECT name, completed_tasks FROM system_views.thread_pools'),
      this.cassandra.execute('SELECT name, value FROM system_views.cql_metrics'),
    ]);
    const pool = (name: string) => Number(pools.rows.find((r) => r.get('name') === name)?.get('completed_tasks') ?? 0);
    const metric = (name: string) => Number(cql.rows.find((r) => r.get('name') === name)?.get('value') ?? 0);
    return {
      'cassandra requests': pool('Native-Transport-Requests'),
      'cassandra statements': metric('prepared_statements_executed') + metric('regular_statements_executed'),
      'cassandra mutations': pool('MutationStage'),
      'cassandra reads': pool('ReadStage'),
    };
  }

  private async readMetrics(): Promise<Record<string, number>> {
    const out: Record<string, number> = { rpc: 0 };
    const pages = await Promise.all(
      this.o.metricsUrls().map(async (base) => {
        const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5000) });
        return res.ok ? parseMetrics(await res.text()) : new Map<string, number>();
      }),
    );
    for (const page of pages) {
      for (const [k, v] of page) {
        if (k.startsWith('chat_rpc_calls_total')) out.rpc += v;
        const kafka = /^chat_kafka_requests_total\{.*api="(\w+)"/.exec(k);
        if (kafka) out[`kafka ${kafka[1]}`] = (out[`kafka ${kafka[1]}`] ?? 0) + v;
      }
    }
    return out;
  }
}
