import { readFileSync } from 'node:fs';
import type { Config } from '../config/config';

/** The certificate and key of the HTTP/WS port. */
export interface HttpTls {
  cert: Buffer;
  key: Buffer;
}

/** Reads CHAT_TLS_CERT_FILE / CHAT_TLS_KEY_FILE; undefined (plain http and ws) when unset. */
export function httpTlsFromConfig(config: Pick<Config, 'tlsCertFile' | 'tlsKeyFile'>): HttpTls | undefined {
  if (!config.tlsCertFile || !config.tlsKeyFile) return undefined;
  return { cert: readFileSync(config.tlsCertFile), key: readFileSync(config.tlsKeyFile) };
}
