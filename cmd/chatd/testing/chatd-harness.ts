import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Metadata } from '@grpc/grpc-js';
import pino from 'pino';
import { ChatClient, type ChatClientOptions } from '../../../internal/client/chat-client';
import { ChatHttpClient } from '../../../internal/client/http-client';
import { ChatApi } from '../../../internal/client/chat-api';
import { TokenIssuer } from '../../../internal/auth/token-issuer';
import { loadConfig, type Config } from '../../../internal/config/config';
import type { SettingKey } from '../../../internal/config/config-schema';
import { requireEngineEnv, uniquePrefix } from '../../../internal/testing/engines';
import { startChatd, type RunningChatd } from '../chatd';

export const TEST_SECRET = 'integration-test-secret-0123456789abcdef';

/** A chatd on free ports with its own data directory, plus ways to talk to it as any user. */
export class TestChatd {
  private constructor(
    readonly config: Config,
    private running: RunningChatd,
    private readonly ownsDir: boolean,
  ) {}

  /** Starts chatd on port 0 with a fresh temp data dir (or the given one). */
  static async start(overrides: Partial<Record<SettingKey, string>> = {}): Promise<TestChatd> {
    const dataDir = overrides.dataDir ?? mkdtempSync(join(tmpdir(), 'chatd-test-'));
    const config = loadConfig({}, { devMode: 'true', jwtSecret: TEST_SECRET, httpPort: '0', grpcPort: '0', logLevel: 'silent', shutdownGraceMs: '200', ...engineOverrides(), ...overrides, dataDir });
    const level = process.env.CHAT_TEST_LOG_LEVEL ?? 'silent';
    return new TestChatd(config, await startChatd(config, pino({ level })), overrides.dataDir === undefined);
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.running.httpPort}`;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.running.httpPort}/ws`;
  }

  get grpcAddress(): string {
    return `127.0.0.1:${this.running.grpcPort}`;
  }

  token(userId: string, ttlSec = 3600): Promise<string> {
    return new TokenIssuer(TEST_SECRET, { ttlSec }).userToken(userId);
  }

  serviceToken(name = 'test-service'): Promise<string> {
    return new TokenIssuer(TEST_SECRET, { ttlSec: 3600 }).serviceToken(name);
  }

  /** A WebSocket client for `userId` (binary protobuf unless `format: 'json'`). */
  async connect(userId: string, opts: Partial<ChatClientOptions> = {}): Promise<ChatClient> {
    return ChatClient.connect({ url: this.wsUrl, token: await this.token(userId), deviceId: `${userId}-dev`, requestTimeoutMs: 5000, ...opts });
  }

  /** Typed public RPCs over the HTTP (Connect JSON) API, as `userId`. */
  async api(userId: string): Promise<ChatApi> {
    return new ChatApi(new ChatHttpClient({ baseUrl: this.httpUrl, token: await this.token(userId) }));
  }

  async grpcMetadata(userId: string): Promise<Metadata> {
    const md = new Metadata();
    md.set('authorization', `Bearer ${await this.token(userId)}`);
    return md;
  }

  get grpcCredentials(): ReturnType<typeof credentials.createInsecure> {
    return credentials.createInsecure();
  }

  /** Stops and starts again on the same data directory (new ports). */
  async restart(): Promise<void> {
    await this.running.stop();
    this.running = await startChatd({ ...this.config, httpPort: 0, grpcPort: 0 }, pino({ level: 'silent' }));
  }

  async stop(): Promise<void> {
    await this.running.stop();
    if (this.ownsDir) rmSync(this.config.dataDir, { recursive: true, force: true });
  }
}

/**
 * With CHAT_TEST_ADAPTERS=engines (set by `make test-engines`), every test chatd runs on Kafka,
 * Redis and Cassandra instead of the embedded adapters, in its own keyspace, key prefix and topic
 * prefix, so the same integration tests prove both adapter sets.
 */
function engineOverrides(): Partial<Record<SettingKey, string>> {
  const mode = process.env.CHAT_TEST_ADAPTERS ?? 'embedded';
  if (mode === 'embedded') return {};
  if (mode !== 'engines') throw new Error(`CHAT_TEST_ADAPTERS must be embedded or engines, got ${mode}`);
  const run = uniquePrefix('chatd');
  return {
    bus: 'kafka',
    sessions: 'redis',
    store: 'cassandra',
    kafkaBrokers: requireEngineEnv('CHAT_KAFKA_BROKERS'),
    kafkaTopicPrefix: `${run}.`,
    redisUrl: requireEngineEnv('CHAT_REDIS_URL'),
    redisKeyPrefix: `${run}:`,
    cassandraContactPoints: requireEngineEnv('CHAT_CASSANDRA_CONTACT_POINTS'),
    cassandraLocalDc: process.env.CHAT_CASSANDRA_LOCAL_DC ?? 'datacenter1',
    cassandraKeyspace: run,
    engineTimeoutMs: '10000',
  };
}

/** Client-side dedupe by message id, the way a real client shows messages exactly once. */
export function dedupeById<T extends { messageId: string }>(messages: readonly T[]): T[] {
  const seen = new Map<string, T>();
  for (const m of messages) seen.set(m.messageId, m);
  return [...seen.values()].sort((a, b) => (BigInt(a.messageId) < BigInt(b.messageId) ? -1 : 1));
}
