/**
 * `steadfast matrix | sim | explore | replay`: the simulator's commands.
 *
 * Guarantees: every flag is validated before anything runs; a bad value is a one-line error
 * naming the flag and what it accepts (commander's InvalidArgumentError → exit code 2). A run
 * that finds a violation exits 1 from `sim` and `explore` (so scripts can branch on it); the
 * matrix exits 0 (violations are its content).
 *
 * SIZE. Over 600 lines: the sim, matrix, explore and replay commands with their flags, mostly
 * declarative option lists; a command moves to its own file when it grows (scenario and runtime
 * commands already have).
 */

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import {
  checkOutputFile,
  ensureOutputDir,
  intArg,
  nodesOption,
  probabilityArg,
  UsageError,
  writeOutput,
} from './args.ts';
import { SingleBar } from 'cli-progress';
import { nodeIds } from '../core/ids.ts';
import { toJsonLines } from '../core/trace.ts';
import { DEFAULT_CAP_SEEDS } from '../matrix/cap.ts';
import { DEFAULT_MATRIX_SEEDS, runMatrix, simCommand, traceFile } from '../matrix/matrix.ts';
import { runPool } from '../matrix/pool.ts';
import { KV_MATRIX_SEEDS, LOGGED_MATRIX_SEEDS, protocols } from '../matrix/registry.ts';
import { shrink } from '../matrix/shrink.ts';
import {
  FAULT_DESCRIPTIONS,
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
import { formatCap, formatMatrix, formatVerdicts, useColor } from './format.ts';
import { matrixHtml, runHtml } from './reports.ts';
import { toShiViz } from '../viz/shiviz.ts';
import { allScenarioRuns } from '../scenarios/catalog.ts';

type Write = (s: string) => void;

export { intArg, probabilityArg, UsageError } from './args.ts';

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

function pct(p: number): string {
  return `${Math.round(p * 1000) / 10}%`;
}

/**
 * What a `sim` run ran under, in words: the preset, or "custom faults: …" listing the fault
 * flags given on top of it (so `--loss 0.3` alone is never reported as "under none").
 */
export function faultsLabel(o: SimFlags): string {
  const extra: string[] = [];
  if (o.loss !== undefined) extra.push(`loss ${pct(o.loss)}`);
  if (o.dup !== undefined) extra.push(`duplication ${pct(o.dup)}`);
  if (o.delay !== undefined) {
    extra.push(
      o.delay.kind === 'fixed'
        ? `delay ${o.delay.ms} ms`
        : `delay ${o.delay.minMs}-${o.delay.maxMs} ms`,
    );
  }
  if (o.corrupt !== undefined) extra.push(`corruption ${pct(o.corrupt)}`);
  if (!o.checksum) extra.push('no checksum');
  if (o.auth === true) extra.push('HMAC authentication');
  if (o.partition !== undefined) {
    extra.push(`partition ${o.partition.startMs}-${o.partition.endMs} ms`);
  }
  for (const c of o.crash ?? []) {
    const a = c.action as { kind: string; node?: string };
    extra.push(`${a.kind} ${a.node ?? ''}@${c.at} ms`);
  }
  if (o.byzantine !== undefined) extra.push(`${o.byzantine} Byzantine`);
  if (extra.length === 0) return o.faults;
  return o.faults === 'none'
    ? `custom faults: ${extra.join(', ')}`
    : `${o.faults} + ${extra.join(', ')}`;
}

/** The fault models with their exact parameters, for `--help` (the README's table). */
function faultModelsHelp(): string {
  const width = Math.max(...FAULT_MODELS.map((f) => f.length));
  const lines = FAULT_MODELS.map((f) => {
    const words = FAULT_DESCRIPTIONS[f].split(' ');
    const out: string[] = [];
    let line = '';
    for (const w of words) {
      if (line.length > 0 && line.length + 1 + w.length > 100 - width - 4) {
        out.push(line);
        line = w;
      } else line = line.length === 0 ? w : `${line} ${w}`;
    }
    out.push(line);
    return out.map((l, i) => `  ${(i === 0 ? f : '').padEnd(width)}  ${l}`).join('\n');
  });
  return `\nFault models (--faults; each run draws its parameters from its seed):\n${lines.join('\n')}\n`;
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
    .addHelpText('after', faultModelsHelp)
    .addOption(
      new Option(
        '--protocols <list>',
        `comma-separated protocols (default: all but the replicated stores kv-*, which run when named)`,
      ).argParser(listArg('--protocols', protocolNames())),
    )
    .addOption(
      new Option('--faults <list>', 'comma-separated fault models (default: all)').argParser(
        listArg('--faults', FAULT_MODELS),
      ),
    )
    .addOption(
      new Option(
        '--seeds <n>',
        `seeds (runs) per cell (default ${DEFAULT_MATRIX_SEEDS}; ${KV_MATRIX_SEEDS} for a replicated store, ${LOGGED_MATRIX_SEEDS} for a logged broadcast)`,
      ).argParser(intArg('--seeds', 1, 100_000)),
    )
    .addOption(
      new Option('--first-seed <n>', 'first seed')
        .default(1)
        .argParser(intArg('--first-seed', 0, 2 ** 31)),
    )
    .addOption(nodesOption('matrix'))
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
    .addOption(
      new Option(
        '--cap-seeds <n>',
        `seeds per store of the CAP table (computed for the replicated stores among the rows; 0: none)`,
      )
        .default(DEFAULT_CAP_SEEDS)
        .argParser(intArg('--cap-seeds', 0, 100_000)),
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
        seeds?: number;
        firstSeed: number;
        nodes: number;
        messages: number;
        workers: number;
        capSeeds: number;
        shrink: boolean;
        out?: string;
        traces: string;
        html?: string;
        json?: boolean;
      }) => {
        if (o.html !== undefined && !o.shrink) {
          throw new UsageError('--html draws the shrunk counterexamples: drop --no-shrink.');
        }
        // Every output path is checked before the runs, which may take minutes.
        if (o.out !== undefined) checkOutputFile('--out', o.out);
        if (o.html !== undefined) checkOutputFile('--html', o.html);
        ensureOutputDir('--traces', o.traces);
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
          ...(o.seeds === undefined ? {} : { seeds: o.seeds }),
          firstSeed: o.firstSeed,
          messages: o.messages,
          workers: o.workers,
          shrink: o.shrink,
          capSeeds: o.capSeeds,
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
        if (o.out !== undefined) writeOutput('--out', o.out, JSON.stringify(m, null, 2) + '\n');
        if (o.html !== undefined) writeOutput('--html', o.html, matrixHtml(m, allScenarioRuns()));
        write(
          o.json === true
            ? JSON.stringify(m, null, 2) + '\n'
            : formatMatrix(m, color) + (m.cap === undefined ? '' : '\n' + formatCap(m.cap, color)),
        );
      },
    );

  program
    .command('sim')
    .description(
      'run one protocol under one fault model for one seed; print the verdicts; write the trace',
    )
    .addHelpText('after', faultModelsHelp)
    .addOption(
      new Option('--protocol <name>', 'protocol').choices(protocolNames()).makeOptionMandatory(),
    )
    .addOption(
      new Option('--faults <model>', 'fault-model preset').choices(FAULT_MODELS).default('none'),
    )
    .addOption(nodesOption('simulator'))
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
      if (o.trace !== undefined) checkOutputFile('--trace', o.trace);
      if (o.html !== undefined) checkOutputFile('--html', o.html);
      if (o.shiviz !== undefined) checkOutputFile('--shiviz', o.shiviz);
      const spec = specFromFlags(o);
      const r = runSpec(spec);
      if (o.trace !== undefined) writeOutput('--trace', o.trace, traceFile(spec, r.trace));
      if (o.html !== undefined) writeOutput('--html', o.html, runHtml(spec, r.trace, r.verdicts));
      if (o.shiviz !== undefined) writeOutput('--shiviz', o.shiviz, toShiViz(r.trace));
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
          `${spec.protocol} under ${faultsLabel(o)}, ${spec.nodes} nodes, seed ${spec.seed}: ${r.safe ? 'safe' : 'NOT safe'}, ${r.live ? 'live' : 'NOT live'} (${form} in this run)\n`,
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
    .addHelpText('after', faultModelsHelp)
    .addOption(
      new Option('--protocol <name>', 'protocol').choices(protocolNames()).makeOptionMandatory(),
    )
    .addOption(
      new Option('--faults <model>', 'fault-model preset')
        .choices(FAULT_MODELS)
        .default('omission'),
    )
    .addOption(nodesOption('simulator'))
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
        ensureOutputDir('--out', o.out);
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
        const file = `${o.out}/shrunk-${o.protocol}-${o.faults}-seed${first.seed}.jsonl`;
        const shrunkRun = runSpec(s.spec);
        writeOutput('--out', file, traceFile(s.spec, shrunkRun.trace));
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
    .addHelpText(
      'after',
      '\nExit codes:\n' +
        '  0  identical to the recording, every property holds\n' +
        '  1  identical to the recording, a property is violated (the verdicts say which)\n' +
        '  2  not a replayable trace: unreadable, no run header, a header field missing or wrong\n' +
        '  3  DIFFERS: the replay is not the recording (nondeterminism, or another version)\n' +
        '  4  truncated: the recording is a prefix of the replay (the file was cut short)\n',
    )
    .action((file: string) => {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
      }
      const nl = text.indexOf('\n');
      let header: unknown;
      try {
        header = JSON.parse(nl < 0 ? text : text.slice(0, nl));
      } catch {
        throw new UsageError(
          `${file}: the first line is not JSON; expected a trace written by steadfast.`,
        );
      }
      if (
        typeof header !== 'object' ||
        header === null ||
        !('type' in header) ||
        header.type !== 'run'
      ) {
        throw new UsageError(
          `${file}: no run header on the first line; expected a trace written by steadfast (sim --trace, explore, matrix).`,
        );
      }
      const spec = replayableSpec(file, 'spec' in header ? header.spec : undefined);
      let r: ReturnType<typeof runSpec>;
      try {
        r = runSpec(spec);
      } catch (err) {
        throw new UsageError(
          `${file}: the run header's spec cannot be run: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      const recorded = nl < 0 ? '' : text.slice(nl + 1);
      const replayed = toJsonLines(r.trace);
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
      // A recording that stops early, every event so far identical (the last line may be cut
      // mid-way), was truncated: it does not differ, it is incomplete.
      if (replayed.startsWith(recorded)) {
        const whole = recorded.split('\n').length - 1;
        writeErr(
          `replay: ${file} is truncated: it ends after ${whole} complete events, all identical to the replay, which has ${r.trace.length}; re-record it with the command that wrote it.\n`,
        );
        process.exitCode = 4;
        return;
      }
      writeErr(
        `replay DIFFERS from the recording at event ${i + 1}:\n  recorded: ${a[i] ?? '(end)'}\n  replayed: ${b[i] ?? '(end)'}\n`,
      );
      process.exitCode = 3;
    });
}

/** The spec of a trace header, checked field by field (a missing one is named: exit 2). */
function replayableSpec(file: string, spec: unknown): RunSpec {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw new UsageError(`${file}: the run header has no "spec" object; not a steadfast trace.`);
  }
  const s = spec as Record<string, unknown>;
  const isInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  const isObj = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
  const fields: [keyof RunSpec, string, (v: unknown) => boolean][] = [
    ['protocol', 'a protocol name', (v) => typeof v === 'string'],
    ['faults', `one of ${FAULT_MODELS.join(', ')}`, (v) => FAULT_MODELS.includes(v as FaultModel)],
    ['nodes', 'an integer ≥ 1', (v) => isInt(v) && (v as number) >= 1],
    ['seed', 'an integer ≥ 0', isInt],
    ['network', 'an object', isObj],
    ['checksum', 'true or false', (v) => typeof v === 'boolean'],
    ['auth', 'true or false', (v) => typeof v === 'boolean'],
    ['byzantine', 'a list of node ids', Array.isArray],
    ['nemesis', 'a list of timed fault actions', Array.isArray],
    ['workload', 'a list of timed commands', Array.isArray],
    ['faultPhaseMs', 'an integer ≥ 0 (ms)', isInt],
    ['runMs', 'an integer ≥ 0 (ms)', isInt],
  ];
  for (const [name, what, ok] of fields) {
    if (!(name in s)) {
      throw new UsageError(
        `${file}: the run header lacks spec.${name} (${what}); the trace was edited or written by another version.`,
      );
    }
    if (!ok(s[name])) {
      throw new UsageError(
        `${file}: the run header's spec.${name} must be ${what}, got ${JSON.stringify(s[name])}.`,
      );
    }
  }
  const names = protocolNames();
  if (!names.includes(s.protocol as string)) {
    throw new UsageError(
      `${file}: the run header names an unknown protocol "${String(s.protocol)}"; known: ${names.join(', ')}.`,
    );
  }
  return spec as RunSpec;
}
