// A protocol in the deterministic simulator: the exactly-once channel on a network that loses
// and duplicates messages, checked against its textbook properties; then a small fault-tolerance
// matrix (two protocols, one fault model, 10 seeds each) on a worker thread.
//
//   Run: node simulate.js (after tsc), or node --import tsx simulate.ts
import { checkGuarantee, formatVerdicts } from 'steadfast/check';
import { channel, FAULT_DESCRIPTIONS, runMatrix, Simulator } from 'steadfast/sim';

// One run, by hand: 30% loss and 30% duplication until 1 s, then the network heals.
const sim = new Simulator({
  seed: 7,
  nodes: ['n1', 'n2'],
  stack: channel({ guarantee: 'exactly-once' }),
  network: { lossProbability: 0.3, duplicateProbability: 0.3 },
  nemesis: [{ at: 1000, action: { kind: 'heal-all', recoverCrashed: true } }],
  workload: [0, 1, 2, 3, 4].map((i) => ({
    at: i * 10,
    node: 'n1',
    cmd: { type: 'send' as const, to: 'n2', payload: `hello ${i}` },
  })),
});
sim.runUntil(10_000);
const verdicts = checkGuarantee(sim.trace, 'exactly-once');
process.stdout.write(formatVerdicts(verdicts));
console.log(`seed 7: ${verdicts.every((v) => v.holds) ? 'every property holds' : 'VIOLATED'}`);

// The matrix: each cell classified from its runs (masking = safe and live in every run).
console.log(`fault model ${FAULT_DESCRIPTIONS.omission}`);
const matrix = await runMatrix({
  protocols: ['at-most-once', 'exactly-once'],
  faults: ['omission'],
  nodes: 3,
  seeds: 10,
  workers: 1,
  shrink: false,
  capSeeds: 0,
});
for (const cell of matrix.cells) {
  const why =
    cell.counterexample === undefined
      ? ''
      : ` (seed ${cell.counterexample.seed}: ${cell.counterexample.property})`;
  console.log(`${cell.protocol} under ${cell.faults}: ${cell.form}${why}`);
}
