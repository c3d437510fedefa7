import { loadPackageDefinition, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';

type HealthClient = { check(req: { service: string }, cb: (err: ServiceError | null, res?: { status: string }) => void): void; close(): void };
const Health = (loadPackageDefinition(loadSync(healthProtoPath, { enums: String })) as unknown as { grpc: { health: { v1: { Health: new (addr: string, creds: ChannelCredentials) => HealthClient } } } }).grpc.health.v1.Health;

/** grpc.health.v1 Check of a gRPC server with the given credentials: its status, or the call's error. */
export function healthStatus(address: string, creds: ChannelCredentials): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const client = new Health(address, creds);
    client.check({ service: '' }, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(res!.status);
    });
  });
}
