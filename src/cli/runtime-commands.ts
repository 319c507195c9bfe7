/**
 * The runtime subcommands of `steadfast`: `node` (one real node process) and `cluster` (a local
 * cluster of real processes with faults, checked like a simulation).
 *
 *   steadfast node --id n1 --config cluster.json [--no-deliveries]
 *   steadfast cluster [--nodes 5] [--transport udp|tcp] [--guarantee exactly-once]
 *                     [--messages 20] [--kills 1] [--pauses 1] [--dir DIR] [--keep]
 *
 * Guarantees: bad flags end with commander's one-line error (exit 2, see main.ts); `node` exits
 * with the node's code; `cluster` prints the faults, the verdicts of the guarantee's contract
 * (src/check, the same checkers as the simulator's) on the merged trace of every process, writes
 * the trace as JSON Lines, and sets exit code 1 if a property is violated.
 * Assumes: wired into main.ts with `registerRuntimeCommands(program, write, writeErr)`.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { ensureOutputDir, intArg, nodesOption } from './args.ts';
import { checkGuarantee, summarize } from '../check/guarantees.ts';
import { formatVerdicts } from '../check/verdict.ts';
import { toJsonLines } from '../core/trace.ts';
import type { Guarantee } from '../protocols/delivery/guarantees.ts';
import { runCluster } from '../runtime/cluster.ts';
import { runNodeMain } from '../runtime/node-run.ts';

interface ClusterFlags {
  nodes: number;
  transport: 'udp' | 'tcp';
  guarantee: Guarantee;
  messages: number;
  kills: number;
  pauses: number;
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
    .action(async (opts: { id: string; config: string; deliveries: boolean }) => {
      const code = await runNodeMain({
        id: opts.id,
        config: opts.config,
        deliveries: opts.deliveries,
        writeErr,
      });
      process.exitCode = code;
    });

  program
    .command('cluster')
    .description(
      'start a local cluster of real node processes, drive a workload with kill -9 and SIGSTOP ' +
        'faults, and check the guarantee on the merged trace',
    )
    .addOption(nodesOption('cluster'))
    .addOption(
      new Option('--transport <kind>', 'network transport').choices(['udp', 'tcp']).default('udp'),
    )
    .addOption(
      new Option('--guarantee <g>', 'delivery guarantee of every channel')
        .choices(['at-most-once', 'at-least-once', 'exactly-once'])
        .default('exactly-once'),
    )
    .addOption(
      new Option('--messages <n>', 'messages each node sends to each other node')
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
    .option('--dir <dir>', 'working directory (config, data, trace); default: a temporary one')
    .option('--keep', 'keep the temporary working directory')
    .action(async (opts: ClusterFlags) => {
      if (opts.dir !== undefined) ensureOutputDir('--dir', opts.dir);
      const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'steadfast-cluster-'));
      try {
        const r = await runCluster({
          nodes: opts.nodes,
          transport: opts.transport,
          guarantee: opts.guarantee,
          messages: opts.messages,
          kills: opts.kills,
          pauses: opts.pauses,
          dir,
          log: (line) => {
            write(`  ${line}\n`);
          },
        });
        const tracePath = join(dir, 'trace.jsonl');
        writeFileSync(tracePath, toJsonLines(r.trace));
        const verdicts = checkGuarantee(r.trace, opts.guarantee, { correct: 'up-at-end' });
        const sum = summarize(verdicts);
        write(
          `\n${opts.nodes} processes over ${opts.transport}, ${opts.guarantee}, ${r.sends} sends, ` +
            `${(r.elapsedMs / 1000).toFixed(1)} s${r.settled ? '' : ' (did NOT settle in time)'}\n`,
        );
        write(`faults: ${r.faults.length === 0 ? 'none' : r.faults.join('; ')}\n`);
        write(formatVerdicts(verdicts));
        const kept = opts.dir !== undefined || opts.keep === true;
        write(
          `verdict: ${sum.safe ? 'safe' : 'NOT SAFE'}, ${sum.live ? 'live' : 'NOT LIVE'}` +
            ` (${r.trace.length} trace events${kept ? `, written to ${tracePath}` : ''})\n`,
        );
        if (!sum.safe || !sum.live) process.exitCode = 1;
      } finally {
        if (opts.dir === undefined && opts.keep !== true)
          rmSync(dir, { recursive: true, force: true });
        else write(`working directory kept: ${dir}\n`);
      }
    });
}
