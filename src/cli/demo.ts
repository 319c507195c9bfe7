/**
 * `steadfast demo`: the same all-to-all workload over a fair-loss link and a stubborn link in the
 * simulator, under message loss, with what each delivered. It shows the first step of reliable
 * delivery: retransmission turns loss into duplication.
 */

import { writeFileSync } from 'node:fs';
import { nodeIds } from '../core/ids.ts';
import type { StackSpec } from '../core/protocol.ts';
import { toJsonLines } from '../core/trace.ts';
import { fairLossLink } from '../protocols/link/fair-loss.ts';
import { stubbornLink } from '../protocols/link/stubborn.ts';
import { Simulator, type ScheduledCommand } from '../sim/simulator.ts';

export interface DemoOptions {
  readonly seed: number;
  readonly nodes: number;
  readonly messages: number;
  readonly loss: number;
  readonly trace?: string;
}

interface Row {
  readonly name: string;
  readonly sent: number;
  readonly distinct: number;
  readonly lost: number;
  readonly duplicates: number;
  readonly frames: number;
}

export function runDemo(opts: DemoOptions): string {
  const nodes = nodeIds(opts.nodes);
  const sends: { at: number; from: string; to: string; payload: string }[] = [];
  for (let k = 0; k < opts.messages; k++) {
    for (const from of nodes)
      for (const to of nodes)
        if (to !== from) sends.push({ at: k * 5, from, to, payload: `${from}>${to}#${k}` });
  }
  const run = <C>(
    name: string,
    stack: StackSpec<unknown, C, unknown>,
    cmd: (s: (typeof sends)[number]) => C,
    untilMs: number,
  ): [Row, Simulator<unknown, C, unknown>] => {
    const workload: ScheduledCommand<C>[] = sends.map((s) => ({
      at: s.at,
      node: s.from,
      cmd: cmd(s),
    }));
    const sim = new Simulator({
      seed: opts.seed,
      nodes,
      stack,
      network: { lossProbability: opts.loss, delay: { kind: 'uniform', minMs: 1, maxMs: 20 } },
      workload,
    }).runUntil(untilMs);
    const seen = new Map<string, number>();
    for (const e of sim.trace) {
      if (e.type !== 'deliver') continue;
      const key = `${e.node}:${String((e.event as { payload: unknown }).payload)}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    let distinct = 0;
    let duplicates = 0;
    for (const n of seen.values()) {
      distinct++;
      duplicates += n - 1;
    }
    return [
      {
        name,
        sent: sends.length,
        distinct,
        lost: sends.length - distinct,
        duplicates,
        frames: sim.counters.sends,
      },
      sim,
    ];
  };
  const horizon = opts.messages * 5 + 1000;
  const [fll] = run(
    'fair-loss',
    fairLossLink as StackSpec<unknown, unknown, unknown>,
    (s) => ({ type: 'send', to: s.to, payload: s.payload }),
    horizon,
  );
  const [sl, slSim] = run(
    'stubborn (50 ms)',
    stubbornLink() as StackSpec<unknown, unknown, unknown>,
    (s) => ({ type: 'send', to: s.to, payload: s.payload, ref: s.payload }),
    horizon,
  );
  if (opts.trace !== undefined) writeFileSync(opts.trace, toJsonLines(slSim.trace));
  const lines = [
    `steadfast demo: ${opts.nodes} nodes, each sends ${opts.messages} messages to every other node, loss ${opts.loss}, seed ${opts.seed}`,
    '',
    `${'link'.padEnd(18)}${'sent'.padStart(8)}${'delivered'.padStart(11)}${'lost'.padStart(8)}${'dup deliveries'.padStart(16)}${'frames'.padStart(9)}`,
  ];
  for (const r of [fll, sl]) {
    lines.push(
      `${r.name.padEnd(18)}${String(r.sent).padStart(8)}${String(r.distinct).padStart(11)}${String(r.lost).padStart(8)}${String(r.duplicates).padStart(16)}${String(r.frames).padStart(9)}`,
    );
  }
  lines.push(
    '',
    'fair-loss loses what the network loses; the stubborn link loses nothing but delivers copies:',
    'retransmission trades omission for duplication. Dedup (perfect link) removes the copies.',
    `reproduce: steadfast demo --seed ${opts.seed} --nodes ${opts.nodes} --messages ${opts.messages} --loss ${opts.loss}`,
  );
  if (opts.trace !== undefined) lines.push(`trace of the stubborn-link run: ${opts.trace}`);
  return lines.join('\n') + '\n';
}
