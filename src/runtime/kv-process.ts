/**
 * Supervising a store replica running as a child process (kv-serve-main.ts): start it and wait
 * until it serves HTTP, kill it with SIGKILL, stop it with SIGTERM. For tests and scripts.
 *
 * Guarantees: `start` resolves with the replica's `ready` line once it serves, or rejects with its
 * stderr if it exits first or is not ready within `readyTimeoutMs`; the first start passes
 * `--init` unless `init` is false. `kill9` and `stop` resolve once the process has exited. With
 * `netns`, the replica runs inside that network namespace.
 * Assumes: Node 20 and the project's node_modules (tsx) next to this file.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('./kv-serve-main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const STDERR_MAX = 64 * 1024;

export interface KvProcessOptions {
  readonly id: string;
  readonly configPath: string;
  /** The first start passes --init (default true). */
  readonly init?: boolean;
  readonly readyTimeoutMs?: number;
  /** Run inside this network namespace (`ip netns exec`, which execs node: the pid is node's). */
  readonly netns?: string;
}

export class KvProcess {
  readonly id: string;
  starts = 0;
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> | undefined;
  private stderr = '';

  constructor(private readonly opts: KvProcessOptions) {
    this.id = opts.id;
  }

  get running(): boolean {
    return (
      this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
    );
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(extraArgs: readonly string[] = []): Promise<Record<string, unknown>> {
    if (this.running) throw new Error(`replica ${this.id} is already running`);
    const args = ['--import', TSX, MAIN, '--id', this.id, '--config', this.opts.configPath];
    if (this.starts === 0 && this.opts.init !== false) args.push('--init');
    args.push(...extraArgs);
    const [cmd, argv] =
      this.opts.netns === undefined
        ? [process.execPath, args]
        : ['ip', ['netns', 'exec', this.opts.netns, process.execPath, ...args]];
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.starts++;
    this.stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      if (this.stderr.length < STDERR_MAX) this.stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code) => {
        resolve(code);
      });
    });
    this.exited = exited;
    const ready = new Promise<Record<string, unknown>>((resolve) => {
      const rl = createInterface({ input: child.stdout });
      rl.on('line', (line) => {
        try {
          const o = JSON.parse(line) as Record<string, unknown>;
          if (o.type === 'ready') resolve(o);
        } catch {
          // not ours
        }
      });
    });
    const timeoutMs = this.opts.readyTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        ready,
        exited.then((code) => {
          throw new Error(`replica ${this.id} exited (code ${String(code)}):\n${this.stderr}`);
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            reject(
              new Error(`replica ${this.id} not ready after ${timeoutMs} ms:\n${this.stderr}`),
            );
          }, timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs the replica to its exit (for flag and config errors): the code and stderr. */
  async runToExit(
    extraArgs: readonly string[] = [],
  ): Promise<{ code: number | null; err: string }> {
    try {
      await this.start(extraArgs);
    } catch {
      // exited before ready: what we want to see
    }
    if (this.running) await this.stop();
    return { code: (await this.exited) ?? null, err: this.stderr };
  }

  async kill9(): Promise<void> {
    if (!this.running) return;
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, SIGKILL after `timeoutMs`; resolves with the exit code. */
  async stop(timeoutMs = 5000): Promise<number | null> {
    const child = this.child;
    if (child === undefined || this.exited === undefined) return null;
    if (!this.running) return this.exited;
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<null>((resolve) => {
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(null);
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, killed]);
    } finally {
      clearTimeout(timer);
    }
  }

  errors(): string {
    return this.stderr;
  }
}
