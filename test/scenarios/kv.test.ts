/**
 * The replicated-store scenarios (src/scenarios/kv.ts): what each explanation says is true of its
 * run, checked here against the trace with the test's own small readers (not the scenario's), so
 * a sentence that drifted from the run fails; the text follows a changed run; the runs replay
 * byte for byte; and the `durable` verdict on hand-made traces.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FINAL_SERIAL_BASE } from '../../src/check/kv.ts';
import type { TraceEvent } from '../../src/core/trace.ts';
import { SCENARIOS } from '../../src/scenarios/catalog.ts';
import { durable, KV_SCENARIOS } from '../../src/scenarios/kv.ts';
import { runScenario, type ScenarioResult, type VariantResult } from '../../src/scenarios/model.ts';
import { variantSvg } from '../../src/scenarios/render.ts';
import { find, tags } from './svg-tags.ts';

// ------------------------------------------------------------------------------ readers

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec => (typeof v === 'object' && v !== null ? (v as Rec) : {});

const results = new Map<string, ScenarioResult>(KV_SCENARIOS.map((s) => [s.name, runScenario(s)]));

function variant(name: string, key: string): VariantResult {
  const v = results.get(name)?.variants.find((x) => x.key === key);
  assert.ok(v !== undefined, `${name}/${key}`);
  return v;
}

/** kv-results delivered at `node` for `client`, in order. */
function resultsAt(trace: readonly TraceEvent[], node: string, client: string): Rec[] {
  return trace.flatMap((e) =>
    e.type === 'deliver' && e.node === node && rec(e.event).client === client
      ? [{ ...rec(e.event), t: e.t }]
      : [],
  );
}

/** The outputs of the final reads (serial FINAL_SERIAL_BASE) delivered at any node. */
function finalOutputs(trace: readonly TraceEvent[]): unknown[] {
  return trace.flatMap((e) =>
    e.type === 'deliver' && rec(e.event).serial === FINAL_SERIAL_BASE ? [rec(e.event).output] : [],
  );
}

/** A Raft node's log at the end: index → entry, from its `log/<i>` persists. */
function logOf(trace: readonly TraceEvent[], node: string): Map<number, Rec> {
  const log = new Map<number, Rec>();
  for (const e of trace) {
    if (e.type !== 'persist' || e.node !== node) continue;
    for (const w of e.writes) {
      const m = /^log\/(\d+)$/.exec(w.key);
      if (m === null) continue;
      if (w.value === null) log.delete(Number(m[1]));
      else log.set(Number(m[1]), rec(w.value));
    }
  }
  return log;
}

/** Entries of `log` that are increments sent by the client session of `client` at `node`. */
function incrementsOf(log: Map<number, Rec>, node: string, client: string): number[] {
  return [...log.entries()]
    .filter(([, e]) => {
      const c = rec(e.c);
      return (
        c.k === 'op' &&
        rec(c.op).f === 'incr' &&
        String(c.c).startsWith(`${node}#`) &&
        String(c.c).endsWith(`:${client}`)
      );
    })
    .map(([i]) => i)
    .sort((a, b) => a - b);
}

/** Whether a persist batch writes a log entry of A's (at n2) increment. */
function isAIncrement(writes: readonly { key: string; value: unknown }[]): boolean {
  return writes.some((w) => {
    const c = rec(rec(w.value).c);
    return /^log\//.test(w.key) && rec(c.op).f === 'incr' && /^n2#\d+:A$/.test(String(c.c));
  });
}

/** The node that first wrote term `term`'s no-op, and when. */
function leaderOf(trace: readonly TraceEvent[], term: number): { node: string; t: number } {
  for (const e of trace) {
    if (e.type !== 'persist') continue;
    for (const w of e.writes) {
      const v = rec(w.value);
      if (/^log\//.test(w.key) && v.t === term && rec(v.c).k === 'noop')
        return { node: e.node, t: e.t };
    }
  }
  assert.fail(`no leader of term ${term}`);
}

function crashOf(trace: readonly TraceEvent[]): Extract<TraceEvent, { type: 'crash' }> {
  const c = trace.find((e) => e.type === 'crash');
  assert.ok(c?.type === 'crash', 'a crash');
  return c;
}

function says(v: VariantResult, ...parts: string[]): void {
  for (const p of parts)
    assert.ok(v.explanation.includes(p), `${v.key}: does not say "${p}":\n${v.explanation}`);
}

// ------------------------------------------------------------------------------ the catalogue

test('the five store scenarios close the catalogue, in the order of the lecture', () => {
  assert.deepEqual(
    SCENARIOS.slice(-5).map((s) => s.name),
    ['kv-one-copy', 'kv-lost-reply', 'kv-split-brain', 'kv-stale-read', 'kv-leader-crash'],
  );
  for (const r of results.values()) assert.equal(r.ok, true, r.name);
});

// ------------------------------------------------------------------------------ what each says

test('kv-one-copy: one copy on disk, gone with n1; three copies, read back by n2 and n3', () => {
  const one = variant('kv-one-copy', 'one-copy');
  const crash = crashOf(one.trace);
  const puts = one.trace.filter(
    (e) => e.type === 'persist' && e.writes.some((w) => rec(rec(rec(w.value).c).op).f === 'put'),
  );
  assert.deepEqual([...new Set(puts.map((e) => (e.type === 'persist' ? e.node : '')))], ['n1']);
  says(
    one,
    `n1 crashed at t=${crash.t}`,
    'one copy',
    'was refused: n1 was down',
    'no correct node is left to read x',
  );
  assert.deepEqual(finalOutputs(one.trace), []);

  const three = variant('kv-one-copy', 'three-copies');
  const ack = resultsAt(three.trace, 'n1', 'A')[0];
  assert.ok(ack !== undefined && ack.status === 'ok');
  const copies = new Set(
    three.trace.flatMap((e) =>
      e.type === 'persist' &&
      e.t <= Number(ack.t) &&
      e.writes.some((w) => rec(rec(rec(w.value).c).op).f === 'put')
        ? [e.node]
        : [],
    ),
  );
  assert.ok(copies.size >= 2, 'a majority had it when acknowledged');
  says(three, `${copies.size} copies`, 'B (at n2) read x = "a"', 'C (at n3) read x = "a"');
  assert.deepEqual(finalOutputs(three.trace), ['a', 'a']);
  const next = leaderOf(three.trace, 2);
  says(three, `${next.node} took over as leader of term 2 at t=${next.t}`);
});

test('kv-lost-reply: the lost message is the reply; the log holds A’s increment twice without sessions, once with', () => {
  for (const [key, copies, final] of [
    ['nosession', 2, 3],
    ['sessions', 1, 2],
  ] as const) {
    const v = variant('kv-lost-reply', key);
    const drops = v.trace.filter((e) => e.type === 'drop');
    assert.equal(drops.length, 1, key);
    const drop = drops[0];
    assert.ok(drop?.type === 'drop');
    const sent = v.trace.find((e) => e.type === 'send' && e.id === drop.id);
    assert.ok(sent?.type === 'send');
    assert.equal(rec(sent.msg).k, 'rep', `${key}: the lost message is a reply`);
    assert.equal(sent.to, 'n2');
    const leader = leaderOf(v.trace, 1).node;
    const incs = incrementsOf(logOf(v.trace, leader), 'n2', 'A');
    assert.equal(incs.length, copies, `${key}: A's increments in the log`);
    assert.deepEqual(finalOutputs(v.trace), [final, final], key);
    says(
      v,
      `The network lost #${drop.id} at t=${drop.t}`,
      `log holds A's one increment ${copies === 1 ? 'once' : 'twice'} (index ${incs.join(' and ')})`,
      `A (at n2) read n = ${final}`,
      'with 2 increments acknowledged',
    );
  }
  says(
    variant('kv-lost-reply', 'sessions'),
    'in its session table and answered with the saved reply',
  );
  says(variant('kv-lost-reply', 'nosession'), 'appended it as a new entry');
});

test('kv-split-brain: n2 promotes itself during the partition and A’s acknowledged write is lost; Raft answers A after the heal', () => {
  const pb = variant('kv-split-brain', 'primary-backup');
  const cut = pb.trace.find((e) => e.type === 'partition' && e.blocked.length > 0);
  const heal = pb.trace.find((e) => e.type === 'partition' && e.blocked.length === 0);
  assert.ok(cut !== undefined && heal !== undefined);
  const promoted = pb.trace.find(
    (e) =>
      e.type === 'persist' &&
      e.node === 'n2' &&
      e.writes.some((w) => w.key === 'm' && rec(w.value).v === 1),
  );
  assert.ok(promoted !== undefined && promoted.t > cut.t && promoted.t < heal.t);
  const a = resultsAt(pb.trace, 'n1', 'A')[0];
  assert.ok(
    a?.status === 'ok' && Number(a.t) < heal.t && a.node === 'n1',
    'n1 acknowledged A alone',
  );
  assert.deepEqual(finalOutputs(pb.trace), ['b', 'b', 'b']);
  says(
    pb,
    `promoted itself to primary of view 1 at t=${promoted.t}`,
    `x at n1 went from "a" to "b"`,
    'a stale read',
  );

  const raft = variant('kv-split-brain', 'raft');
  const rHeal = raft.trace.find((e) => e.type === 'partition' && e.blocked.length === 0);
  const ra = resultsAt(raft.trace, 'n1', 'A')[0];
  assert.ok(rHeal !== undefined && ra?.status === 'ok');
  assert.ok(Number(ra.t) > rHeal.t, 'A is answered only after the heal');
  assert.deepEqual(finalOutputs(raft.trace), ['a', 'a', 'a']);
  says(
    raft,
    `${Number(ra.t) - rHeal.t} ms after the heal`,
    `became leader of term 2 at t=${leaderOf(raft.trace, 2).t}`,
  );
});

test('kv-stale-read: B reads null before n2 holds A’s write; every replica reads it after', () => {
  for (const key of ['partition', 'no-fault']) {
    const v = variant('kv-stale-read', key);
    const b = resultsAt(v.trace, 'n2', 'B')[0];
    assert.ok(b !== undefined && b.output === null, key);
    const merged = v.trace.find(
      (e) =>
        e.type === 'persist' &&
        e.node === 'n2' &&
        e.writes.some((w) => w.key === 'k/x' && JSON.stringify(rec(w.value).r).includes('"a"')),
    );
    assert.ok(
      merged !== undefined && merged.t > Number(b.t),
      `${key}: n2 merged it after B's read`,
    );
    assert.deepEqual(finalOutputs(v.trace), ['a', 'a', 'a'], key);
    says(
      v,
      `B (at n2) called get x at t=${String(b.t)} and got null`,
      `merged x = "a" only at t=${merged.t}`,
      'the replicas converged',
    );
  }
  says(variant('kv-stale-read', 'partition'), 'blocked by the partition');
  says(
    variant('kv-stale-read', 'no-fault'),
    'No partition happened',
    'Fault class: no fault at all',
  );
});

test('kv-leader-crash: n1 crashes between the commit and the reply; the retry reaches n2 before it commits', () => {
  for (const [key, copies, final] of [
    ['nosession', 2, 2],
    ['sessions', 1, 1],
  ] as const) {
    const v = variant('kv-leader-crash', key);
    const i = v.trace.findIndex((e) => e.type === 'crash');
    const crash = v.trace[i];
    const before = v.trace[i - 1];
    assert.ok(
      crash?.type === 'crash' &&
        crash.node === 'n1' &&
        crash.after === 'input' &&
        crash.before === 'send',
      key,
    );
    assert.ok(
      before?.type === 'receive' &&
        before.to === 'n1' &&
        rec(before.msg).k === 'ar' &&
        rec(before.msg).ok === true,
      `${key}: the crash cut short the step of an acknowledgement`,
    );
    const stored = new Set(
      v.trace
        .slice(0, i)
        .flatMap((e) => (e.type === 'persist' && isAIncrement(e.writes) ? [e.node] : [])),
    );
    assert.deepEqual(
      [...stored].sort(),
      ['n1', 'n2'],
      `${key}: a majority held it when n1 crashed`,
    );
    assert.ok(
      !v.trace.some((e) => e.type === 'send' && e.from === 'n1' && rec(e.msg).k === 'rep'),
      `${key}: n1 never replied`,
    );
    const l2 = leaderOf(v.trace, 2);
    assert.equal(l2.node, 'n2');
    const a = resultsAt(v.trace, 'n2', 'A')[0];
    const retries = v.trace.filter(
      (e) =>
        e.type === 'timer' &&
        e.node === 'n2' &&
        e.name === 'cli/A' &&
        e.t > l2.t &&
        e.t < Number(a?.t),
    );
    assert.ok(retries.length > 0, `${key}: A retried while n2 led and had not answered`);
    assert.equal(incrementsOf(logOf(v.trace, 'n2'), 'n2', 'A').length, copies, key);
    assert.deepEqual(finalOutputs(v.trace), [final, final], key);
    says(
      v,
      `n1 crashed at t=${crash.t}`,
      `n2 became leader of term 2 at t=${l2.t}`,
      ...retries.map((x) => `t=${x.t}`),
      `log holds A's one increment ${copies === 1 ? 'once' : 'twice'}`,
      `A (at n2) read n = ${final}`,
    );
  }
});

// ------------------------------------------------------------------------------ computed, replayable

test('explanations follow the run: change the final reads or the lost reply and the text changes', () => {
  const def = KV_SCENARIOS.find((s) => s.name === 'kv-lost-reply')?.variants.find(
    (x) => x.key === 'sessions',
  );
  const r = variant('kv-lost-reply', 'sessions');
  assert.ok(def !== undefined);
  const seven = r.trace.map((e) =>
    e.type === 'deliver' && rec(e.event).serial === FINAL_SERIAL_BASE
      ? { ...e, event: { ...rec(e.event), output: 7 } }
      : e,
  );
  const text = def.explain({ seed: r.seed, trace: seven, verdicts: r.verdicts });
  assert.match(text, /A \(at n2\) read n = 7 and B \(at n3\) read n = 7/);
  assert.doesNotMatch(text, /read n = 2/);
  const unlost = r.trace.filter((e) => e.type !== 'drop');
  const text2 = def.explain({ seed: r.seed, trace: unlost, verdicts: r.verdicts });
  assert.match(text2, /No reply was lost/);
  assert.doesNotMatch(text2, /The network lost/);
});

test('the store scenarios replay byte for byte', () => {
  for (const def of KV_SCENARIOS) {
    const again = runScenario(def);
    const before = results.get(def.name);
    assert.ok(before !== undefined);
    assert.equal(
      JSON.stringify(again.variants.map((v) => v.trace)),
      JSON.stringify(before.variants.map((v) => v.trace)),
      def.name,
    );
    assert.equal(again.explanation, before.explanation, def.name);
  }
});

test('the store diagrams leave out heartbeats that arrived, and draw every message that did not', () => {
  for (const [name, key] of [
    ['kv-lost-reply', 'nosession'],
    ['kv-leader-crash', 'sessions'],
    ['kv-split-brain', 'primary-backup'],
  ] as const) {
    const r = results.get(name);
    const v = variant(name, key);
    assert.ok(r !== undefined);
    const svg = variantSvg(r, v);
    assert.match(svg, /heartbeats not drawn/, name);
    const all = tags(svg);
    const drawn = new Set(find(all, ['msg']).map((t) => t.attrs.get('data-id')));
    const sends = v.trace.flatMap((e) => (e.type === 'send' ? [e] : []));
    const lost = new Set(v.trace.flatMap((e) => (e.type === 'drop' ? [e.id] : [])));
    assert.ok(drawn.size < sends.length / 2, `${name}: most of the traffic is heartbeats`);
    for (const id of lost) assert.ok(drawn.has(String(id)), `${name}: dropped #${id} not drawn`);
    for (const s of sends) {
      const k = rec(s.msg).k;
      if (k === 'req' || k === 'rep' || k === 'rv' || k === 'vr' || k === 'op' || k === 'snap')
        assert.ok(drawn.has(String(s.id)), `${name}: #${s.id} (${JSON.stringify(k)}) not drawn`);
    }
  }
});

// ------------------------------------------------------------------------------ durable

const put = (t: number, node: string): TraceEvent[] => [
  {
    t,
    type: 'command',
    node,
    cmd: { type: 'kv', client: 'A', serial: 1, op: { f: 'put', key: 'x', value: 'v' } },
    accepted: true,
  },
  {
    t,
    type: 'deliver',
    node,
    event: {
      type: 'kv-result',
      client: 'A',
      serial: 1,
      op: { f: 'put', key: 'x', value: 'v' },
      status: 'ok',
      output: null,
    },
  },
];
const read = (t: number, node: string, output: unknown): TraceEvent[] => [
  {
    t,
    type: 'command',
    node,
    cmd: { type: 'kv', client: 'R', serial: FINAL_SERIAL_BASE, op: { f: 'get', key: 'x' } },
    accepted: true,
  },
  {
    t,
    type: 'deliver',
    node,
    event: {
      type: 'kv-result',
      client: 'R',
      serial: FINAL_SERIAL_BASE,
      op: { f: 'get', key: 'x' },
      status: 'ok',
      output,
    },
  },
];

test('durable: an acknowledged write must be read back by a correct node after the faults', () => {
  const all = (): boolean => true;
  const held = durable([...put(1, 'n1'), ...read(9, 'n2', 'v')], all);
  assert.equal(held.holds, true);
  assert.equal(held.checked, 1);

  const wrong = durable([...put(1, 'n1'), ...read(9, 'n2', 'w')], all);
  assert.equal(wrong.holds, false);
  assert.match(
    wrong.violation?.message ?? '',
    /no correct node reads the acknowledged put x = "v"/,
  );

  const crash: TraceEvent = { t: 5, type: 'crash', node: 'n1', lostOutputs: 0 };
  const gone = durable([...put(1, 'n1'), crash], (n) => n !== 'n1');
  assert.equal(gone.holds, false);
  assert.match(
    gone.violation?.message ?? '',
    /no correct node is left to read x: .* lost with n1, crashed for good/,
  );
  assert.deepEqual(
    gone.violation?.events.map((e) => e.index),
    [0, 1, 2],
    'the call, the acknowledgement and the crash',
  );

  // A read at a node that crashed for good does not count.
  const onlyDead = durable([...put(1, 'n1'), ...read(4, 'n1', 'v'), crash], (n) => n !== 'n1');
  assert.equal(onlyDead.holds, false);
  // Nothing acknowledged: nothing owed.
  assert.equal(durable(read(9, 'n2', null), all).checked, 0);
});
