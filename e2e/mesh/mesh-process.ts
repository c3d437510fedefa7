import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';

/** One process of a test mesh: a `dist/cmd/<cmd>/main.js` with its own env and log file. */
export class MeshProcess {
  private proc?: ChildProcess;
  private exitWait?: Promise<number | null>;
  private log?: WriteStream;

  constructor(
    readonly name: string,
    private readonly cmd: string,
    private readonly env: Record<string, string>,
    private readonly opts: { distDir: string; logDir: string; httpPort: number },
  ) {}

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get logFile(): string {
    return join(this.opts.logDir, `${this.name}.log`);
  }

  /** Spawns the process and resolves once its /readyz answers 200 (rejects if it exits first). */
  async start(timeoutMs = 60_000): Promise<void> {
    this.log = createWriteStream(this.logFile, { flags: 'a' });
    const proc = spawn(process.execPath, [join(this.opts.distDir, 'cmd', this.cmd, 'main.js')], { env: { ...process.env, ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.stdout?.pipe(this.log, { end: false });
    proc.stderr?.pipe(this.log, { end: false });
    this.exitWait = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
    let exited = false;
    void this.exitWait.then(() => (exited = true));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (exited) throw new Error(`${this.name} exited before it was ready; see ${this.logFile}`);
      try {
        const res = await fetch(`http://127.0.0.1:${this.opts.httpPort}/readyz`);
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${this.name} not ready within ${timeoutMs} ms; see ${this.logFile}`);
  }

  /** Sends a signal and waits for the exit; SIGKILL after `graceMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 20_000): Promise<number | null> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return proc?.exitCode ?? null;
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    const code = await this.exitWait!;
    clearTimeout(timer);
    this.log?.end();
    return code;
  }

  kill(): Promise<number | null> {
    return this.stop('SIGKILL');
  }
}
