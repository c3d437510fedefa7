import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ChatClient } from '../../../internal/client/chat-client';
import { TestChatd } from '../../chatd/testing/chatd-harness';

const ROOT = join(__dirname, '..', '..', '..');
const DEADLINE_MS = 20_000;

/** A `chat tail` process: the texts it printed, in order, and a way to wait for a line. */
class TailProcess {
  readonly texts: string[] = [];
  private readonly stderr: string[] = [];
  private readonly waiters: (() => void)[] = [];
  readonly exited: Promise<number | null>;
  private readonly proc;

  constructor(http: string, user: string, device: string) {
    this.proc = spawn(process.execPath, ['--import', 'tsx', 'cmd/chat/main.ts', '--server', http, '--user', user, '--device', device, 'tail'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code) => resolve(code)));
    // Message lines are `<time>  <conversation>  <sender>: <text>`; presence lines are skipped.
    createInterface({ input: this.proc.stdout }).on('line', (line) => {
      const message = /^\S+ \S+ {2}dm:\S+ {2}[^:]+: (.*)$/.exec(line);
      if (message) this.texts.push(message[1]);
      this.notify();
    });
    createInterface({ input: this.proc.stderr }).on('line', (line) => {
      this.stderr.push(line);
      this.notify();
    });
  }

  /** Resolves once `done()` holds, polled on every line; fails after a deadline with what was printed. */
  async until(what: string, done: () => boolean): Promise<void> {
    const deadline = Date.now() + DEADLINE_MS;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`tail: no ${what} within ${DEADLINE_MS} ms; stdout ${JSON.stringify(this.texts)}, stderr ${JSON.stringify(this.stderr)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now() + 1);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Connected, replayed, paged and subscribed: the note printed once the setup is over. */
  ready(): Promise<void> {
    return this.until('setup', () => this.stderr.some((l) => l.startsWith('watching presence')));
  }

  printed(text: string): Promise<void> {
    return this.until(`line ${text}`, () => this.texts.includes(text));
  }

  async interrupt(): Promise<number | null> {
    this.proc.kill('SIGINT');
    return this.exited;
  }

  kill(): void {
    this.proc.kill('SIGKILL');
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

describe('chat tail', () => {
  let chatd: TestChatd;
  let alice: ChatClient;
  const tails: TailProcess[] = [];
  before(async () => {
    chatd = await TestChatd.start();
    alice = await chatd.connect('t-alice');
  });
  after(async () => {
    tails.forEach((t) => t.kill());
    await alice.close();
    await chatd.stop();
  });
  const tail = (): TailProcess => {
    const t = new TailProcess(chatd.httpUrl, 't-bob', 't-bob-cli');
    tails.push(t);
    return t;
  };
  const send = async (text: string): Promise<void> => void (await alice.send('dm:t-alice:t-bob', text));

  it('prints no repeats after a restart with the same device: it resumes exactly where it acknowledged', async () => {
    const first = tail();
    await first.ready();
    for (const text of ['one', 'two', 'three']) await send(text);
    await first.printed('three');
    assert.equal(await first.interrupt(), 0, 'SIGINT ends the tail cleanly');
    assert.deepEqual(first.texts, ['one', 'two', 'three']);

    await send('four'); // missed while no tail runs
    await send('five');
    const second = tail();
    await second.ready();
    await send('six');
    await second.printed('six');
    assert.equal(await second.interrupt(), 0);
    assert.deepEqual(second.texts, ['four', 'five', 'six'], 'only what the device missed, then what came live');
  });
});
