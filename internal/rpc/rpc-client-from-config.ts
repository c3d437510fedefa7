import type { Config } from '../config/config';
import type { Closer } from '../engines/open-engines';
import { RpcClient } from './grpc-client';
import { grpcTlsFromConfig } from './grpc-tls';
import type { ServiceCredentials } from './service-token';
import type { ServiceDef } from './unary-method';

/** A client of one of our services at `address`, tuned by the CHAT_RPC_ settings; closed with the process. */
export function rpcClientFromConfig<D extends ServiceDef>(definition: D, address: string, config: Config, credentials: ServiceCredentials, closers: Closer[]): RpcClient<D> {
  const client = new RpcClient(definition, { address, credentials, timeoutMs: config.rpcTimeoutMs, maxAttempts: config.rpcMaxAttempts, maxMessageBytes: config.rpcMaxMessageBytes, tls: grpcTlsFromConfig(config) });
  closers.push(() => client.close());
  return client;
}
