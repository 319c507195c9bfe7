/**
 * The runtime subcommands of `steadfast`: `node` (one real node process) and `cluster` (a local
 * cluster of real processes with faults, checked like a simulation).
 *
 *   steadfast node --id n1 --config cluster.json [--no-deliveries]
 *   steadfast cluster [--nodes 5] [--transport udp|tcp] [--guarantee exactly-once | --protocol P]
 *                     [--messages 20] [--kills 1] [--pauses 1 | --faults MODEL] [--fault-ms 2000]
 *                     [--liveness-ms 3000] [--seed S] [--dir DIR] [--keep]
 *
 * `cluster` runs the channel with its all-pairs sends (default), or with `--protocol P` any
 * protocol of the matrix registry: P's stack on every node, P's registry workload, P's registry
 * specification. The seed draws the workload, the fault schedule and the nodes faults take (the
 * real run's timing is the machine's); it is printed.
 * `--faults MODEL` injects one of the matrix's fault models for real instead of `--kills/--pauses`,
 * from a schedule drawn from the seed and printed (cluster.ts `faultSchedule`): crash (kill -9 a
 * minority, no restart), crash-recover (kill -9 and restart), pause (SIGSTOP/SIGCONT), omission
 * and partition (nftables rules on the nodes' own loopback addresses, nft.ts; UDP only, root).
 * The faults are healed, a liveness phase of `--liveness-ms` follows, and the cell's form is
 * printed (masking / fail-safe / non-masking / none, src/check/classify.ts) with the first
 * violation.
 *
 * Guarantees: bad flags end with commander's one-line error (exit 2, see main.ts; an unknown P
 * lists the registry); `node` exits with the node's code; `cluster` prints the faults, the fate
 * of every planned operation (planned, issued, refused because the node was down, in doubt
 * after a crash, done, not done: src/runtime/accounting.ts), the verdicts of the specification
 * (src/check or the registry's, the same checkers as the simulator's) on the merged trace of
 * every process plus `accounted` (the supervisor's record agrees with the durable traces),
 * writes the trace as JSON Lines, and sets exit code 1 if a property is violated; a network fault
 * model where nftables cannot be used (not root, nft missing) or over TCP is exit 2, saying why.
 * Assumes: wired into main.ts with `registerRuntimeCommands(program, write, writeErr)`.
 */

import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { ensureOutputDir, intArg, nodesOption } from './args.ts';
import { FORM_MEANING, formOf } from '../check/classify.ts';
import { checkGuarantee, summarize } from '../check/guarantees.ts';
import { fail, formatVerdicts, pass, type Verdict } from '../check/verdict.ts';
import { nodeIds } from '../core/ids.ts';
import { createRng } from '../core/rng.ts';
import { toJsonLines } from '../core/trace.ts';
import { findProtocol, protocols } from '../matrix/registry.ts';
import type { Guarantee } from '../protocols/delivery/guarantees.ts';
import { formatAccounting, type Accounting } from '../runtime/accounting.ts';
import {
  channelPlan,
  DEFAULT_QUIET_MS,
  describeFault,
  FAULT_MODELS,
  faultSchedule,
  needsNetworkFaults,
  randomFaults,
  runCluster,
  type FaultModel,
  type Settled,
} from '../runtime/cluster.ts';
import { nftUnavailable } from '../runtime/nft.ts';
import { runNodeMain } from '../runtime/node-run.ts';
import { registryPlan } from '../runtime/registry-stack.ts';

interface ClusterFlags {
  nodes: number;
  transport: 'udp' | 'tcp';
  protocol?: string;
  guarantee: Guarantee;
  messages: number;
  kills: number;
  pauses: number;
  faults?: FaultModel;
  faultMs: number;
  livenessMs: number;
  seed?: number;
  dir?: string;
  keep?: boolean;
}

export function registerRuntimeCommands(
  program: Command,
  write: (s: string) => void,
  writeErr: (s: string) => void,
): void {
  program
    .command('node')
    .description('run one node of a cluster config over real UDP/TCP (JSON Lines on stdin/stdout)')
    .requiredOption('--id <node>', "this node's id in the config")
    .requiredOption('--config <file>', 'cluster config (JSON; see src/runtime/config.ts)')
    .option('--no-deliveries', 'do not print deliveries on stdout')
    .option(
      '--init',
      'this is a new node: create its data (refused if it exists); without it, missing data is refused',
    )
    .action(async (opts: { id: string; config: string; deliveries: boolean; init?: boolean }) => {
      const code = await runNodeMain({
        id: opts.id,
        config: opts.config,
        deliveries: opts.deliveries,
        init: opts.init === true,
        writeErr,
      });
      process.exitCode = code;
    });

  program
    .command('cluster')
    .description(
      'start a local cluster of real node processes, drive a workload with kill -9 and SIGSTOP ' +
        "faults, account for every planned operation and check the protocol's specification on " +
        'the merged trace',
    )
    .addOption(nodesOption('cluster'))
    .addOption(
      new Option('--transport <kind>', 'network transport').choices(['udp', 'tcp']).default('udp'),
    )
    .addOption(
      new Option(
        '--protocol <name>',
        'a registry protocol: its stack, workload and specification (default: the channel, see --guarantee)',
      )
        .choices(protocols().map((e) => e.name))
        .conflicts('guarantee'),
    )
    .addOption(
      new Option('--guarantee <g>', 'delivery guarantee of every channel')
        .choices(['at-most-once', 'at-least-once', 'exactly-once'])
        .default('exactly-once'),
    )
    .addOption(
      new Option(
        '--messages <n>',
        'messages each node sends to each other node (the channel); with --protocol, messages per node as the matrix counts them',
      )
        .default(20)
        .argParser(intArg('--messages', 1, 100_000)),
    )
    .addOption(
      new Option('--kills <n>', 'kill -9 a random node at a random moment, then restart it (times)')
        .default(1)
        .argParser(intArg('--kills', 0, 100)),
    )
    .addOption(
      new Option('--pauses <n>', 'SIGSTOP a random node for 0.2–1 s (times)')
        .default(1)
        .argParser(intArg('--pauses', 0, 100)),
    )
    .addOption(
      new Option(
        '--faults <model>',
        'a matrix fault model injected for real (instead of --kills/--pauses), its schedule drawn from --seed and printed; omission and partition use nftables (root, UDP)',
      )
        .choices([...FAULT_MODELS])
        .conflicts(['kills', 'pauses']),
    )
    .addOption(
      new Option('--fault-ms <ms>', 'the faults (and the workload) happen in the first <ms> ms')
        .default(2000)
        .argParser(intArg('--fault-ms', 100, 600_000)),
    )
    .addOption(
      new Option(
        '--liveness-ms <ms>',
        "with --protocol: the run lasts at least fault + liveness ms (a store's final reads come 70% into it)",
      )
        .default(3000)
        .argParser(intArg('--liveness-ms', 0, 600_000)),
    )
    .addOption(
      new Option(
        '--seed <n>',
        'seed of the workload, the fault schedule and the choice of nodes (default: random, printed)',
      ).argParser(intArg('--seed', 0, 2 ** 32 - 1)),
    )
    .option('--dir <dir>', 'working directory (config, data, trace); default: a temporary one')
    .option('--keep', 'keep the temporary working directory')
    .action(async (opts: ClusterFlags) => {
      if (opts.dir !== undefined) ensureOutputDir('--dir', opts.dir);
      const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'steadfast-cluster-'));
      const seed = opts.seed ?? randomInt(0, 2 ** 32 - 1);
      const ids = nodeIds(opts.nodes);
      const entry = opts.protocol === undefined ? undefined : findProtocol(opts.protocol);
      const runMs = opts.faultMs + opts.livenessMs;
      const faults =
        opts.faults === undefined
          ? randomFaults(createRng(seed).fork('faults'), {
              kills: opts.kills,
              pauses: opts.pauses,
              withinMs: opts.faultMs,
            })
          : faultSchedule(opts.faults, createRng(seed).fork('faults'), {
              ids,
              withinMs: opts.faultMs,
            });
      if (needsNetworkFaults(faults)) {
        const why =
          opts.transport !== 'udp'
            ? 'it needs --transport udp (a TCP client socket is not bound to its node address)'
            : nftUnavailable();
        if (why !== undefined) {
          writeErr(`error: --faults ${opts.faults ?? ''} cannot be injected here: ${why}\n`);
          process.exitCode = 2;
          return;
        }
      }
      if (opts.faults !== undefined) {
        write(
          `fault schedule (--faults ${opts.faults}, seed ${seed}): ` +
            `${faults.map(describeFault).join('; ')}\n`,
        );
      }
      const withLiveness = entry !== undefined || opts.faults !== undefined;
      try {
        const r = await runCluster({
          nodes: opts.nodes,
          transport: opts.transport,
          stack:
            entry === undefined
              ? { guarantee: opts.guarantee, effect: 'counter' }
              : { protocol: entry.name },
          plan:
            entry === undefined
              ? channelPlan(ids, opts.messages, opts.faultMs)
              : registryPlan(entry.name, ids, {
                  messages: opts.messages,
                  faultPhaseMs: opts.faultMs,
                  runMs,
                  seed,
                }),
          faults,
          seed,
          ...(withLiveness ? { runMs } : {}),
          ...(entry === undefined
            ? {}
            : {
                // Every node is on loopback, whose MTU is 64 KiB: a registry stack's messages
                // (a Raft append of a whole batch, a snapshot) are not sized for 1,200 bytes.
                udpMaxDatagramBytes: 65_507,
              }),
          dir,
          log: (line) => {
            write(`  ${line}\n`);
          },
        });
        const tracePath = join(dir, 'trace.jsonl');
        writeFileSync(tracePath, toJsonLines(r.trace));
        const verdicts = [
          ...(entry === undefined
            ? checkGuarantee(r.trace, opts.guarantee, { correct: 'up-at-end' })
            : entry.check(r.trace, { nodes: ids, correct: 'up-at-end', byzantine: [] })),
          accountedVerdict(r.accounting),
        ];
        const sum = summarize(verdicts);
        const a = r.accounting;
        write(
          `\n${opts.nodes} processes over ${opts.transport}, ` +
            `${entry === undefined ? `${opts.guarantee} channel` : entry.name}, seed ${seed}, ` +
            `${(r.elapsedMs / 1000).toFixed(1)} s${settledText(r.settled, a.notDone)}\n`,
        );
        write(`faults: ${r.faults.length === 0 ? 'none' : r.faults.join('; ')}\n`);
        write(`operations: ${formatAccounting(a)}\n`);
        if (a.notDoneOps.length > 0) write(`not done: ${a.notDoneOps.join('; ')}\n`);
        write(formatVerdicts(verdicts));
        const kept = opts.dir !== undefined || opts.keep === true;
        write(
          `verdict: ${sum.safe ? 'safe' : 'NOT SAFE'}, ${sum.live ? 'live' : 'NOT LIVE'}` +
            ` (${r.trace.length} trace events${kept ? `, written to ${tracePath}` : ''})\n`,
        );
        if (opts.faults !== undefined) {
          const form = formOf(sum.safe, sum.live);
          const first =
            verdicts.find((v) => !v.holds && v.kind === 'safety') ?? verdicts.find((v) => !v.holds);
          write(
            `form under ${opts.faults}: ${form} (${FORM_MEANING[form]})` +
              (first === undefined
                ? ''
                : `; first violation: ${first.property} (${first.kind}): ${first.violation?.message ?? ''}`) +
              `\nrepeat the schedule: steadfast cluster --faults ${opts.faults} --seed ${seed}` +
              ` --nodes ${opts.nodes}${opts.transport === 'tcp' ? ' --transport tcp' : ''}${entry === undefined ? ` --guarantee ${opts.guarantee}` : ` --protocol ${entry.name}`}` +
              ` --messages ${opts.messages} --fault-ms ${opts.faultMs} --liveness-ms ${opts.livenessMs}\n`,
          );
        }
        if (!sum.safe || !sum.live) process.exitCode = 1;
      } finally {
        if (opts.dir === undefined && opts.keep !== true)
          rmSync(dir, { recursive: true, force: true });
        else write(`working directory kept: ${dir}\n`);
      }
    });
}

function settledText(settled: Settled, notDone: number): string {
  if (settled === 'done') return '';
  if (settled === 'quiet') {
    return ` (stopped: no delivery for ${DEFAULT_QUIET_MS / 1000} s, ${notDone} operations not done)`;
  }
  return ' (did NOT settle in time)';
}

/**
 * The accounting as a verdict: every planned operation has one fate (refused, rejected, in
 * doubt, done, not done: asserted in accounting.ts), and the supervisor's record agrees with the
 * nodes' durable traces (nothing a node accepted is missing unless it crashed after; nothing is
 * in them that was not handed over). Not done operations are judged by the specification.
 */
function accountedVerdict(a: Accounting): Verdict {
  if (a.untraced.length === 0 && a.unplanned.length === 0) {
    return pass('accounted', 'safety', a.planned);
  }
  const parts = [
    ...(a.untraced.length > 0
      ? [
          `accepted by a node that never crashed after, yet not in its durable trace: ${a.untraced.join('; ')}`,
        ]
      : []),
    ...(a.unplanned.length > 0
      ? [`accepted in a trace, never handed over: ${a.unplanned.join('; ')}`]
      : []),
  ];
  return fail('accounted', 'safety', a.planned, parts.join('; '), []);
}
