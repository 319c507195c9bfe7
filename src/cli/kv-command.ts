/**
 * `steadfast kv`: serve one replica of the replicated store, or talk to the store.
 *
 *   steadfast kv serve --config cluster.json --id n1 [--init]
 *   steadfast kv get KEY [--consistency linearizable|stale]   --endpoints http://127.0.0.1:8001,…
 *   steadfast kv put KEY VALUE                                 (VALUE: JSON, else taken as a string)
 *   steadfast kv incr KEY [DELTA]                              (prints the new value)
 *   steadfast kv cas KEY FROM TO                               (JSON; null: absent)
 *   steadfast kv del KEY
 * Client commands take `--endpoints` (or STEADFAST_ENDPOINTS), `--idempotency-key K` (default: a
 * fresh UUID, reused on every retry of this one request), `--attempts N`, `--timeout-ms MS` (per
 * attempt). They retry across the endpoints (src/client/kv-client.ts).
 *
 * Guarantees: stdout holds the answer as JSON (get: the value; put/del: "ok"; incr: the new
 * value; cas: true). Exit codes: 0 done; 1 the operation failed (not found, cas precondition
 * failed, refused, unavailable: it did not happen); 3 indefinite (a write that may have happened:
 * rerun with the printed --idempotency-key to learn which); 2 a bad flag or argument (one line
 * naming it). `serve` exits as kv-serve.ts says.
 * Assumes: wired into main.ts with `registerKvCommand(program, write, writeErr)`.
 */

import { Option, type Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { KvClient, KvError } from '../client/kv-client.ts';
import { runKvServe } from '../runtime/kv-serve.ts';
import { intArg, UsageError } from './args.ts';

interface ClientFlags {
  endpoints?: string;
  idempotencyKey?: string;
  attempts: number;
  timeoutMs: number;
  consistency?: 'linearizable' | 'stale';
}

/** A JSON argument; a word that is not JSON is a string (`put greeting hello`). */
function jsonArg(name: string, text: string, lenient: boolean): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    if (lenient) return text;
    throw new UsageError(`${name} must be JSON (e.g. 1, "text", null), got ${text}`);
  }
}

function endpointsOf(flags: ClientFlags): string[] {
  const raw = flags.endpoints ?? process.env.STEADFAST_ENDPOINTS;
  if (raw === undefined || raw.trim() === '') {
    throw new UsageError(
      '--endpoints is required (or STEADFAST_ENDPOINTS): e.g. --endpoints http://127.0.0.1:8001,http://127.0.0.1:8002',
    );
  }
  const list = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const e of list) {
    let u: URL;
    try {
      u = new URL(e);
    } catch {
      throw new UsageError(`--endpoints: ${e} is not a URL (e.g. http://127.0.0.1:8001)`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new UsageError(`--endpoints: ${e} is not http(s)`);
    }
  }
  return list;
}

function clientOptions(cmd: Command): Command {
  return cmd
    .option('--endpoints <urls>', 'comma-separated replica URLs (default: $STEADFAST_ENDPOINTS)')
    .option('--idempotency-key <key>', "the request's Idempotency-Key (default: a fresh UUID)")
    .addOption(
      new Option('--attempts <n>', 'attempts over the endpoints')
        .default(8)
        .argParser(intArg('--attempts', 1, 1000)),
    )
    .addOption(
      new Option('--timeout-ms <ms>', 'one attempt gives up after this long')
        .default(15_000)
        .argParser(intArg('--timeout-ms', 1, 3_600_000)),
    );
}

export function registerKvCommand(
  program: Command,
  write: (s: string) => void,
  writeErr: (s: string) => void,
): void {
  const kv = program
    .command('kv')
    .description('the replicated key-value store: serve a replica, or get/put/incr/cas/del');

  kv.command('serve')
    .description('run one replica of the store with its HTTP/JSON API (src/runtime/kv-serve.ts)')
    .requiredOption(
      '--config <file>',
      'cluster config with nodes.<id>.http (see examples/kv-cluster.json)',
    )
    .requiredOption('--id <node>', "this replica's id in the config")
    .option('--init', 'the replica is new: its data directory must not exist yet', false)
    .action(async (opts: { config: string; id: string; init: boolean }) => {
      process.exitCode = await runKvServe({ ...opts, write, writeErr });
    });

  /** Runs one client operation with the exit codes of the header. */
  const run = async (
    flags: ClientFlags,
    op: (c: KvClient, key: string) => Promise<unknown>,
    key: string,
  ) => {
    const client = new KvClient({
      endpoints: endpointsOf(flags),
      attemptsMax: flags.attempts,
      attemptTimeoutMs: flags.timeoutMs,
    });
    try {
      const out = await op(client, key);
      write(`${JSON.stringify(out)}\n`);
      process.exitCode = 0;
    } catch (e) {
      if (!(e instanceof KvError)) throw e;
      writeErr(`${e.message}\n`);
      process.exitCode = e.indefinite ? 3 : 1;
    }
  };
  const writeOpts = (flags: ClientFlags) => ({
    idempotencyKey: flags.idempotencyKey ?? randomUUID(),
  });

  clientOptions(kv.command('get').argument('<key>'))
    .description('read a key (prints its JSON value; exit 1 if absent)')
    .addOption(
      new Option('--consistency <c>', 'linearizable (through the leader) or stale (this replica)')
        .choices(['linearizable', 'stale'])
        .default('linearizable'),
    )
    .action(async (key: string, flags: ClientFlags) => {
      await run(
        flags,
        async (c, k) => {
          const v = await c.get(
            k,
            flags.consistency === undefined ? {} : { consistency: flags.consistency },
          );
          if (v === undefined)
            throw new KvError('not-found', `not-found: no key ${JSON.stringify(k)}`, 404);
          return v;
        },
        key,
      );
    });

  clientOptions(kv.command('put').argument('<key>').argument('<value>'))
    .description('write a key (VALUE is JSON; a word that is not JSON is a string)')
    .action(async (key: string, value: string, flags: ClientFlags) => {
      const v = jsonArg('VALUE', value, true);
      const o = writeOpts(flags);
      await run(
        flags,
        async (c, k) => {
          await c.put(k, v, o);
          return 'ok';
        },
        key,
      );
    });

  clientOptions(kv.command('incr').argument('<key>').argument('[delta]'))
    .description('add DELTA (default 1) to a number; prints the new value')
    .action(async (key: string, delta: string | undefined, flags: ClientFlags) => {
      const d = delta === undefined ? 1 : Number(delta);
      if (!Number.isSafeInteger(d))
        throw new UsageError(`DELTA must be a safe integer, got ${String(delta)}`);
      const o = writeOpts(flags);
      await run(flags, (c, k) => c.incr(k, d, o), key);
    });

  clientOptions(kv.command('cas').argument('<key>').argument('<from>').argument('<to>'))
    .description('set KEY to TO if it holds FROM (JSON; null: absent); exit 1 if it does not')
    .action(async (key: string, from: string, to: string, flags: ClientFlags) => {
      const f = jsonArg('FROM', from, false);
      const t = jsonArg('TO', to, false);
      const o = writeOpts(flags);
      await run(
        flags,
        async (c, k) => {
          if (!(await c.cas(k, f, t, o))) {
            throw new KvError(
              'precondition-failed',
              `precondition-failed: ${JSON.stringify(k)} does not hold ${JSON.stringify(f)}`,
              412,
            );
          }
          return true;
        },
        key,
      );
    });

  clientOptions(kv.command('del').argument('<key>'))
    .description('delete a key')
    .action(async (key: string, flags: ClientFlags) => {
      const o = writeOpts(flags);
      await run(
        flags,
        async (c, k) => {
          await c.delete(k, o);
          return 'ok';
        },
        key,
      );
    });

  for (const c of kv.commands) c.exitOverride().configureOutput(program.configureOutput());
  kv.exitOverride().configureOutput(program.configureOutput());
}
