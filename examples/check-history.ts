// Linearizability of a key-value history an application recorded itself: which client called
// which operation, when it was called and when it returned (any clock, here ms), and its answer.
//
//   Run: node check-history.js (after tsc), or node --import tsx check-history.ts
import { checkLinearizability, kvModel, type KvInput, type Operation } from 'steadfast/check';

// Client a writes x=1, then x=2; client b reads x twice while the second write is in flight and
// may see either value: first the old one, then the new one.
const history: Operation<KvInput, unknown>[] = [
  { id: 1, client: 'a', input: { f: 'put', key: 'x', value: 1 }, output: null, call: 0, ret: 10 },
  { id: 2, client: 'a', input: { f: 'put', key: 'x', value: 2 }, output: null, call: 20, ret: 40 },
  { id: 3, client: 'b', input: { f: 'get', key: 'x' }, output: 1, call: 25, ret: 30 },
  { id: 4, client: 'b', input: { f: 'get', key: 'x' }, output: 2, call: 32, ret: 38 },
];
console.log(`history 1: ${checkLinearizability(kvModel, history).result}`);

// The same, but b's second read finds x absent (null), as if put x=1, which returned at 10, had
// never happened: a stale replica answered. The checker names a minimal failing sub-history.
const stale = history.map((op) => (op.id === 4 ? { ...op, output: null } : op));
const verdict = checkLinearizability(kvModel, stale);
if (verdict.result === 'violation') {
  const ops = verdict.minimal.map(
    (op) =>
      `#${op.id} ${op.client} ${op.input.f} [${op.call}, ${op.ret ?? '∞'}] → ${JSON.stringify(op.output)}`,
  );
  console.log(`history 2: violation on key ${verdict.part}: ${ops.join('; ')}`);
} else {
  console.log(`history 2: ${verdict.result}`);
}
