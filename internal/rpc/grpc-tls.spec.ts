import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, status, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { healthStatus } from '../testing/health-check';
import { TestCa } from '../testing/test-certs';
import { startGrpcServer, type RunningGrpcServer } from './grpc-server';
import { grpcChannelCredentials, grpcTlsFromConfig, type GrpcTls } from './grpc-tls';

/** mTLS between internal services: certificates of a throwaway CA, a real grpc-js server and clients. */
describe('gRPC mTLS with the internal CA', () => {
  let ca: TestCa;
  let tls: GrpcTls;
  let server: RunningGrpcServer;

  before(async () => {
    ca = TestCa.create('internal-ca');
    const own = ca.issue('history-service');
    tls = grpcTlsFromConfig({ grpcTlsCaFile: ca.ca.certFile, grpcTlsCertFile: own.certFile, grpcTlsKeyFile: own.keyFile })!;
    server = await startGrpcServer({ host: '127.0.0.1', port: 0, services: [], maxMessageBytes: 65536, tls });
  });
  after(async () => server.close());

  const check = (creds: ChannelCredentials): Promise<string> => healthStatus(`127.0.0.1:${server.port}`, creds);

  it('serves a client presenting a certificate of the internal CA', async () => {
    const peer = ca.issue('chat-server-1');
    assert.equal(await check(grpcChannelCredentials({ ca: ca.ca.cert, cert: peer.cert, key: peer.key })), 'SERVING');
  });

  it('refuses clients without a certificate, with one of another CA, and in plaintext', async () => {
    const rogue = TestCa.create('rogue-ca').issue('intruder');
    for (const creds of [credentials.createSsl(ca.ca.cert), credentials.createSsl(ca.ca.cert, rogue.key, rogue.cert), credentials.createInsecure()]) {
      await assert.rejects(check(creds), (err: ServiceError) => err.code === status.UNAVAILABLE);
    }
  });

  it('as a client, trusts only the internal CA: a server certificate of another CA is refused', async () => {
    const other = TestCa.create('public-looking-ca');
    const peer = ca.issue('chat-server-2');
    await assert.rejects(check(grpcChannelCredentials({ ca: other.ca.cert, cert: peer.cert, key: peer.key })), (err: ServiceError) => err.code === status.UNAVAILABLE);
  });
});
