import { Client, Metadata, type ServiceError } from '@grpc/grpc-js';
import { ChatError } from '../errors/chat-error';
import { fromGrpcStatus } from '../errors/error-codes';
import { grpcChannelCredentials, type GrpcTls } from './grpc-tls';
import type { ServiceCredentials } from './service-token';
import type { MethodDef, Req, Res, ServiceDef } from './unary-method';

export interface RpcClientOptions {
  /** Where the service's replicas are: see {@link grpcTarget}. */
  address: string;
  credentials: ServiceCredentials;
  /** Deadline of each call, retries included. */
  timeoutMs: number;
  /** Attempts per call on UNAVAILABLE (every internal RPC is idempotent), at least 1. */
  maxAttempts: number;
  maxMessageBytes?: number;
  /** mTLS with the internal CA; plaintext without it. */
  tls?: GrpcTls;
}

/**
 * A client of one of our gRPC services, typed by its generated definition. Every call carries a
 * service token and a deadline; grpc-js retries UNAVAILABLE with exponential backoff (all our
 * internal RPCs are idempotent) and keeps the channel alive with pings. Errors come back as
 * ChatErrors through the one error table.
 */
export class RpcClient<D extends ServiceDef> {
  private readonly client: Client;

  constructor(
    private readonly service: D,
    private readonly opts: RpcClientOptions,
  ) {
    this.client = new Client(grpcTarget(opts.address), grpcChannelCredentials(opts.tls), channelOptions(service.fullName, opts));
  }

  /** Calls one unary method; `as` forwards a caller's own token instead of the service token. */
  async call<K extends keyof D['methods'] & string>(key: K, req: Req<D['methods'][K]>, opts: { timeoutMs?: number; as?: string } = {}): Promise<Res<D['methods'][K]>> {
    const method: MethodDef = this.service.methods[key];
    const timeoutMs = opts.timeoutMs ?? this.opts.timeoutMs;
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${opts.as ?? (await this.opts.credentials.token())}`);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        `/${this.service.fullName}/${method.name}`,
        (m: unknown) => Buffer.from(method.requestType.encode(m).finish()),
        (b: Buffer) => method.responseType.decode(b),
        req,
        metadata,
        { deadline: Date.now() + timeoutMs },
        (err: ServiceError | null, res?: unknown) => {
          if (err) reject(toChatError(err, `${this.service.fullName}/${method.name} at ${this.opts.address}`));
          else resolve(res as Res<D['methods'][K]>);
        },
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

const SCHEME = /^(dns|ipv4|ipv6|unix):/;
const IP_PORT = /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]):\d{1,5}$/;

/**
 * The gRPC target of a service address, as configured:
 * - `host:port`: one name; every address it resolves to is a replica;
 * - `ip:port,ip:port,...`: a fixed list of replicas (IPv4, or IPv6 in brackets);
 * - `dns:///name:port` (or any grpc target with a scheme): passed as is, e.g. a Kubernetes
 *   headless service, whose name resolves to every ready pod.
 * Calls are spread over the replicas that are up (round robin, see channelOptions).
 * @throws RangeError for a list entry that is not ip:port.
 */
export function grpcTarget(address: string): string {
  const value = address.trim();
  if (SCHEME.test(value) || !value.includes(',')) return value;
  const entries = value.split(',').map((e) => e.trim());
  const bad = entries.find((e) => !IP_PORT.test(e));
  if (bad !== undefined) throw new RangeError(`service address list entry ${JSON.stringify(bad)} is not ip:port (for a name with several addresses, give dns:///name:port)`);
  return `${entries[0].startsWith('[') ? 'ipv6' : 'ipv4'}:${entries.join(',')}`;
}

/**
 * Channel options shared by every internal client: keepalive, message size, retry policy, and
 * round robin over the service's replicas. A replica that goes away takes its subchannel out of the
 * rotation when its connection fails (keepalive finds a silent one); a call that was in flight on it
 * fails UNAVAILABLE and is retried on another, every internal RPC being idempotent.
 */
export function channelOptions(serviceName: string, opts: Pick<RpcClientOptions, 'maxAttempts' | 'maxMessageBytes'>): Record<string, string | number> {
  const serviceConfig = {
    loadBalancingConfig: [{ round_robin: {} }],
    methodConfig: [
      {
        name: [{ service: serviceName }],
        retryPolicy: { maxAttempts: Math.max(2, opts.maxAttempts), initialBackoff: '0.05s', maxBackoff: '1s', backoffMultiplier: 2, retryableStatusCodes: ['UNAVAILABLE'] },
      },
    ],
  };
  return {
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.enable_retries': opts.maxAttempts > 1 ? 1 : 0,
    'grpc.service_config': JSON.stringify(serviceConfig),
    'grpc.max_receive_message_length': opts.maxMessageBytes ?? 16 * 1024 * 1024,
  };
}

function toChatError(err: ServiceError, what: string): ChatError {
  const e = fromGrpcStatus(err.code, err.details || err.message);
  if (e.codeName === 'UNAVAILABLE') return ChatError.unavailable(`${what}: ${err.details || err.message}`);
  return e;
}
