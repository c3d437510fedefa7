import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { dirname, join } from 'node:path';
import { loadPackageDefinition, type ChannelCredentials, type ClientDuplexStream } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ErrorCode } from '../../gen/chat/v1/errors';
import { ConnectRequest, ConnectResponse, GatewayServiceClient } from '../../gen/chat/v1/gateway';
import { GroupServiceClient, type CreateGroupResponse } from '../../gen/chat/v1/group';
import { HistoryServiceClient, type AppendMessageResponse } from '../../gen/chat/v1/history';
import { SessionServiceClient, type AddPresenceWatchesResponse, type LocateUsersResponse, type RegisterConnectionsResponse, type RenewServerLeaseResponse, type UnregisterConnectionsResponse, type WatchPresenceResponse } from '../../gen/chat/v1/session';
import { dmConversationId } from '../../internal/conversation/conversation-id';
import { waitUntil } from '../../internal/testing/wait-until';
import { TestChatd } from './testing/chatd-harness';

function unary<Res>(fn: (cb: (err: ServiceError | null, res: Res) => void) => void): Promise<Res> {
  return new Promise((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));
}

function moduleDir(name: string): string {
  return dirname(require.resolve(`${name}/package.json`));
}

/** A dynamic client of a service whose .proto ships inside an npm package (health, reflection). */
function loadService<T>(fullName: string, includeDir: string, file: string): new (address: string, creds: ChannelCredentials) => T & { close(): void } {
  const pkg = loadPackageDefinition(loadSync(file, { includeDirs: [includeDir] }));
  return fullName.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], pkg) as new (address: string, creds: ChannelCredentials) => T & { close(): void };
}

interface HealthClient {
  check(req: { service: string }, cb: (err: ServiceError | null, res: { status: number }) => void): void;
}

type ReflectionAnswer = { listServicesResponse?: { service: { name: string }[] } };
interface ReflectionClient {
  serverReflectionInfo(): ClientDuplexStream<object, ReflectionAnswer>;
}

describe('chatd over gRPC', () => {
  let chatd: TestChatd;
  before(async () => (chatd = await TestChatd.start()));
  after(async () => chatd.stop());

  it('speaks the client protocol on GatewayService.Connect, with the token as metadata, to WebSocket peers', async () => {
    const client = new GatewayServiceClient(chatd.grpcAddress, chatd.grpcCredentials);
    const call = client.connect(await chatd.grpcMetadata('rpc-ana'));
    const frames: ConnectResponse[] = [];
    call.on('data', (f: ConnectResponse) => frames.push(f));
    call.on('error', () => undefined);
    call.write({ requestId: 'h', frame: { $case: 'hello', value: { token: '', deviceId: 'grpc-dev', lastSeen: {}, resumeAfter: {} } } });
    await waitUntil(() => frames.some((f) => f.frame?.$case === 'welcome'));
    assert.equal(frames[0].requestId, 'h');

    const ws = await chatd.connect('rpc-bo', { format: 'json' });
    const conv = dmConversationId('rpc-ana', 'rpc-bo');
    call.write({ requestId: 's1', frame: { $case: 'send', value: { conversationId: conv, clientMsgId: 'g1', text: 'from grpc' } } });
    const m = await ws.waitForMessage((x) => x.text === 'from grpc');
    await waitUntil(() => frames.some((f) => f.requestId === 's1'));
    const ack = frames.find((f) => f.requestId === 's1');
    assert.equal(ack?.frame?.$case, 'sendAck');
    assert.equal(ack.frame.$case === 'sendAck' && ack.frame.value.messageId, m.messageId);

    const reply = await ws.send(conv, 'from ws');
    await waitUntil(() => frames.some((f) => f.frame?.$case === 'message' && f.frame.value.messageId === reply.messageId));
    call.write({ requestId: 'bad', frame: { $case: 'send', value: { conversationId: 'nope', clientMsgId: 'g2', text: 'x' } } });
    await waitUntil(() => frames.some((f) => f.requestId === 'bad' && f.frame?.$case === 'error'));
    call.end();
    await ws.close();
    client.close();
  });

  it('answers an undecodable Connect frame with MALFORMED_FRAME and keeps the stream, as /ws does', async () => {
    const client = new Client(chatd.grpcAddress, chatd.grpcCredentials);
    const call: ClientDuplexStream<Buffer, ConnectResponse> = client.makeBidiStreamRequest('/chat.v1.GatewayService/Connect', (b: Buffer) => b, (b: Buffer) => ConnectResponse.decode(b), await chatd.grpcMetadata('rpc-garbage'), { deadline: Date.now() + 10_000 });
    const frames: ConnectResponse[] = [];
    call.on('data', (f: ConnectResponse) => frames.push(f));
    call.on('error', () => undefined);
    const encode = (r: ConnectRequest) => Buffer.from(ConnectRequest.encode(r).finish());
    call.write(encode({ requestId: 'h', frame: { $case: 'hello', value: { token: '', deviceId: 'grpc-dev', lastSeen: {}, resumeAfter: {} } } }));
    // A refresh that fails (and closes) followed by bytes that are no protobuf: before, grpc-js ended
    // the call on the bytes and the answer to the refresh then held the stream open until the deadline.
    call.write(Buffer.from([1, 119, 248]));
    call.write(encode({ requestId: 'after', frame: { $case: 'heartbeat', value: {} } }));
    await waitUntil(() => frames.some((f) => f.requestId === 'after'), 5_000, 'the frame after the garbage to be answered');
    const malformed = frames.find((f) => f.frame?.$case === 'error');
    assert.equal(malformed?.frame?.$case === 'error' && malformed.frame.value.code, ErrorCode.ERROR_CODE_MALFORMED_FRAME);
    call.write(encode({ requestId: 'r', frame: { $case: 'refreshToken', value: { token: '' } } }));
    call.write(Buffer.from([1, 119, 248]));
    const ended = await new Promise<ServiceError>((resolve) => call.on('error', resolve));
    assert.equal(ended.code, status.UNAUTHENTICATED, 'the failed refresh closes the stream at once, garbage behind it or not');
    client.close();
  });

  it('refuses a Connect stream without a valid token with UNAUTHENTICATED', async () => {
    const client = new GatewayServiceClient(chatd.grpcAddress, chatd.grpcCredentials);
    const call = client.connect(new Metadata());
    const failed = new Promise<ServiceError>((resolve) => call.on('error', resolve));
    call.on('data', () => undefined);
    call.write({ requestId: '', frame: { $case: 'hello', value: { token: 'bogus', deviceId: 'd', lastSeen: {}, resumeAfter: {} } } });
    assert.equal((await failed).code, status.UNAUTHENTICATED);
    client.close();
  });

  it('serves unary RPCs with the caller from metadata and maps errors to gRPC statuses', async () => {
    const groups = new GroupServiceClient(chatd.grpcAddress, chatd.grpcCredentials);
    const md = await chatd.grpcMetadata('rpc-admin');
    const created = await unary<CreateGroupResponse>((cb) => groups.createGroup({ name: 'grpc group', memberIds: ['rpc-m'] }, md, cb));
    assert.equal(created.group?.memberCount, 2);
    const denied = await unary((cb) => groups.addMembers({ groupId: created.group!.groupId, userIds: ['x'] }, new Metadata(), cb)).catch((e: ServiceError) => e);
    assert.equal((denied as ServiceError).code, status.UNAUTHENTICATED);
    const other = await chatd.grpcMetadata('rpc-stranger');
    const forbidden = await unary((cb) => groups.getGroup({ groupId: created.group!.groupId }, other, cb)).catch((e: ServiceError) => e);
    assert.equal((forbidden as ServiceError).code, status.PERMISSION_DENIED);
    assert.deepEqual((forbidden as ServiceError).metadata.get('chat-error-code'), ['PERMISSION_DENIED']);
    const missing = await unary((cb) => groups.getGroup({ groupId: '42' }, md, cb)).catch((e: ServiceError) => e);
    assert.equal((missing as ServiceError).code, status.NOT_FOUND);
    groups.close();
  });

  it('keeps internal RPCs for service tokens', async () => {
    const history = new HistoryServiceClient(chatd.grpcAddress, chatd.grpcCredentials);
    const sessions = new SessionServiceClient(chatd.grpcAddress, chatd.grpcCredentials);
    const user = await chatd.grpcMetadata('rpc-user');
    const err = await unary<AppendMessageResponse>((cb) => history.appendMessage({ message: undefined, participantIds: [] }, user, cb)).catch((e: ServiceError) => e);
    assert.equal((err as ServiceError).code, status.PERMISSION_DENIED);
    const svc = new Metadata();
    svc.set('authorization', `Bearer ${await chatd.serviceToken()}`);
    const ws = await chatd.connect('rpc-located');
    const found = await unary<LocateUsersResponse>((cb) => sessions.locateUsers({ userIds: ['rpc-located'], serverId: '' }, svc, cb));
    assert.deepEqual(found.connections.map((c) => [c.userId, c.serverId, c.sessionId]), [['rpc-located', 'chatd-1', ws.welcome.sessionId]]);
    await ws.close();
    history.close();
    sessions.close();
  });

  it('registers and unregisters connections in batches, one result per connection', async () => {
    const sessions = new SessionServiceClient(chatd.grpcAddress, chatd.grpcCredentials);
    const svc = new Metadata();
    svc.set('authorization', `Bearer ${await chatd.serviceToken()}`);
    const conn = (userId: string, i: number) => ({ userId, deviceId: `d${i}`, sessionId: `chat-x.batch-${userId}-${i}`, serverId: 'chat-x', serverAddress: '127.0.0.1:1' });
    // Connections live under their server's lease: chat-x takes it first, as a chat server does on start.
    const lease = await unary<RenewServerLeaseResponse>((cb) => sessions.renewServerLease({ serverId: 'chat-x', instance: 'run-1' }, svc, cb));
    assert.equal(lease.lapsed, true);
    assert.ok(lease.ttlMs > 0);
    const foreign = await unary<RegisterConnectionsResponse>((cb) => sessions.registerConnections({ connections: [{ ...conn('batch-one', 9), sessionId: 'other.s' }] }, svc, cb));
    assert.equal(foreign.results[0].errorCode, ErrorCode.ERROR_CODE_INVALID_ARGUMENT, 'a session id names its server');
    // CHAT_MAX_CONNECTIONS_PER_USER is 10: the 11th connection of batch-many is refused alone.
    const connections = [conn('batch-one', 0), { ...conn('', 1), userId: '' }, ...Array.from({ length: 11 }, (_, i) => conn('batch-many', i))];
    const { results } = await unary<RegisterConnectionsResponse>((cb) => sessions.registerConnections({ connections }, svc, cb));
    assert.deepEqual(
      results.map((r) => [r.becameOnline, r.errorCode]),
      [[true, ErrorCode.ERROR_CODE_UNSPECIFIED], [false, ErrorCode.ERROR_CODE_INVALID_ARGUMENT], ...results.slice(2).map((_, i) => (i < 10 ? [i === 0, ErrorCode.ERROR_CODE_UNSPECIFIED] : [false, ErrorCode.ERROR_CODE_LIMIT_EXCEEDED]))],
    );
    assert.match(results[12].errorMessage, /already has 10 live connections/);
    const located = await unary<LocateUsersResponse>((cb) => sessions.locateUsers({ userIds: ['batch-one', 'batch-many'], serverId: '' }, svc, cb));
    assert.equal(located.connections.length, 11);

    const gone = await unary<UnregisterConnectionsResponse>((cb) => sessions.unregisterConnections({ sessionIds: ['chat-x.batch-batch-one-0', 'chat-x.batch-batch-many-0', 'chat-x.batch-batch-many-1', 'chat-x.never-registered'] }, svc, cb));
    assert.deepEqual(gone.becameOffline, [true, false, false, false]);

    // The batch bound is CHAT_MAX_GROUP_SIZE (500): one more fails the whole call, registering none.
    const tooMany = Array.from({ length: 501 }, (_, i) => conn(`batch-bound-${i}`, i));
    const refused = await unary((cb) => sessions.registerConnections({ connections: tooMany }, svc, cb)).catch((e: ServiceError) => e);
    assert.deepEqual((refused as ServiceError).metadata.get('chat-error-code'), ['LIMIT_EXCEEDED']);
    const none = await unary<LocateUsersResponse>((cb) => sessions.locateUsers({ userIds: ['batch-bound-0'], serverId: '' }, svc, cb));
    assert.deepEqual(none.connections, []);

    const user = await chatd.grpcMetadata('rpc-user');
    const denied = await unary((cb) => sessions.unregisterConnections({ sessionIds: ['batch-batch-many-2'] }, user, cb)).catch((e: ServiceError) => e);
    assert.equal((denied as ServiceError).code, status.PERMISSION_DENIED);
    sessions.close();
  });

  it('records presence watches for service callers, validating the server id, the users and the bound', async () => {
    const sessions = new SessionServiceClient(chatd.grpcAddress, chatd.grpcCredentials);
    const svc = new Metadata();
    svc.set('authorization', `Bearer ${await chatd.serviceToken()}`);
    const code = (err: unknown) => (err as ServiceError).metadata.get('chat-error-code')[0];
    await unary<AddPresenceWatchesResponse>((cb) => sessions.addPresenceWatches({ serverId: 'chat-x', userIds: ['watch-a', 'watch-b', 'watch-a'] }, svc, cb));
    const noServer = await unary((cb) => sessions.addPresenceWatches({ serverId: '', userIds: ['watch-a'] }, svc, cb)).catch((e: unknown) => e);
    assert.equal(code(noServer), 'INVALID_ARGUMENT');
    const badServer = await unary((cb) => sessions.locateUsers({ userIds: ['watch-a'], serverId: 'not a topic name' }, svc, cb)).catch((e: unknown) => e);
    assert.equal(code(badServer), 'INVALID_ARGUMENT');
    const badUser = await unary((cb) => sessions.addPresenceWatches({ serverId: 'chat-x', userIds: ['no spaces'] }, svc, cb)).catch((e: unknown) => e);
    assert.equal(code(badUser), 'INVALID_ARGUMENT');
    const tooMany = await unary((cb) => sessions.addPresenceWatches({ serverId: 'chat-x', userIds: Array.from({ length: 501 }, (_, i) => `watch-${i}`) }, svc, cb)).catch((e: unknown) => e);
    assert.equal(code(tooMany), 'LIMIT_EXCEEDED', 'CHAT_MAX_GROUP_SIZE users per call');
    const user = await chatd.grpcMetadata('rpc-user');
    const denied = await unary((cb) => sessions.addPresenceWatches({ serverId: 'chat-x', userIds: ['watch-a'] }, user, cb)).catch((e: unknown) => e);
    assert.equal((denied as ServiceError).code, status.PERMISSION_DENIED);
    sessions.close();
  });

  it('streams presence transitions to a service on WatchPresence', async () => {
    const sessions = new SessionServiceClient(chatd.grpcAddress, chatd.grpcCredentials);
    const svc = new Metadata();
    svc.set('authorization', `Bearer ${await chatd.serviceToken()}`);
    const stream = sessions.watchPresence({}, svc);
    const seen: string[] = [];
    stream.on('data', (r: WatchPresenceResponse) => seen.push(`${r.presence?.userId}:${r.presence?.status}`));
    stream.on('error', () => undefined);
    // The stream is set up once the token is checked: reconnect until a transition shows up.
    await waitUntil(async () => {
      const ws = await chatd.connect('rpc-watched');
      await ws.close();
      return seen.some((s) => s.startsWith('rpc-watched:'));
    }, 5_000, 'a transition on the stream');
    stream.cancel();
    sessions.close();
  });

  it('answers grpc.health.v1 and server reflection', async () => {
    const h = new (loadService<HealthClient>('grpc.health.v1.Health', join(moduleDir('grpc-health-check'), 'proto/health/v1'), 'health.proto'))(chatd.grpcAddress, chatd.grpcCredentials);
    const res = await unary<{ status: number }>((cb) => h.check({ service: 'chat.v1.GatewayService' }, cb));
    assert.equal(res.status, 1, 'SERVING');
    h.close();

    const r = new (loadService<ReflectionClient>('grpc.reflection.v1.ServerReflection', join(moduleDir('@grpc/reflection'), 'build/proto'), 'grpc/reflection/v1/reflection.proto'))(chatd.grpcAddress, chatd.grpcCredentials);
    const stream = r.serverReflectionInfo();
    const names = await new Promise<string[]>((resolve, reject) => {
      stream.on('data', (d: ReflectionAnswer) => resolve(d.listServicesResponse!.service.map((x) => x.name)));
      stream.on('error', reject);
      stream.write({ listServices: '' });
    });
    stream.end();
    r.close();
    for (const name of ['chat.v1.GatewayService', 'chat.v1.GroupService', 'chat.v1.HistoryService', 'chat.v1.SessionService', 'grpc.health.v1.Health']) {
      assert.ok(names.includes(name), `${name} in ${names.join(',')}`);
    }
  });

});
