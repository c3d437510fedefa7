import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { Server, ServerCredentials, type ServerDuplexStream, type ServiceDefinition } from '@grpc/grpc-js';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { dmConversationId } from '../../internal/conversation/conversation-id';
import { waitUntil } from '../../internal/testing/wait-until';
// eslint-disable-next-line no-restricted-imports -- an example is a client, not platform code: it starts chatd the way chatd's own tests do
import { TestChatd } from '../../cmd/chatd/testing/chatd-harness';

const JAR = join(__dirname, 'target', 'chat-java-client.jar');

interface JavaRun {
  /** stdout, one line per frame the client received. */
  lines: string[];
  stderr(): string;
  exited: Promise<number | null>;
  process: ChildProcess;
}

function runJava(args: string[]): JavaRun {
  const child = spawn('java', ['-jar', JAR, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { lines, stderr: () => stderr, exited, process: child };
}

/**
 * The polyglot proof: a Java program built with Maven from the repo's proto/ (grpc-java, protoc at
 * build time) talks to chatd over gRPC while a WebSocket client talks back.
 */
describe('examples/java-client against chatd', () => {
  let chatd: TestChatd;
  const running: ChildProcess[] = [];

  before(
    async () => {
      // Builds from proto/ as it is now; the first build downloads from Maven Central into ~/.m2.
      await promisify(execFile)('mvn', ['-q', '-B', 'package'], { cwd: __dirname, timeout: 600_000, maxBuffer: 16 << 20 });
      chatd = await TestChatd.start();
    },
    { timeout: 660_000 },
  );
  after(async () => {
    for (const p of running) if (p.exitCode === null && p.signalCode === null) p.kill();
    await chatd?.stop();
  });

  function java(args: string[]): JavaRun {
    const run = runJava(args);
    running.push(run.process);
    return run;
  }

  it('sends a DM a WebSocket client receives, and prints the message the WebSocket client sends back', async () => {
    const bob = await chatd.connect('jc-bob', { format: 'json' });
    const conv = dmConversationId('jc-ana', 'jc-bob');
    const run = java(['--target', chatd.grpcAddress, '--token', await chatd.token('jc-ana'), '--device', 'jc-laptop', '--to', 'jc-bob', '--text', 'hello from java ☕', '--count', '1', '--timeout-ms', '30000']);

    const got = await bob.waitForMessage((m) => m.conversationId === conv, 30_000);
    assert.deepEqual({ sender: got.senderId, text: got.text }, { sender: 'jc-ana', text: 'hello from java ☕' });
    await waitUntil(() => run.lines.some((l) => l.startsWith('send_ack #send ')), 10_000, 'the send_ack line');
    assert.match(run.lines[0], /^welcome #hello user_id: "jc-ana" /);
    assert.match(run.lines.find((l) => l.startsWith('send_ack #send '))!, new RegExp(`message_id: ${got.messageId} conversation_id: "${conv}"`));

    const reply = await bob.send(conv, 'hello from ws ✓');
    assert.equal(await run.exited, 0, `java-client failed: ${run.stderr()}`);
    const pushed = run.lines.filter((l) => l.startsWith('message '));
    assert.equal(pushed.length, 1, run.lines.join('\n'));
    assert.match(pushed[0], new RegExp(`^message message_id: ${reply.messageId} conversation_id: "${conv}" sender_id: "jc-bob" client_msg_id: "[^"]+" text: "hello from ws ✓"`));
    await bob.close();
  });

  it('resumes by position: replays only what it missed, from --positions (resume_after) or from what it acked (held_through)', async () => {
    const bob = await chatd.connect('jc-bob', { format: 'json', deviceId: 'jc-bob-positions' });
    const conv = dmConversationId('jc-cy', 'jc-bob');
    const file = join(mkdtempSync(join(tmpdir(), 'java-positions-')), 'positions');
    const token = await chatd.token('jc-cy');
    const listen = (device: string, ...extra: string[]) => java(['--target', chatd.grpcAddress, '--token', token, '--device', device, '--count', '1', '--timeout-ms', '30000', ...extra]);
    const replayed = (run: JavaRun) => run.lines.filter((l) => l.startsWith('history_page #hello ')).flatMap((l) => [...l.matchAll(/text: "([^"]*)"/g)].map((m) => m[1]));
    const welcomed = (run: JavaRun) => waitUntil(() => run.lines.some((l) => l.startsWith('resume_complete #hello')), 10_000, 'the end of the replay');

    const first = listen('jc-desk', '--positions', file);
    await welcomed(first);
    const p1 = await bob.send(conv, 'p1');
    assert.equal(await first.exited, 0, first.stderr());
    assert.match(readFileSync(file, 'utf8'), new RegExp(`^${conv} ${p1.messageId} 1 \\d+$`, 'm'), 'the held position is saved at exit');
    await bob.send(conv, 'p2'); // missed by every run
    await bob.send(conv, 'p3');

    // Another device id, so the server knows no position of it: only resume_after says where it is.
    const second = listen('jc-desk-2', '--positions', file);
    await welcomed(second);
    await bob.send(conv, 'p4');
    assert.equal(await second.exited, 0, second.stderr());
    assert.deepEqual(replayed(second), ['p2', 'p3'], second.lines.join('\n'));

    // The first device without the file: the server replays from the exact position its ack saved.
    const third = listen('jc-desk');
    await welcomed(third);
    assert.deepEqual(replayed(third), ['p2', 'p3', 'p4'], third.lines.join('\n'));
    await bob.send(conv, 'p5');
    assert.equal(await third.exited, 0, third.stderr());
    await bob.close();
  });

  it('reports a refused hello and exits 1, and bad usage with 2', async () => {
    const refused = java(['--target', chatd.grpcAddress, '--token', 'not-a-jwt', '--timeout-ms', '30000']);
    assert.equal(await refused.exited, 1, refused.stderr());
    assert.match(refused.lines.join('\n'), /^error #hello code: ERROR_CODE_UNAUTHENTICATED /m);

    const usage = java(['--target', chatd.grpcAddress, '--to', 'someone']);
    assert.equal(await usage.exited, 2);
    assert.match(usage.stderr(), /--token \(CHAT_TOKEN\) is required/);
  });

  it('prints a frame case it was not built with as unknown, with its raw fields', async () => {
    // A stand-in for a newer server: after welcome it sends ConnectResponse field 99, which no
    // .proto here defines, then ends the stream. Frames are hand-encoded protobuf bytes.
    const field = (tag: number, bytes: Buffer) => Buffer.concat([Buffer.from([tag, bytes.length]), bytes]);
    const welcome = Buffer.concat([field(0x0a, Buffer.from('hello')), field(0x52, field(0x0a, Buffer.from('newer')))]);
    const future = Buffer.concat([Buffer.from([0x9a, 0x06]), Buffer.from([3]), field(0x0a, Buffer.from('x'))]);
    const raw = (b: Buffer) => b;
    const definition: ServiceDefinition = {
      connect: { path: '/chat.v1.GatewayService/Connect', requestStream: true, responseStream: true, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
    };
    const server = new Server();
    server.addService(definition, {
      connect: (call: ServerDuplexStream<Buffer, Buffer>) => {
        call.once('data', () => {
          call.write(welcome);
          call.write(future);
          call.end();
        });
      },
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    try {
      const run = java(['--target', `127.0.0.1:${port}`, '--token', 'any', '--timeout-ms', '30000']);
      assert.equal(await run.exited, 0, run.stderr());
      assert.equal(run.lines.length, 2, run.lines.join('\n'));
      assert.match(run.lines[0], /^welcome #hello user_id: "newer"/);
      assert.match(run.lines[1], /^unknown 99[: ]/, run.lines[1]);
    } finally {
      server.forceShutdown();
    }
  });
});
