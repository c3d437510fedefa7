import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens (port 0 picks a free one) and resolves with the bound port. */
export function listen(server: HttpServer, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
