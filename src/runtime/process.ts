/**
 * Supervising a node running as a child process (src/runtime/node-main.ts): start it and wait
 * until it is ready, talk JSON Lines to it, kill it with SIGKILL, pause it with SIGSTOP, stop it.
 * Used by `steadfast cluster`, the real-fault tests and the benchmark.
 *
 * Guarantees: `start` resolves once the node printed `ready` (it has recovered its durable state
 * and bound its port) or rejects with its stderr if it exits first or takes longer than
 * `readyTimeoutMs`. Writing to a node that has died is ignored (its commands are lost, as a
 * command to a crashed process is). `kill9` resolves once the process has exited. With
 * `netns`, the node runs inside that network namespace (`ip netns exec`, which execs node, so
 * the pid is the node's own and signals reach it).
 * Assumes: Node 20; from the sources (this file is process.ts), the project's node_modules (tsx)
 * next to it; compiled (process.js, the npm package's dist/), nothing: node-main.js runs on node.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const COMPILED = import.meta.url.endsWith('.js');
const script = (name: string): string =>
  fileURLToPath(new URL(`./${name}.${COMPILED ? 'js' : 'ts'}`, import.meta.url));
/** The process entry of each program a NodeProcess can run. */
const PROGRAMS = { node: script('node-main'), 'kv-serve': script('kv-serve-main') } as const;
/** The loader the child needs: tsx for the TypeScript sources, none for compiled code. */
const LOADER: readonly string[] = COMPILED ? [] : ['--import', import.meta.resolve('tsx')];

export interface NodeProcessOptions {
  readonly id: string;
  readonly configPath: string;
  /**
   * What runs: `node` (`steadfast node`, JSON Lines on stdin, default) or `kv-serve` (`steadfast
   * kv serve`, a store replica with its HTTP API; stopped with SIGTERM, it reads no stdin).
   */
  readonly program?: 'node' | 'kv-serve';
  /** Print every delivery on stdout (default false: big runs). */
  readonly deliveries?: boolean;
  /**
   * The node is new: its first start passes `--init` (its data must not exist yet); later starts
   * recover. Default true; false to supervise a node whose data exists.
   */
  readonly init?: boolean;
  /** Run inside this network namespace. */
  readonly netns?: string;
  readonly readyTimeoutMs?: number;
  /** Extra flags for node itself (e.g. --cpu-prof), before the script. */
  readonly nodeArgs?: readonly string[];
  /** Every JSON line the node prints. */
  readonly onLine?: (obj: Record<string, unknown>) => void;
}

export class NodeProcess {
  readonly id: string;
  private readonly opts: NodeProcessOptions;
  private child: ChildProcess | undefined;
  private exitPromise: Promise<number | null> | undefined;
  private readonly waiters: {
    pred: (o: Record<string, unknown>) => boolean;
    resolve: (o: Record<string, unknown>) => void;
  }[] = [];
  private stderr = '';
  /** Times this process was started. */
  starts = 0;

  constructor(opts: NodeProcessOptions) {
    this.id = opts.id;
    this.opts = opts;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return (
      this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
    );
  }

  /** Starts the process (`extraArgs` after the usual flags) and waits for its ready line. */
  async start(extraArgs: readonly string[] = []): Promise<Record<string, unknown>> {
    if (this.running) throw new Error(`node ${this.id} is already running`);
    const program = this.opts.program ?? 'node';
    const args = [
      ...(this.opts.nodeArgs ?? []),
      ...LOADER,
      PROGRAMS[program],
      '--id',
      this.id,
      '--config',
      this.opts.configPath,
    ];
    if (program === 'node' && this.opts.deliveries !== true) args.push('--no-deliveries');
    if (this.starts === 0 && this.opts.init !== false) args.push('--init');
    args.push(...extraArgs);
    const [cmd, argv] =
      this.opts.netns === undefined
        ? [process.execPath, args]
        : ['ip', ['netns', 'exec', this.opts.netns, process.execPath, ...args]];
    const child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.starts++;
    this.stderr = '';
    child.stdin.on('error', () => {
      // EPIPE after the node died: the command is lost, like any command to a dead process.
    });
    child.stderr.on('data', (d: Buffer) => {
      if (this.stderr.length < 64 * 1024) this.stderr += d.toString();
    });
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (line) => {
      let obj: Record<string, unknown>;
      try {
        obj = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      this.opts.onLine?.(obj);
      for (let i = 0; i < this.waiters.length; i++) {
        const w = this.waiters[i];
        if (w !== undefined && w.pred(obj)) {
          this.waiters.splice(i, 1);
          w.resolve(obj);
          break;
        }
      }
    });
    this.exitPromise = new Promise((resolve) => {
      child.once('exit', (code) => {
        resolve(code);
      });
    });
    const exited = this.exitPromise.then((code) => {
      throw new Error(
        `node ${this.id} exited (code ${String(code)}) before ready:\n${this.stderr}`,
      );
    });
    const timeoutMs = this.opts.readyTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`node ${this.id} not ready after ${timeoutMs} ms:\n${this.stderr}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.next((o) => o.type === 'ready'), exited, timeout]);
    } finally {
      clearTimeout(timer);
      exited.catch(() => undefined);
    }
  }

  /** The next line the node prints that satisfies `pred`. */
  next(pred: (o: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
    return new Promise((resolve) => {
      this.waiters.push({ pred, resolve });
    });
  }

  /** Writes one command line (ignored if the node is not running). */
  send(obj: unknown): void {
    const child = this.child;
    if (child === undefined || !this.running) return;
    child.stdin?.write(JSON.stringify(obj) + '\n');
  }

  /** Asks for stats; undefined if the node does not answer within `timeoutMs`. */
  async stats(timeoutMs = 2000): Promise<Record<string, unknown> | undefined> {
    if (!this.running) return undefined;
    const p = this.next((o) => o.type === 'stats');
    this.send({ type: 'stats' });
    return within(p, timeoutMs);
  }

  /** SIGKILL; resolves when the process is gone. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    child.kill('SIGKILL');
    await this.exitPromise;
  }

  pause(): void {
    if (this.running) this.child?.kill('SIGSTOP');
  }

  resume(): void {
    if (this.running) this.child?.kill('SIGCONT');
  }

  /** Asks the node to stop; SIGKILL after `timeoutMs`. Resolves with the exit code. */
  async stop(timeoutMs = 5000): Promise<number | null> {
    const child = this.child;
    if (child === undefined) return null;
    if (!this.running) return this.exitPromise ?? null;
    child.kill('SIGCONT'); // in case it is paused
    if ((this.opts.program ?? 'node') === 'node') this.send({ type: 'stop' });
    else child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<null>((resolve) => {
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(null);
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exitPromise ?? Promise.resolve(null), killed]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs the process to its exit (to see a flag or config error): its exit code and stderr. */
  async runToExit(
    extraArgs: readonly string[] = [],
  ): Promise<{ code: number | null; err: string }> {
    try {
      await this.start(extraArgs);
    } catch {
      // exited before ready: what the caller wants to see
    }
    if (this.running) await this.stop();
    return { code: (await this.exitPromise) ?? null, err: this.stderr };
  }

  /** Whatever the node wrote to stderr in its current incarnation (bounded). */
  errors(): string {
    return this.stderr;
  }
}

/** `p`'s value, or undefined if it has not settled within `timeoutMs`. */
export async function within<T>(p: Promise<T>, timeoutMs: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<undefined>((r) => {
    timer = setTimeout(() => {
      r(undefined);
    }, timeoutMs);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}
