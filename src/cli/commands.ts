/**
 * `steadfast matrix | sim | explore | replay`: the simulator's commands.
 *
 * Guarantees: every flag is validated before anything runs; a bad value is a one-line error
 * naming the flag and what it accepts (commander's InvalidArgumentError → exit code 2). A run
 * that finds a violation exits 1 from `sim` and `explore` (so scripts can branch on it); the
 * matrix exits 0 (violations are its content).
 */

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import { nodeIds } from '../core/ids.ts';
import { toJsonLines } from '../core/trace.ts';
import { runMatrix, simCommand, traceFile } from '../matrix/matrix.ts';
import { runPool } from '../matrix/pool.ts';
import { protocols } from '../matrix/registry.ts';
import { shrink } from '../matrix/shrink.ts';
import {
  FAULT_MODELS,
  firstViolation,
  materialize,
  runSpec,
  type FaultModel,
  type RunSpec,
} from '../matrix/spec.ts';
import type { Task } from '../matrix/task.ts';
import type { TimedAction } from '../sim/nemesis.ts';
import type { Delay, LinkFaults } from '../sim/network.ts';
import { formatMatrix, formatVerdicts, useColor } from './format.ts';
import { writeMatrixHtml, writeRunHtml, writeShiViz } from './reports.ts';
import { allScenarioRuns } from '../scenarios/catalog.ts';

type Write = (s: string) => void;

/** A usage mistake found after parsing (in an action): printed as one line, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function intArg(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(
        `${name} must be an integer in ${min}..${max}, got "${value}".`,
      );
    }
    return n;
  };
}

export function probabilityArg(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) {
      throw new InvalidArgumentError(`${name} must be a number in [0, 1], got "${value}".`);
    }
    return n;
  };
}

function listArg<T extends string>(name: string, allowed: readonly T[]) {
  return (value: string): T[] => {
    const items = value
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    const bad = items.filter((s) => !allowed.includes(s as T));
    if (items.length === 0 || bad.length > 0) {
      throw new InvalidArgumentError(
        `${name}: unknown ${bad.length > 0 ? `"${bad.join(',')}"` : 'empty list'}; accepted: ${allowed.join(', ')} (comma-separated).`,
      );
    }
    return items as T[];
  };
}

/** "5" (fixed ms) or "1-100" (uniform ms). */
export function delayArg(value: string): Delay {
  const m = /^(\d+)(?:-(\d+))?$/.exec(value.trim());
  if (m === null) {
    throw new InvalidArgumentError(
      `--delay must be "MS" (fixed) or "MIN-MAX" (uniform, ms), got "${value}".`,
    );
  }
  const a = Number(m[1]);
  const b = m[2] === undefined ? undefined : Number(m[2]);
  if (b === undefined) return { kind: 'fixed', ms: a };
  if (b < a) throw new InvalidArgumentError(`--delay: MAX must be ≥ MIN, got "${value}".`);
  return { kind: 'uniform', minMs: a, maxMs: b };
}

/** "n2@300" (crash-stop at 300 ms) or "n2@300+500" (recover 500 ms later). Repeatable. */
export function crashArg(value: string, previous: TimedAction[] = []): TimedAction[] {
  const m = /^([^@\s]+)@(\d+)(?:\+(\d+))?$/.exec(value.trim());
  if (m === null) {
    throw new InvalidArgumentError(
      `--crash must be NODE@MS or NODE@MS+RECOVER_AFTER_MS (e.g. n2@300+500), got "${value}".`,
    );
  }
  const node = m[1] as string;
  const at = Number(m[2]);
  const out: TimedAction[] = [...previous, { at, action: { kind: 'crash', node } }];
  if (m[3] !== undefined) out.push({ at: at + Number(m[3]), action: { kind: 'recover', node } });
  return out;
}

/** "START-END": split the nodes in two halves from START to END ms. */
export function partitionArg(value: string): { startMs: number; endMs: number } {
  const m = /^(\d+)-(\d+)$/.exec(value.trim());
  if (m === null || Number(m[2]) <= Number(m[1])) {
    throw new InvalidArgumentError(
      `--partition must be START-END in ms with END > START (e.g. 200-900), got "${value}".`,
    );
  }
  return { startMs: Number(m[1]), endMs: Number(m[2]) };
}

interface SimFlags {
  protocol: string;
  faults: FaultModel;
  nodes: number;
  seed: number;
  messages: number;
  loss?: number;
  dup?: number;
  delay?: Delay;
  corrupt?: number;
  checksum: boolean;
  auth?: boolean;
  partition?: { startMs: number; endMs: number };
  crash?: TimedAction[];
  byzantine?: number;
  duration?: number;
  trace?: string;
  html?: string;
  shiviz?: string;
  json?: boolean;
}

/** The preset's spec with the explicit flag overrides applied. */
export function specFromFlags(o: SimFlags): RunSpec {
  const base = materialize(o.protocol, o.faults, o.nodes, o.seed, {
    messages: o.messages,
    ...(o.duration === undefined ? {} : { livenessMs: o.duration }),
  });
  const network: Partial<LinkFaults> = { ...base.network };
  const set = <K extends keyof LinkFaults>(k: K, v: LinkFaults[K] | undefined) => {
    if (v !== undefined) (network as Record<string, unknown>)[k] = v;
  };
  set('lossProbability', o.loss);
  set('duplicateProbability', o.dup);
  set('delay', o.delay);
  set('corruptProbability', o.corrupt);
  const ids = nodeIds(o.nodes);
  const extra: TimedAction[] = [...(o.crash ?? [])];
  for (const a of extra) {
    const node = (a.action as { node?: string }).node;
    if (node !== undefined && !ids.includes(node)) {
      throw new UsageError(`--crash: no node "${node}" (nodes are ${ids.join(', ')}).`);
    }
  }
  if (o.partition !== undefined) {
    const half = Math.ceil(o.nodes / 2);
    extra.push({
      at: o.partition.startMs,
      action: { kind: 'partition', groups: [ids.slice(0, half), ids.slice(half)] },
    });
    extra.push({ at: o.partition.endMs, action: { kind: 'heal' } });
  }
  const faultyNetwork = o.loss !== undefined || o.dup !== undefined || o.corrupt !== undefined;
  const hasHeal = base.nemesis.some((t) => t.action.kind === 'heal-all');
  if ((extra.length > 0 || faultyNetwork) && !hasHeal) {
    extra.push({ at: base.faultPhaseMs, action: { kind: 'heal-all', recoverCrashed: true } });
  }
  const nemesis = [...base.nemesis, ...extra].sort((a, b) => a.at - b.at);
  const byzantine = o.byzantine === undefined ? base.byzantine : ids.slice(o.nodes - o.byzantine);
  return {
    ...base,
    network,
    nemesis,
    byzantine,
    checksum: o.checksum && base.checksum,
    auth: o.auth ?? base.auth,
  };
}

function protocolNames(): string[] {
  return protocols().map((p) => p.name);
}

export function registerSimCommands(program: Command, write: Write, writeErr: Write): void {
  const color = useColor(process.stdout);
  const cores = Math.max(1, availableParallelism());

  program
    .command('matrix')
    .description(
      'run every protocol under every fault model over many seeds and classify each cell',
    )
    .addOption(
      new Option('--protocols <list>', `comma-separated protocols (default: all)`).argParser(
        listArg('--protocols', protocolNames()),
      ),
    )
    .addOption(
      new Option('--faults <list>', 'comma-separated fault models (default: all)').argParser(
        listArg('--faults', FAULT_MODELS),
      ),
    )
    .addOption(
      new Option('--seeds <n>', 'seeds (runs) per cell')
        .default(20)
        .argParser(intArg('--seeds', 1, 100_000)),
    )
    .addOption(
      new Option('--first-seed <n>', 'first seed')
        .default(1)
        .argParser(intArg('--first-seed', 0, 2 ** 31)),
    )
    .addOption(
      new Option('--nodes <n>', 'nodes per run').default(5).argParser(intArg('--nodes', 2, 50)),
    )
    .addOption(
      new Option('--messages <n>', 'messages (or broadcasts) per node per run')
        .default(4)
        .argParser(intArg('--messages', 1, 1000)),
    )
    .addOption(
      new Option('--workers <n>', 'worker threads')
        .default(cores)
        .argParser(intArg('--workers', 1, 256)),
    )
    .option('--no-shrink', 'do not shrink counterexamples')
    .addOption(
      new Option('--out <file>', 'also write the result as JSON (schema steadfast.matrix/1)'),
    )
    .addOption(
      new Option('--traces <dir>', 'write each shrunk counterexample trace here').default(
        'out/counterexamples',
      ),
    )
    .addOption(
      new Option('--html <file>', 'write an HTML report (click a cell for its counterexample)'),
    )
    .option('--json', 'print JSON (schema steadfast.matrix/1) instead of the table')
    .action(
      async (o: {
        protocols?: string[];
        faults?: FaultModel[];
        seeds: number;
        firstSeed: number;
        nodes: number;
        messages: number;
        workers: number;
        shrink: boolean;
        out?: string;
        traces: string;
        html?: string;
        json?: boolean;
      }) => {
        if (o.html !== undefined && !o.shrink) {
          throw new UsageError('--html draws the shrunk counterexamples: drop --no-shrink.');
        }
        mkdirSync(o.traces, { recursive: true });
        const bar =
          process.stderr.isTTY && o.json !== true
            ? new SingleBar({
                format: 'matrix [{bar}] {value}/{total} runs  {eta_formatted} left',
                hideCursor: true,
                stream: process.stderr,
              })
            : undefined;
        let started = false;
        const m = await runMatrix({
          ...(o.protocols === undefined ? {} : { protocols: o.protocols }),
          ...(o.faults === undefined ? {} : { faults: o.faults }),
          nodes: o.nodes,
          seeds: o.seeds,
          firstSeed: o.firstSeed,
          messages: o.messages,
          workers: o.workers,
          shrink: o.shrink,
          outDir: o.traces,
          onProgress: (done, total) => {
            if (bar === undefined) return;
            if (!started) {
              bar.start(total, 0);
              started = true;
            }
            bar.update(done);
          },
        });
        bar?.stop();
        if (o.out !== undefined) writeFileSync(o.out, JSON.stringify(m, null, 2) + '\n');
        if (o.html !== undefined) writeMatrixHtml(o.html, m, allScenarioRuns());
        write(o.json === true ? JSON.stringify(m, null, 2) + '\n' : formatMatrix(m, color));
      },
    );

  program
    .command('sim')
    .description(
      'run one protocol under one fault model for one seed; print the verdicts; write the trace',
    )
    .addOption(
      new Option('--protocol <name>', 'protocol').choices(protocolNames()).makeOptionMandatory(),
    )
    .addOption(
      new Option('--faults <model>', 'fault-model preset').choices(FAULT_MODELS).default('none'),
    )
    .addOption(new Option('--nodes <n>', 'nodes').default(5).argParser(intArg('--nodes', 2, 200)))
    .addOption(
      new Option('--seed <n>', 'seed').default(1).argParser(intArg('--seed', 0, 2 ** 32 - 1)),
    )
    .addOption(
      new Option('--messages <n>', 'messages (or broadcasts) per node')
        .default(4)
        .argParser(intArg('--messages', 1, 100_000)),
    )
    .addOption(new Option('--loss <p>', 'loss probability').argParser(probabilityArg('--loss')))
    .addOption(
      new Option('--dup <p>', 'duplication probability').argParser(probabilityArg('--dup')),
    )
    .addOption(new Option('--delay <ms>', 'one-way delay: MS or MIN-MAX').argParser(delayArg))
    .addOption(
      new Option('--corrupt <p>', 'bit-flip probability per frame').argParser(
        probabilityArg('--corrupt'),
      ),
    )
    .option('--no-checksum', 'turn CRC32C checksums off')
    .option('--auth', 'authenticate frames with HMAC-SHA256')
    .addOption(
      new Option(
        '--partition <start-end>',
        'split the nodes in two halves from START to END ms',
      ).argParser(partitionArg),
    )
    .addOption(
      new Option('--crash <node@ms[+recover]>', 'crash a node (repeatable)').argParser(crashArg),
    )
    .addOption(
      new Option('--byzantine <n>', 'number of Byzantine nodes (the last ones)').argParser(
        intArg('--byzantine', 0, 200),
      ),
    )
    .addOption(
      new Option('--duration <ms>', 'length of the healed liveness phase').argParser(
        intArg('--duration', 0, 10_000_000),
      ),
    )
    .addOption(
      new Option('--trace <file>', 'write the trace as JSON Lines (header line: the run spec)'),
    )
    .addOption(new Option('--html <file>', 'write an HTML report with the space-time diagram'))
    .addOption(new Option('--shiviz <file>', 'write a ShiViz log (vector clocks) of the run'))
    .option('--json', 'print the verdicts as JSON')
    .action((o: SimFlags) => {
      if (o.byzantine !== undefined && o.byzantine >= o.nodes) {
        throw new UsageError(`--byzantine must be below --nodes (${o.nodes}), got ${o.byzantine}.`);
      }
      const spec = specFromFlags(o);
      const r = runSpec(spec);
      if (o.trace !== undefined) writeFileSync(o.trace, traceFile(spec, r.trace));
      if (o.html !== undefined) writeRunHtml(o.html, spec, r.trace, r.verdicts);
      if (o.shiviz !== undefined) writeShiViz(o.shiviz, r.trace);
      if (o.json === true) {
        write(
          JSON.stringify(
            {
              schema: 'steadfast.sim/1',
              spec,
              safe: r.safe,
              live: r.live,
              verdicts: r.verdicts.map((v) => ({
                property: v.property,
                kind: v.kind,
                holds: v.holds,
                checked: v.checked,
                message: v.violation?.message,
              })),
              stats: r.stats,
            },
            null,
            2,
          ) + '\n',
        );
      } else {
        const form = r.safe ? (r.live ? 'masking' : 'fail-safe') : r.live ? 'non-masking' : 'none';
        write(
          `${spec.protocol} under ${spec.faults}, ${spec.nodes} nodes, seed ${spec.seed}: ${r.safe ? 'safe' : 'NOT safe'}, ${r.live ? 'live' : 'NOT live'} (${form} in this run)\n`,
        );
        write(formatVerdicts(r.verdicts, useColor(process.stdout)));
        write(
          `  ${r.stats.sent} frames sent, ${r.stats.dropped} dropped, ${r.stats.duplicated} duplicated, ${r.stats.corrupted} corrupted, ${r.stats.delivered} delivered, ${r.stats.crashes} crashes; ${r.trace.length} trace events\n`,
        );
        if (o.trace !== undefined)
          write(`  trace: ${o.trace} (check determinism: steadfast replay ${o.trace})\n`);
      }
      process.exitCode = r.safe && r.live ? 0 : 1;
    });

  program
    .command('explore')
    .description('run many seeds of one scenario in parallel; shrink the first counterexample')
    .addOption(
      new Option('--protocol <name>', 'protocol').choices(protocolNames()).makeOptionMandatory(),
    )
    .addOption(
      new Option('--faults <model>', 'fault-model preset')
        .choices(FAULT_MODELS)
        .default('omission'),
    )
    .addOption(new Option('--nodes <n>', 'nodes').default(5).argParser(intArg('--nodes', 2, 200)))
    .addOption(
      new Option('--seeds <n>', 'how many seeds')
        .default(200)
        .argParser(intArg('--seeds', 1, 10_000_000)),
    )
    .addOption(
      new Option('--first-seed <n>', 'first seed')
        .default(1)
        .argParser(intArg('--first-seed', 0, 2 ** 31)),
    )
    .addOption(
      new Option('--messages <n>', 'messages (or broadcasts) per node')
        .default(4)
        .argParser(intArg('--messages', 1, 100_000)),
    )
    .addOption(
      new Option('--workers <n>', 'worker threads')
        .default(cores)
        .argParser(intArg('--workers', 1, 256)),
    )
    .option('--all', 'keep going after the first counterexample')
    .addOption(new Option('--out <dir>', 'where to write the shrunk trace').default('out'))
    .action(
      async (o: {
        protocol: string;
        faults: FaultModel;
        nodes: number;
        seeds: number;
        firstSeed: number;
        messages: number;
        workers: number;
        all?: boolean;
        out: string;
      }) => {
        const tasks: Task[] = Array.from({ length: o.seeds }, (_, i) => ({
          protocol: o.protocol,
          faults: o.faults,
          nodes: o.nodes,
          seed: o.firstSeed + i,
          messages: o.messages,
        }));
        const t0 = performance.now();
        const results = await runPool(tasks, {
          workers: o.workers,
          shouldStop: (r) => o.all !== true && (!r.safe || !r.live),
        });
        const wall = performance.now() - t0;
        const failing = results.filter((r) => !r.safe || !r.live).sort((a, b) => a.seed - b.seed);
        write(
          `${o.protocol} under ${o.faults}, ${o.nodes} nodes: ${results.length} seeds run in ${(wall / 1000).toFixed(2)} s (${Math.round(results.length / (wall / 1000))} seeds/s on ${o.workers} workers), ${failing.length} with a violation\n`,
        );
        const first = failing[0];
        if (first?.violation === undefined) {
          process.exitCode = 0;
          return;
        }
        write(
          `first counterexample: seed ${first.seed}: ${first.violation.property} (${first.violation.kind}): ${first.violation.message}\n`,
        );
        write(
          `  reproduce: ${simCommand(o.protocol, o.faults, o.nodes, first.seed, o.messages)}\n`,
        );
        const spec = materialize(o.protocol, o.faults, o.nodes, first.seed, {
          messages: o.messages,
        });
        const s = shrink(spec, first.violation.property);
        mkdirSync(o.out, { recursive: true });
        const file = `${o.out}/shrunk-${o.protocol}-${o.faults}-seed${first.seed}.jsonl`;
        const shrunkRun = runSpec(s.spec);
        writeFileSync(file, traceFile(s.spec, shrunkRun.trace));
        write(
          `  shrunk in ${s.runs} runs: size ${s.from} → ${s.to} (nodes ${s.spec.nodes}, ${s.spec.workload.length} commands, ${s.spec.nemesis.length} fault actions); still violates ${first.violation.property}\n`,
        );
        write(`  replay the shrunk run: steadfast replay ${file}\n`);
        process.exitCode = 1;
      },
    );

  program
    .command('replay')
    .description('re-run the run recorded in a trace file and check it replays byte for byte')
    .argument('<trace.jsonl>', 'a trace written by sim --trace, explore or matrix')
    .action((file: string) => {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
      }
      const nl = text.indexOf('\n');
      let header: { type?: unknown; spec?: RunSpec };
      try {
        header = JSON.parse(nl < 0 ? text : text.slice(0, nl)) as typeof header;
      } catch {
        throw new UsageError(
          `${file}: the first line is not JSON; expected a trace written by steadfast.`,
        );
      }
      if (header.type !== 'run' || header.spec === undefined) {
        throw new UsageError(
          `${file}: no run header on the first line; expected a trace written by steadfast (sim --trace, explore, matrix).`,
        );
      }
      const r = runSpec(header.spec);
      const recorded = text.slice(nl + 1);
      const replayed = toJsonLines(r.trace);
      const spec = header.spec;
      if (recorded === replayed) {
        write(
          `replayed ${spec.protocol} under ${spec.faults} (seed ${spec.seed}): ${r.trace.length} events, identical to the recording\n`,
        );
        write(formatVerdicts(r.verdicts, useColor(process.stdout)));
        const v = firstViolation(r.verdicts);
        process.exitCode = v === undefined ? 0 : 1;
        return;
      }
      const a = recorded.split('\n');
      const b = replayed.split('\n');
      let i = 0;
      while (i < a.length && a[i] === b[i]) i++;
      writeErr(
        `replay DIFFERS from the recording at event ${i + 1}:\n  recorded: ${a[i] ?? '(end)'}\n  replayed: ${b[i] ?? '(end)'}\n`,
      );
      process.exitCode = 3;
    });
}
