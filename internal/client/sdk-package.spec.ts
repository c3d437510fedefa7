import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { buildSdk } from '../../packages/client/build';

const ROOT = join(__dirname, '..', '..');
const run = promisify(execFile);

/** Starts the real chatd entrypoint (embedded adapters, dev tokens) on free ports; resolves with its HTTP URL. */
function startChatd(dataDir: string): Promise<{ proc: ChildProcess; http: string }> {
  const env = { ...process.env, CHAT_DEV_MODE: 'true', CHAT_HTTP_PORT: '0', CHAT_GRPC_PORT: '0', CHAT_DATA_DIR: dataDir, CHAT_LOG_LEVEL: 'info' };
  const proc = spawn(process.execPath, ['--import', 'tsx', 'cmd/chatd/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('chatd did not report ready within 20 s')), 20_000);
    proc.on('exit', (code) => reject(new Error(`chatd exited with ${code} before it was ready`)));
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; http?: string };
      if (entry.msg !== 'chatd ready') return;
      clearTimeout(timer);
      resolve({ proc, http: entry.http! });
    });
  });
}

/** Builds and packs packages/client, and installs the tarball into a fresh project; returns that project's directory. */
async function installPackage(work: string): Promise<string> {
  await buildSdk();
  await run('npm', ['pack', '--silent', '--pack-destination', work], { cwd: join(ROOT, 'packages/client') });
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball, 'npm pack wrote a tarball');
  const project = join(work, 'consumer');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'sdk-consumer', version: '1.0.0', private: true }));
  await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--silent', join(work, tarball)], { cwd: project });
  return project;
}

/**
 * What a consumer does with the package, as plain JavaScript (the same text runs as CommonJS and
 * as ESM): bob's first session receives one message and saves where it holds every message (the
 * `positions` event); a message comes while it is gone; his second session, started from the saved
 * positions, gets exactly that one (replayed) and nothing he had. HeldPositions on its own too.
 * `sdk`, `WebSocket` and the arguments (HTTP URL, a tag) are in scope.
 */
const SCENARIO = `
const [http, tag] = process.argv.slice(2);
const anon = new sdk.ChatHttpClient({ baseUrl: http });
const alice = tag + '-alice', bob = tag + '-bob';
const conv = 'dm:' + [alice, bob].sort().join(':');
const session = (user, positions) => new sdk.ChatSession({ url: anon.wsUrl, token: () => anon.devToken(user), deviceId: user + '-d', WebSocket, positions, format: user === bob ? 'json' : 'binary' });
const next = (s, event) => new Promise((resolve) => s.once(event, resolve));
const until = async (what, done) => {
  for (const deadline = Date.now() + 10000; !done(); await new Promise((r) => setTimeout(r, 20))) if (Date.now() > deadline) throw new Error('no ' + what);
};
const a = session(alice);
const aOpen = next(a, 'caughtUp');
const aRun = a.run();
await aOpen;
const b1 = session(bob);
const first = [];
let saved = {};
b1.on('messages', (ms) => first.push(...ms.map((m) => m.text)));
b1.on('positions', (p) => (saved = p));
const b1Open = next(b1, 'caughtUp');
const b1Run = b1.run();
await b1Open;
await a.send(conv, 'one');
await until('positions', () => saved[conv] !== undefined);
await b1.stop();
await a.send(conv, 'two');
const b2 = session(bob, saved);
const second = [];
b2.on('messages', (ms, source) => second.push(...ms.map((m) => m.text + '/' + source)));
const b2Open = next(b2, 'caughtUp');
const b2Run = b2.run();
await b2Open;
await Promise.all([b2.stop(), a.stop(), aRun, b1Run, b2Run]);
const held = new sdk.HeldPositions();
for (const seq of ['1', '2', '4']) held.receive({ conversationId: 'c', messageId: '10' + seq, seq, epoch: '1', createdAt: new Date() });
const frame = sdk.decodeResponse(sdk.ConnectResponse.encode({ requestId: '7', frame: { $case: 'pong', value: { serverTime: new Date(0) } } }).finish());
console.log(JSON.stringify({ first, second, held: held.heldThrough(), hole: held.firstHole('c'), frame: frame.requestId + ':' + frame.frame.$case }));
`;

describe('the SDK package (@chat-mesh/client)', () => {
  let work: string;
  let project: string;
  let chatd: { proc: ChildProcess; http: string };
  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'chat-sdk-'));
    [project, chatd] = await Promise.all([installPackage(work), startChatd(join(work, 'data'))]);
  });
  after(() => {
    chatd?.proc.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  });

  const expectScenario = (stdout: string): void => {
    const result = JSON.parse(stdout) as Record<string, unknown>;
    assert.deepEqual(result.first, ['one']);
    assert.deepEqual(result.second, ['two/replay'], 'the second session resumes exactly from the saved positions: no repeat');
    assert.deepEqual(result.held, { c: '102' });
    assert.deepEqual(result.hole, { afterId: '102', count: 1 });
    assert.equal(result.frame, '7:pong');
  };
  const ws = require.resolve('ws');

  it('installs from its tarball and works from require()', async () => {
    writeFileSync(join(project, 'consumer.cjs'), `const sdk = require('@chat-mesh/client');\nconst WebSocket = require(${JSON.stringify(ws)});\n(async () => {${SCENARIO}})().catch((e) => { console.error(e); process.exit(1); });\n`);
    const { stdout } = await run(process.execPath, ['consumer.cjs', chatd.http, 'cjs'], { cwd: project });
    expectScenario(stdout);
  });

  it('works from import, and ships types and nothing but its build', async () => {
    writeFileSync(join(project, 'consumer.mjs'), `import * as sdk from '@chat-mesh/client';\nimport WebSocket from ${JSON.stringify(pathToFileURL(ws).href)};\n${SCENARIO}`);
    const { stdout } = await run(process.execPath, ['consumer.mjs', chatd.http, 'esm'], { cwd: project });
    expectScenario(stdout);
    const installed = join(project, 'node_modules/@chat-mesh/client');
    assert.deepEqual(readdirSync(installed).sort(), ['README.md', 'dist', 'package.json']);
    const types = readdirSync(join(installed, 'dist/types/internal/client'));
    assert.ok(types.includes('index.d.ts') && types.includes('chat-session.d.ts'), `declarations: ${types.join(', ')}`);
    assert.ok(!types.some((f) => f.startsWith('chat-client.') || f.includes('spec')), 'no Node-only module and no test in the package');
  });

  it('type-checks a strict TypeScript consumer through its "types" export, without Node types', async () => {
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', lib: ['es2022', 'dom'], types: [], noEmit: true, skipLibCheck: true }, files: ['consumer.ts'] }));
    writeFileSync(
      join(project, 'consumer.ts'),
      `import { ChatSession, type ChatMessage, type LinkState } from '@chat-mesh/client';
const session = new ChatSession({ url: 'wss://chat.example/ws', token: 't', deviceId: 'd', backoff: { maxMs: 5000 } });
session.on('messages', (messages: ChatMessage[], source) => console.log(messages[0].text, source === 'replay'));
session.on('state', (link: LinkState) => console.log(link.kind === 'waiting' ? link.retryAtMs : link.kind));
export const ack: Promise<string> = session.send('dm:a:b', 'hi').then((a) => a.messageId);
`,
    );
    await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', project]);
  });
});
