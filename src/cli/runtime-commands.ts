/**
 * The runtime subcommands of `steadfast`: `node` (one real node process) and `cluster` (a local
 * cluster of real processes with faults, checked like a simulation).
 *
 *   steadfast node --id n1 --config cluster.json [--init] [--no-deliveries] [--listen PATH]
 *                  [--inbox-max N]
 *   steadfast cluster [--nodes 5] [--transport udp|tcp] [--guarantee exactly-once | --protocol P]
 *                     [--messages 20] [--kills 1] [--pauses 1 | --faults MODEL] [--fault-ms 2000]
 *                     [--liveness-ms 3000] [--network netns|loopback] [--seed S] [--dir DIR]
 *                     [--keep]
 *   steadfast cluster --matrix [--protocols a,b] [--faults x,y] [--runs 1] [--html FILE] …
 *
 * `cluster` runs the channel with its all-pairs sends (default), or with `--protocol P` any
 * protocol of the matrix registry: P's stack on every node, P's registry workload, P's registry
 * specification. The seed draws the workload, the fault schedule and the nodes faults take (the
 * real run's timing is the machine's); it is printed.
 * `--faults MODEL` injects one of the matrix's fault models for real instead of `--kills/--pauses`,
 * from a schedule drawn from the seed and printed (cluster.ts `faultSchedule`): crash (kill -9 a
 * minority, no restart), crash-recover (kill -9 and restart), pause (SIGSTOP/SIGCONT), omission
 * and partition (nftables rules, nft.ts: inside each node's network namespace with `--network
 * netns`, the default as root; on the nodes' own loopback addresses, UDP only, otherwise), and
 * byzantine (processes running the registry's adversary, plus omission).
 * `--matrix` runs a grid of such cells beside the simulator's forms (runtime/real-matrix.ts) and
 * exits 1 when a real cell lacks a property the simulator's cell has.
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
import { InvalidArgumentError, Option, type Command } from 'commander';
import {
  checkOutputFile,
  ensureOutputDir,
  intArg,
  nodesOption,
  UsageError,
  writeOutput,
} from './args.ts';
import { formatVerdicts } from '../check/verdict.ts';
import { nodeIds } from '../core/ids.ts';
import { createRng } from '../core/rng.ts';
import { toJsonLines } from '../core/trace.ts';
import { findProtocol, protocols } from '../matrix/registry.ts';
import type { Guarantee } from '../protocols/delivery/guarantees.ts';
import { formatAccounting } from '../runtime/accounting.ts';
import {
  byzantineNodes,
  DEFAULT_QUIET_MS,
  describeFault,
  FAULT_MODELS,
  faultSchedule,
  needsNetworkFaults,
  randomFaults,
  type ClusterFault,
  type FaultModel,
  type Settled,
} from '../runtime/cluster.ts';
import { netnsClusterUnavailable } from '../runtime/netns.ts';
import { nftUnavailable } from '../runtime/nft.ts';
import { runNodeMain } from '../runtime/node-run.ts';
import { formLine, runRealCell, type RealRunSettings } from '../runtime/real-cell.ts';
import {
  runRealMatrix,
  type RealMatrixOptions,
  type RealMatrixResult,
} from '../runtime/real-matrix.ts';
import { realMatrixReport } from './real-matrix-report.ts';
import { renderMatrixReport } from '../viz/html.ts';

interface ClusterFlags {
  nodes: number;
  transport: 'udp' | 'tcp';
  protocol?: string;
  guarantee: Guarantee;
  messages: number;
  kills: number;
  pauses: number;
  faults?: FaultModel[];
  network?: 'netns' | 'loopback';
  matrix?: boolean;
  protocols?: string[];
  runs: number;
  html?: string;
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
    .option(
      '--listen <path>',
      'also serve the JSON Lines protocol on a Unix domain socket at <path> (up to 16 clients)',
    )
    .option(
      '--inbox-max <n>',
      'durable inbox: exactly-once deliveries stay until {"type":"ack","id"}, at most <n> at once',
    )
    .action(
      async (opts: {
        id: string;
        config: string;
        deliveries: boolean;
        init?: boolean;
        listen?: string;
        inboxMax?: string;
      }) => {
        const code = await runNodeMain({
          id: opts.id,
          config: opts.config,
          deliveries: opts.deliveries,
          init: opts.init === true,
          listen: opts.listen,
          inboxMax: opts.inboxMax,
          writeErr,
        });
        process.exitCode = code;
      },
    );

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
        '--faults <models>',
        `matrix fault models injected for real (instead of --kills/--pauses), comma-separated with --matrix, else one: ${FAULT_MODELS.join(', ')}; the schedule is drawn from --seed and printed; network faults and byzantine use nftables (root)`,
      )
        .argParser(faultList)
        .conflicts(['kills', 'pauses']),
    )
    .addOption(
      new Option(
        '--network <kind>',
        'netns: each node in a network namespace of its own on a bridge (root); loopback: 127.0.0.x each (network faults over UDP only); default netns where the kernel allows it, else loopback',
      ).choices(['netns', 'loopback']),
    )
    .option(
      '--matrix',
      'run a grid of cells (--protocols × --faults, --runs each) on real processes, each beside the simulator’s form for the same cell; exit 1 if a real cell is worse',
    )
    .addOption(
      new Option(
        '--protocols <names>',
        'with --matrix: registry protocols, comma-separated',
      ).argParser(protocolList),
    )
    .addOption(
      new Option('--runs <k>', 'with --matrix: real runs per cell (seeds --seed, --seed+1, …)')
        .default(1)
        .argParser(intArg('--runs', 1, 100)),
    )
    .option('--html <file>', 'with --matrix: write the grid as an HTML report')
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
      const network = chooseNetwork(opts.network, writeErr);
      if (network === undefined) {
        process.exitCode = 2;
        return;
      }
      if (opts.matrix === true) {
        process.exitCode = await clusterMatrix(opts, network, write, writeErr);
        return;
      }
      for (const [flag, v] of [
        ['--protocols', opts.protocols],
        ['--html', opts.html],
      ] as const) {
        if (v !== undefined) throw new UsageError(`${flag} goes with --matrix`);
      }
      if (opts.faults !== undefined && opts.faults.length !== 1) {
        throw new UsageError(
          `--faults takes one model without --matrix, got ${opts.faults.join(',')}`,
        );
      }
      const model = opts.faults?.[0];
      if (opts.dir !== undefined) ensureOutputDir('--dir', opts.dir);
      const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'steadfast-cluster-'));
      const seed = opts.seed ?? randomInt(0, 2 ** 32 - 1);
      const ids = nodeIds(opts.nodes);
      const entry = opts.protocol === undefined ? undefined : findProtocol(opts.protocol);
      let schedule: ClusterFault[];
      try {
        schedule =
          model === undefined
            ? randomFaults(createRng(seed).fork('faults'), {
                kills: opts.kills,
                pauses: opts.pauses,
                withinMs: opts.faultMs,
              })
            : faultSchedule(model, createRng(seed).fork('faults'), {
                ids,
                withinMs: opts.faultMs,
              });
      } catch (e) {
        throw new UsageError(e instanceof Error ? e.message : String(e));
      }
      const why = faultsProblem(schedule, opts, network, entry !== undefined);
      if (why !== undefined) {
        writeErr(`error: --faults ${model ?? ''} cannot be injected here: ${why}\n`);
        process.exitCode = 2;
        return;
      }
      if (model !== undefined) {
        write(
          `fault schedule (--faults ${model}, seed ${seed}): ` +
            `${schedule.map(describeFault).join('; ')}\n`,
        );
      }
      try {
        const cell = await runRealCell({
          ...(entry === undefined ? { guarantee: opts.guarantee } : { protocol: entry.name }),
          fault: model ?? { label: 'kills and pauses', schedule },
          seed,
          ...runSettings(opts, network, dir),
          // The channel's runs without --faults end once settled (no liveness phase).
          livenessMs: entry !== undefined || model !== undefined ? opts.livenessMs : 0,
          log: (line) => {
            write(`  ${line}\n`);
          },
        });
        const r = cell.cluster;
        const tracePath = join(dir, 'trace.jsonl');
        writeFileSync(tracePath, toJsonLines(r.trace));
        const a = r.accounting;
        write(
          `\n${opts.nodes} processes over ${opts.transport}${network === 'netns' ? ' (a network namespace each)' : ''}, ` +
            `${entry === undefined ? `${opts.guarantee} channel` : entry.name}, seed ${seed}, ` +
            `${(r.elapsedMs / 1000).toFixed(1)} s${settledText(r.settled, a.notDone)}\n`,
        );
        write(`faults: ${r.faults.length === 0 ? 'none' : r.faults.join('; ')}\n`);
        write(`operations: ${formatAccounting(a)}\n`);
        if (a.notDoneOps.length > 0) write(`not done: ${a.notDoneOps.join('; ')}\n`);
        write(formatVerdicts([...cell.verdicts]));
        const kept = opts.dir !== undefined || opts.keep === true;
        write(
          `verdict: ${cell.safe ? 'safe' : 'NOT SAFE'}, ${cell.live ? 'live' : 'NOT LIVE'}` +
            ` (${r.trace.length} trace events${kept ? `, written to ${tracePath}` : ''})\n`,
        );
        if (model !== undefined) {
          write(`${formLine(model, cell)}\nrepeat the schedule: ${cell.repeat}\n`);
        }
        if (!cell.safe || !cell.live) process.exitCode = 1;
      } finally {
        if (opts.dir === undefined && opts.keep !== true)
          rmSync(dir, { recursive: true, force: true });
        else write(`working directory kept: ${dir}\n`);
      }
    });
}

/** How the flags say real runs are made (real-cell.ts). */
function runSettings(
  opts: ClusterFlags,
  network: 'netns' | 'loopback',
  dir: string,
): RealRunSettings {
  return {
    nodes: opts.nodes,
    transport: opts.transport,
    network,
    messages: opts.messages,
    faultMs: opts.faultMs,
    livenessMs: opts.livenessMs,
    dir,
  };
}

/** `--faults a,b`: each a real fault model. */
function faultList(v: string): FaultModel[] {
  const list = v.split(',').map((x) => x.trim());
  const bad = list.filter((x) => !(FAULT_MODELS as readonly string[]).includes(x));
  if (bad.length > 0 || list.length === 0) {
    throw new InvalidArgumentError(
      `unknown fault model ${bad.map((b) => JSON.stringify(b)).join(', ')}; accepted: ${FAULT_MODELS.join(', ')}`,
    );
  }
  return [...new Set(list)] as FaultModel[];
}

/** `--protocols a,b`: each a registry protocol. */
function protocolList(v: string): string[] {
  const names = protocols().map((e) => e.name);
  const list = v.split(',').map((x) => x.trim());
  const bad = list.filter((x) => !names.includes(x));
  if (bad.length > 0 || list.length === 0) {
    throw new InvalidArgumentError(
      `unknown protocol ${bad.map((b) => JSON.stringify(b)).join(', ')}; accepted: ${names.join(', ')}`,
    );
  }
  return [...new Set(list)];
}

/** The network the nodes live on: the flag, else namespaces where the kernel allows them. */
function chooseNetwork(
  flag: 'netns' | 'loopback' | undefined,
  writeErr: (s: string) => void,
): 'netns' | 'loopback' | undefined {
  const why = netnsClusterUnavailable();
  if (flag === 'netns' && why !== undefined) {
    writeErr(`error: --network netns cannot be used here: ${why}; use --network loopback\n`);
    return undefined;
  }
  if (flag !== undefined) return flag;
  if (why !== undefined) {
    writeErr(`note: nodes run on loopback, not in network namespaces of their own: ${why}\n`);
    return 'loopback';
  }
  return 'netns';
}

/** Why `schedule` cannot be injected with these flags here, or undefined. */
function faultsProblem(
  schedule: readonly ClusterFault[],
  opts: ClusterFlags,
  network: 'netns' | 'loopback',
  registry: boolean,
): string | undefined {
  if (byzantineNodes(schedule).length > 0 && !registry) {
    return 'byzantine needs --protocol (the registry defines the adversary)';
  }
  if (!needsNetworkFaults(schedule) || network === 'netns') return undefined;
  return opts.transport !== 'udp'
    ? 'on loopback it needs --transport udp (a TCP client socket is not bound to its node address; --network netns has no such limit)'
    : nftUnavailable();
}

/** `cluster --matrix`: the grid, printed beside the simulator's forms; its exit code. */
async function clusterMatrix(
  opts: ClusterFlags,
  network: 'netns' | 'loopback',
  write: (s: string) => void,
  writeErr: (s: string) => void,
): Promise<number> {
  if (opts.protocol !== undefined)
    throw new UsageError('--matrix takes --protocols, not --protocol');
  const names = opts.protocols ?? ['eager-rb', 'logged-eager-rb', 'gossip-rb', 'bracha'];
  const faults = opts.faults ?? ['crash', 'crash-recover', 'omission', 'partition'];
  if (faults.includes('byzantine') && opts.nodes < 4) {
    throw new UsageError('byzantine needs --nodes 4 or more (f = ⌊(N−1)/3⌋ liars)');
  }
  for (const f of faults) {
    const why = faultsProblem(
      faultSchedule(f, createRng(1), { ids: nodeIds(opts.nodes), withinMs: opts.faultMs }),
      opts,
      network,
      true,
    );
    if (why !== undefined) {
      writeErr(`error: --faults ${f} cannot be injected here: ${why}\n`);
      return 2;
    }
  }
  if (opts.html !== undefined) checkOutputFile('--html', opts.html);
  if (opts.dir !== undefined) ensureOutputDir('--dir', opts.dir);
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'steadfast-cluster-matrix-'));
  const seed = opts.seed ?? randomInt(0, 2 ** 32 - 1);
  const mo: RealMatrixOptions = {
    protocols: names,
    faults,
    runs: opts.runs,
    seed,
    ...runSettings(opts, network, dir),
    log: (line) => {
      write(`${line}\n`);
    },
    onCell: (c) => {
      for (const run of c.runs) {
        write(
          `  ${c.protocol} × ${c.fault}, seed ${run.seed}: ${run.form} (${(run.elapsedMs / 1000).toFixed(1)} s)` +
            `${run.cell.first === undefined ? '' : ` — ${run.cell.first.property}: ${run.cell.first.violation?.message ?? ''}`}\n`,
        );
      }
      if (c.worse.length > 0) {
        write(
          `  !!! REAL IS WORSE THAN THE SIMULATOR: ${c.protocol} × ${c.fault} is ${c.form} here, ${c.sim.form} in the simulator ` +
            `(${c.sim.column} column, ${c.sim.seeds} seeds): the real runs lack ${c.worse.join(' and ')}. ` +
            `A bug in the simulator's fault model or in the runtime. Repeat: ${c.runs.find((r) => !r.safe || !r.live)?.repeat ?? ''}\n`,
        );
      }
    },
  };
  write(
    `real matrix: ${names.length} protocols × ${faults.length} fault models × ${opts.runs} run${opts.runs === 1 ? '' : 's'}, ` +
      `${opts.nodes} processes each over ${opts.transport}${network === 'netns' ? ', a network namespace each' : ', loopback'}, seed ${seed}\n`,
  );
  try {
    const r = await runRealMatrix(mo);
    write(`\n${formatRealMatrix(r, names, faults)}`);
    const worse = r.cells.filter((c) => c.worse.length > 0);
    write(
      worse.length === 0
        ? `no real cell is worse than the simulator's (${r.cells.length} cells, ${(r.wallMs / 1000).toFixed(0)} s)\n`
        : `!!! ${worse.length} real cell${worse.length === 1 ? ' is' : 's are'} WORSE than the simulator's: ${worse.map((c) => `${c.protocol} × ${c.fault}`).join(', ')}\n`,
    );
    if (opts.html !== undefined) {
      writeOutput('--html', opts.html, renderMatrixReport(realMatrixReport(r, mo)));
      write(`HTML report: ${opts.html}\n`);
    }
    return worse.length > 0 ? 1 : 0;
  } finally {
    if (opts.dir === undefined && opts.keep !== true) rmSync(dir, { recursive: true, force: true });
    else write(`working directory kept: ${dir}\n`);
  }
}

/** The grid as text: each cell `real / simulator`, a worse cell marked `!!`. */
export function formatRealMatrix(
  r: RealMatrixResult,
  names: readonly string[],
  faults: readonly FaultModel[],
): string {
  const head = ['protocol', ...faults.map((f) => (f === 'pause' ? 'pause (sim: none)' : f))];
  const rows = names.map((p) => [
    p,
    ...faults.map((f) => {
      const c = r.cells.find((x) => x.protocol === p && x.fault === f);
      return c === undefined ? '–' : `${c.worse.length > 0 ? '!! ' : ''}${c.form} / ${c.sim.form}`;
    }),
  ]);
  const widths = head.map((h, i) =>
    Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd() + '\n';
  return (
    'each cell: real form / simulator form (same protocol and fault model)\n' +
    line(head) +
    rows.map(line).join('')
  );
}

function settledText(settled: Settled, notDone: number): string {
  if (settled === 'done') return '';
  if (settled === 'quiet') {
    return ` (stopped: no delivery for ${DEFAULT_QUIET_MS / 1000} s, ${notDone} operations not done)`;
  }
  return ' (did NOT settle in time)';
}
