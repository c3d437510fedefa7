import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { ChatClient } from '../../internal/client/chat-client';
import { ChatHttpClient } from '../../internal/client/http-client';

const ROOT = join(__dirname, '..', '..');
const run = promisify(execFile);

/** Starts the real chatd entrypoint as a child process on free ports; resolves with its HTTP URL. */
function startProcess(env: Record<string, string>): Promise<{ proc: ChildProcess; http: string; exited: Promise<number | null> }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'cmd/chatd/main.ts'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('chatd did not report ready within 20 s')), 20_000);
    void exited.then((code) => reject(new Error(`chatd exited with ${code} before it was ready`)));
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; http?: string };
      if (entry.msg === 'chatd ready') {
        clearTimeout(timer);
        resolve({ proc, http: entry.http!, exited });
      }
    });
  });
}

function cli(http: string, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, ['--import', 'tsx', 'cmd/chat/main.ts', '--server', http, ...args], { cwd: ROOT });
}

describe('chatd as a process, driven by the chat CLI', () => {
  const procs: ChildProcess[] = [];
  after(() => procs.forEach((p) => p.kill('SIGKILL')));

  it('rejects bad configuration with the variable named and exit code 2', async () => {
    const result = await run(process.execPath, ['--import', 'tsx', 'cmd/chatd/main.ts'], { cwd: ROOT, env: { ...process.env, CHAT_HTTP_PORT: 'eighty', CHAT_DEV_MODE: 'true' } }).catch((e: { code: number; stderr: string }) => e);
    assert.equal((result as { code: number }).code, 2);
    assert.match((result as { stderr: string }).stderr, /CHAT_HTTP_PORT="eighty"/);
  });

  it('names the engine it cannot reach at startup and exits 1 instead of hanging', async () => {
    const env = { ...process.env, CHAT_DEV_MODE: 'true', CHAT_HTTP_PORT: '0', CHAT_GRPC_PORT: '0', CHAT_LOG_LEVEL: 'fatal', CHAT_ENGINE_TIMEOUT_MS: '2000' };
    const dead = await run(process.execPath, ['--import', 'tsx', 'cmd/chatd/main.ts'], { cwd: ROOT, env: { ...env, CHAT_SESSIONS: 'redis', CHAT_REDIS_URL: 'redis://127.0.0.1:1' } }).catch((e: { code: number; stderr: string }) => e);
    assert.equal((dead as { code: number }).code, 1);
    assert.match((dead as { stderr: string }).stderr, /cannot connect to Redis at redis:\/\/127\.0\.0\.1:1: connect ECONNREFUSED/);
  });

  it('chats through the CLI, drains clients with go_away on SIGTERM and keeps history across a restart', async () => {
    const env = { CHAT_DEV_MODE: 'true', CHAT_HTTP_PORT: '0', CHAT_GRPC_PORT: '0', CHAT_DATA_DIR: mkdtempSync(join(tmpdir(), 'chatd-proc-')), CHAT_LOG_LEVEL: 'info' };
    const first = await startProcess(env);
    procs.push(first.proc);

    const sent = await cli(first.http, '--user', 'p-alice', 'send', 'p-bob', 'hello from the CLI');
    assert.match(sent.stdout.trim(), /^\d+$/, 'send prints the message id');
    const http = new ChatHttpClient({ baseUrl: first.http });
    const bob = await ChatClient.connect({ url: http.wsUrl, token: await http.devToken('p-bob'), deviceId: 'p-bob-1' });
    const goAway = new Promise<string>((resolve) => bob.once('goAway', (g) => resolve(g.reason)));
    const closed = new Promise<number>((resolve) => bob.once('close', (code) => resolve(code)));

    first.proc.kill('SIGTERM');
    assert.equal(await goAway, 'server shutting down');
    assert.equal(await closed, 1001);
    assert.equal(await first.exited, 0, 'a drained chatd exits 0');

    const second = await startProcess(env);
    procs.push(second.proc);
    const history = await cli(second.http, '--user', 'p-bob', 'history', 'p-alice');
    assert.match(history.stdout, /p-alice: hello from the CLI/);
    second.proc.kill('SIGTERM');
    assert.equal(await second.exited, 0);
  });

  it('keeps every acknowledged message across a SIGKILL right after the acks (writer thread, synchronous=full)', async () => {
    const env = { CHAT_DEV_MODE: 'true', CHAT_HTTP_PORT: '0', CHAT_GRPC_PORT: '0', CHAT_DATA_DIR: mkdtempSync(join(tmpdir(), 'chatd-kill-')), CHAT_LOG_LEVEL: 'warn', CHAT_SQLITE_SYNCHRONOUS: 'full', CHAT_SQLITE_WRITER_THREAD: 'true', CHAT_SEND_RATE_PER_SEC: '10000', CHAT_SEND_BURST: '10000' };
    const first = await startProcess({ ...env, CHAT_LOG_LEVEL: 'info' });
    procs.push(first.proc);
    const http = new ChatHttpClient({ baseUrl: first.http });
    const alice = await ChatClient.connect({ url: http.wsUrl, token: await http.devToken('k-alice'), deviceId: 'k-alice-1' });
    // Many sends at once, so they share group commits; the process dies the moment the last ack
    // arrives, with later commits possibly in flight.
    const acks = await Promise.all(Array.from({ length: 200 }, (_, i) => alice.send('dm:k-alice:k-bob', `before the kill ${i}`)));
    first.proc.kill('SIGKILL');
    await first.exited;
    void alice.close().catch(() => undefined);

    const second = await startProcess({ ...env, CHAT_LOG_LEVEL: 'info' });
    procs.push(second.proc);
    const again = new ChatHttpClient({ baseUrl: second.http });
    const bob = await ChatClient.connect({ url: again.wsUrl, token: await again.devToken('k-bob'), deviceId: 'k-bob-1' });
    const stored = new Set<string>();
    let beforeId: string | undefined;
    for (;;) {
      const page = await bob.history({ conversationId: 'dm:k-alice:k-bob', limit: 100, ...(beforeId ? { beforeId } : {}) });
      for (const m of page.messages) stored.add(m.messageId);
      if (!page.hasMore || page.messages.length === 0) break;
      beforeId = page.messages[page.messages.length - 1].messageId;
    }
    assert.deepEqual(acks.filter((a) => !stored.has(a.messageId)).map((a) => a.messageId), [], 'every acknowledged message is in history');
    await bob.close();
    second.proc.kill('SIGTERM');
    assert.equal(await second.exited, 0);
  });
});
