import { readFileSync } from 'node:fs';
import { credentials, ServerCredentials, type ChannelCredentials } from '@grpc/grpc-js';
import type { Config } from '../config/config';

/**
 * The internal CA and this process's certificate for mTLS between the services of the mesh: a
 * server requires a client certificate signed by `ca`, and a client trusts only `ca` for the
 * server (never the public roots), presenting its own certificate.
 */
export interface GrpcTls {
  /** PEM of the internal CA. */
  ca: Buffer;
  /** PEM certificate chain of this process, signed by the CA. */
  cert: Buffer;
  /** PEM private key of `cert`. */
  key: Buffer;
}

/** Reads CHAT_GRPC_TLS_CA_FILE / _CERT_FILE / _KEY_FILE; undefined (plaintext) when unset. */
export function grpcTlsFromConfig(config: Pick<Config, 'grpcTlsCaFile' | 'grpcTlsCertFile' | 'grpcTlsKeyFile'>): GrpcTls | undefined {
  if (!config.grpcTlsCaFile || !config.grpcTlsCertFile || !config.grpcTlsKeyFile) return undefined;
  return { ca: readFileSync(config.grpcTlsCaFile), cert: readFileSync(config.grpcTlsCertFile), key: readFileSync(config.grpcTlsKeyFile) };
}

/** mTLS server credentials (client certificates required and checked), or plaintext without `tls`. */
export function grpcServerCredentials(tls: GrpcTls | undefined): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(tls.ca, [{ cert_chain: tls.cert, private_key: tls.key }], true);
}

/**
 * Channel credentials pinned to the internal CA, presenting this process's certificate; plaintext
 * without `tls`. grpc-js uses exactly the roots given here, so a server certificate from any
 * other CA (public ones included) is refused.
 */
export function grpcChannelCredentials(tls: GrpcTls | undefined): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  return credentials.createSsl(tls.ca, tls.key, tls.cert);
}
