/**
 * Space-time diagrams (src/viz/svg.ts): every fault drawn distinctly (counted on the SVG's
 * elements, not pixels), the violation highlight, the filters, and the 100-node render time.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism, loadavg } from 'node:os';
import { nodeIds } from '../../src/core/ids.ts';
import { createRng } from '../../src/core/rng.ts';
import type { TraceEvent } from '../../src/core/trace.ts';
import { fairLossLink } from '../../src/protocols/link/fair-loss.ts';
import { Simulator, type ScheduledCommand } from '../../src/sim/simulator.ts';
import { buildModel, messageIdentity, messageLabel } from '../../src/viz/model.ts';
import { materialize, runSpec } from '../../src/matrix/spec.ts';
import { PALETTE, renderSvg } from '../../src/viz/svg.ts';
import { faultyRun } from './scenarios.ts';
import { ofKind, tags, withClasses } from './svg-parse.ts';

function count(trace: readonly TraceEvent[], type: TraceEvent['type']): number {
  return trace.filter((e) => e.type === type).length;
}

test('model: labels and identities of protocol messages', () => {
  assert.equal(
    messageLabel({ type: 'data', seq: 3, floor: 1, mode: 'alo', payload: 'hi' }),
    'data #3 "hi"',
  );
  assert.equal(messageLabel({ type: 'ack', cum: 4, sack: [6, 7] }), 'ack ≤4 +6-7');
  assert.equal(messageLabel({ type: 'ack', cum: 4, sack: [6, 6, 9, 12] }), 'ack ≤4 +6…');
  assert.equal(messageLabel('plain'), '"plain"');
  assert.equal(messageIdentity({ type: 'data', seq: 3, floor: 9 }), 'data|seq:3');
  assert.equal(messageIdentity({ type: 'data', payload: { b: 1, a: 2 } }), 'data|p:{"a":2,"b":1}');
  assert.equal(messageIdentity({ type: 'ack', cum: 1, sack: [] }), undefined);
});

test("model: the replicated stores' messages are labelled by kind, operation, term and view", () => {
  const entry = { t: 2, c: { k: 'noop' } };
  assert.equal(
    messageLabel({ k: 'ae', term: 2, pi: 1, pt: 1, entries: [entry, entry], commit: 1, rid: 4 }),
    'AppendEntries t2 +2',
  );
  assert.equal(messageLabel({ k: 'rv', term: 3, li: 1, lt: 1, pre: true }), 'pre-RequestVote t3');
  assert.equal(messageLabel({ k: 'vr', term: 3, granted: false, pre: false }), 'vote no t3');
  assert.equal(
    messageLabel({ k: 'req', c: 'n2#1:A', s: 1, op: { f: 'incr', key: 'n', delta: 1 } }),
    'request incr(n)',
  );
  assert.equal(
    messageLabel({ k: 'rep', c: 'n2#1:A', s: 1, ok: false, leader: 'n1' }),
    'reply redirect',
  );
  assert.equal(messageLabel({ k: 'hb', v: 1, sv: 1, s: 4 }), 'heartbeat v1');
  // ABD rides on the perfect link: its message is the data frame's payload.
  assert.equal(
    messageLabel({ type: 'data', seq: 5, payload: { k: 'abd-query', e: 1, r: 2, key: 'x' } }),
    'query',
  );
  assert.equal(messageLabel({ k: 'mystery' }), '{"k":"mystery"}');
});

test('svg: a crash, a drop, a duplicate, a corruption and a partition each show distinctly', () => {
  const { trace } = faultyRun();
  // The run really has every fault (otherwise this test would prove nothing).
  const drops = trace.filter((e) => e.type === 'drop');
  const extraCopies = trace.reduce((s, e) => s + (e.type === 'duplicate' ? e.copies : 0), 0);
  assert.ok(count(trace, 'crash') >= 1 && count(trace, 'recover') >= 1, 'a crash and a recovery');
  assert.ok(
    drops.some((e) => e.reason === 'loss'),
    'a loss',
  );
  assert.ok(
    drops.some((e) => e.reason === 'partition'),
    'a partition drop',
  );
  assert.ok(
    drops.some((e) => e.reason === 'node-down'),
    'a drop at a crashed node',
  );
  assert.ok(
    drops.some((e) => e.reason === 'checksum'),
    'a corruption caught by the checksum',
  );
  assert.ok(extraCopies >= 1, 'a network duplicate');
  assert.ok(count(trace, 'corrupt') >= 1, 'a corruption');
  assert.ok(
    trace.some((e) => e.type === 'partition' && e.blocked.length > 0),
    'a partition',
  );
  const model = buildModel(trace);
  const retx = model.messages.filter((m) => m.retransmission > 0);
  assert.ok(retx.length >= 1, 'a retransmission');

  const svg = renderSvg(trace);
  const all = tags(svg);
  assert.equal(withClasses(all, 'lane').length, 3, 'one lane per node');
  assert.deepEqual(
    withClasses(all, 'lane').map((t) => t.attrs.get('data-node')),
    ['n1', 'n2', 'n3'],
  );

  // Messages: one arrow per copy; each fault has its own class.
  const msgs = withClasses(all, 'msg').filter((t) => t.attrs.has('data-id'));
  const copies = model.messages.reduce((s, m) => s + m.copies.length, 0);
  assert.equal(msgs.length, copies, 'every copy of every message is drawn');
  assert.equal(withClasses(msgs, 'drop').length, drops.length, 'every drop is drawn as a drop');
  for (const reason of ['loss', 'partition', 'node-down', 'checksum'])
    assert.equal(
      withClasses(msgs, `drop-${reason}`).length,
      drops.filter((e) => e.reason === reason).length,
      `drops for ${reason}`,
    );
  assert.equal(
    withClasses(msgs, 'dup').length,
    extraCopies,
    'duplicates: one arrow per extra copy',
  );
  assert.equal(withClasses(msgs, 'corrupt').length, count(trace, 'corrupt'), 'corrupted copies');
  assert.equal(
    withClasses(msgs, 'retx').length,
    retx.reduce((s, m) => s + m.copies.length, 0),
    'retransmissions',
  );
  // Dropped arrows end with an × and name their reason; corrupted ones carry a bolt.
  assert.equal(withClasses(all, 'xmark').filter((t) => t.attrs.has('data-g')).length, drops.length);
  assert.equal(
    withClasses(all, 'bolt').filter((t) => t.attrs.has('data-g')).length,
    count(trace, 'corrupt'),
  );
  assert.match(svg, />lost</);
  assert.match(svg, />node down</);
  assert.match(svg, />checksum</);

  // Node events.
  assert.equal(ofKind(all, 'crash').length, count(trace, 'crash'));
  assert.equal(ofKind(all, 'recover').length, count(trace, 'recover'));
  assert.ok(withClasses(all, 'lane-line', 'down').length >= 1, 'the lane is dashed while down');
  assert.equal(ofKind(all, 'deliver').length, count(trace, 'deliver'));
  assert.equal(ofKind(all, 'persist').length, count(trace, 'persist'));
  assert.equal(ofKind(all, 'timer').length, count(trace, 'timer'));
  assert.equal(
    withClasses(all, 'partition').filter(
      (t) => t.name === 'rect' && t.attrs.has('data-event-index'),
    ).length,
    model.partitions.length,
  );
  assert.match(svg, /partition {2}n1 n2 {2}\| {2}n3/);

  // Each kind of arrow is styled differently (dash pattern and colour), and the legend names it.
  for (const [cls, dash] of [
    ['retx', '7 4'],
    ['dup', '2 3'],
  ] as const)
    assert.ok(
      svg.includes(`.msg.${cls} line,.sf-diagram .msg.${cls} path{stroke:`) && svg.includes(dash),
      cls,
    );
  for (const item of [
    'data',
    'ack',
    'retx',
    'dup',
    'drop',
    'corrupt',
    'deliver',
    'crash',
    'recover',
    'partition',
  ])
    assert.equal(all.filter((t) => t.attrs.get('data-item') === item).length, 1, `legend: ${item}`);
});

test('svg: a violation is highlighted in red with the property name', () => {
  const { trace, verdicts } = faultyRun();
  const v = verdicts.find((x) => !x.holds && x.property === 'no-duplication');
  assert.ok(v?.violation !== undefined, 'the at-least-once run duplicates a delivery');
  const indices = v.violation.events.map((e) => e.index);
  const svg = renderSvg(trace, {
    highlight: { property: v.property, indices, message: v.violation.message },
  });
  const all = tags(svg);
  const hl = all.filter((t) => t.classes.has('hl'));
  for (const i of indices) {
    assert.ok(
      hl.some((t) => t.attrs.get('data-event-index') === String(i)),
      `event #${i} is highlighted`,
    );
  }
  assert.equal(
    withClasses(all, 'hl-ring').filter((t) => t.attrs.has('data-node')).length,
    indices.length,
  );
  const label = withClasses(all, 'violation-label');
  assert.equal(label.length, 1);
  assert.equal(label[0]?.attrs.get('data-property'), 'no-duplication');
  assert.match(svg, />✗ no-duplication</);
  assert.ok(
    svg.includes(`.violation-label .prop{font-size:13px;font-weight:700;fill:${PALETTE.hl}}`),
  );
  assert.ok(svg.includes(`.ev.deliver.hl,.sf-diagram .ev.persist.hl{fill:${PALETTE.hl}`));
  // Without a highlight, nothing is red.
  const plain = tags(renderSvg(trace));
  assert.equal(plain.filter((t) => t.classes.has('hl') || t.classes.has('hl-ring')).length, 0);
});

test('svg: time window, node and message filters, idle collapsing, escaping', () => {
  const { trace } = faultyRun();
  const all = tags(renderSvg(trace));
  const msgsOf = (ts: ReturnType<typeof tags>) =>
    withClasses(ts, 'msg').filter((t) => t.attrs.has('data-id'));

  // Time window: only events inside it (messages touching it).
  const win = tags(renderSvg(trace, { window: { from: 100, to: 200 } }));
  const wm = msgsOf(win);
  assert.ok(wm.length > 0 && wm.length < msgsOf(all).length);
  for (const t of ofKind(win, 'deliver')) {
    const e = trace[Number(t.attrs.get('data-event-index'))];
    assert.ok(e !== undefined && e.t >= 100 && e.t <= 200);
  }

  // Node filter: two lanes; messages to the third become stubs naming it.
  const two = tags(renderSvg(trace, { nodes: ['n1', 'n2'] }));
  assert.equal(withClasses(two, 'lane').length, 2);
  const stubs = withClasses(two, 'msg', 'stub');
  assert.ok(
    stubs.length > 0 &&
      stubs.every((t) => t.attrs.get('data-to') === 'n3' || t.attrs.get('data-from') === 'n3'),
  );

  // Message filter by wire id.
  const one = msgsOf(tags(renderSvg(trace, { messages: [1] })));
  assert.ok(one.length >= 1 && one.every((t) => t.attrs.get('data-id') === '1'));

  // Idle collapsing: on by default here, off on request, and more with a smaller threshold.
  const idleDefault = ofKind(all, 'idle').length;
  assert.ok(idleDefault >= 1);
  assert.equal(ofKind(tags(renderSvg(trace, { collapseIdleMs: false })), 'idle').length, 0);
  assert.ok(
    ofKind(tags(renderSvg(trace, { collapseIdleMs: 8, pxPerMs: 4 })), 'idle').length > idleDefault,
  );

  // Text is escaped.
  const evil: TraceEvent[] = [
    { t: 0, type: 'start', node: '<a&"b">', incarnation: 0, records: 0 },
    {
      t: 1,
      type: 'send',
      id: 1,
      from: '<a&"b">',
      to: 'n2',
      msg: { type: '</svg>', payload: '<x>' },
      bytes: 0,
    },
    { t: 3, type: 'receive', id: 1, copy: 0, from: '<a&"b">', to: 'n2', msg: {} },
  ];
  const svg = renderSvg(evil, { title: '<script>' });
  assert.ok(!svg.includes('<a&"b">') && !svg.includes('<script>') && !svg.includes('<x>'));
  assert.equal(svg.match(/<\/svg>/g)?.length, 1);
  // An empty trace still renders.
  assert.match(renderSvg([]), /empty trace/);
});

/** 100 nodes exchanging 10,000 messages over a lossy, duplicating network. */
function bigTrace(): TraceEvent[] {
  const nodes = nodeIds(100);
  const rng = createRng(42);
  const workload: ScheduledCommand<{ type: 'send'; to: string; payload: unknown }>[] = [];
  for (let k = 0; k < 10_000; k++) {
    const a = rng.int(100);
    const b = (a + 1 + rng.int(99)) % 100;
    workload.push({
      at: Math.floor(k * 2 + rng.int(2)),
      node: nodes[a] as string,
      cmd: { type: 'send', to: nodes[b] as string, payload: `m${k}` },
    });
  }
  return new Simulator({
    seed: 42,
    nodes,
    stack: fairLossLink,
    network: {
      lossProbability: 0.05,
      duplicateProbability: 0.05,
      delay: { kind: 'uniform', minMs: 1, maxMs: 40 },
    },
    wire: { encode: false },
    workload,
  }).runToQuiescence().trace;
}

test('svg: a 100-node, 10,000-message trace renders in under 2 s', () => {
  const trace = bigTrace();
  assert.equal(count(trace, 'send'), 10_000);
  renderSvg(trace.slice(0, 2000)); // warm up the JIT on a small piece
  // Best of three: the generation cost, not the noise of a shared machine.
  let best = Number.POSITIVE_INFINITY;
  let bestCpu = Number.POSITIVE_INFINITY;
  let svg = '';
  for (let k = 0; k < 3; k++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    svg = renderSvg(trace);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    best = Math.min(best, ms);
    bestCpu = Math.min(bestCpu, (cpu.user + cpu.system) / 1000);
  }
  console.log(
    `render time: ${best.toFixed(0)} ms wall (best of 3), ${bestCpu.toFixed(0)} ms CPU, for ${trace.length} events (100 nodes, 10,000 messages): ${(svg.length / 1e6).toFixed(1)} MB of SVG`,
  );
  // CPU time is the generation cost whatever else runs on the machine; wall time is asserted too
  // unless the machine is oversubscribed (more runnable work than cores), where it measures the
  // neighbours more than the renderer.
  assert.ok(bestCpu < 2000, `rendering took ${bestCpu.toFixed(0)} ms of CPU`);
  const load = loadavg()[0] ?? 0;
  if (load <= availableParallelism())
    assert.ok(best < 2000, `rendering took ${best.toFixed(0)} ms`);
  else
    console.log(`machine oversubscribed (load ${load.toFixed(1)}): wall-clock bound not asserted`);
  const all = tags(svg);
  assert.equal(withClasses(all, 'lane').length, 100);
  const extra = trace.reduce((s, e) => s + (e.type === 'duplicate' ? e.copies : 0), 0);
  assert.equal(
    withClasses(all, 'msg').filter((t) => t.attrs.has('data-id')).length,
    10_000 + extra,
  );
  // Navigable: a window and a node filter make a small picture out of it.
  const t1 = performance.now();
  const small = renderSvg(trace, {
    window: { from: 1000, to: 1100 },
    nodes: ['n1', 'n2', 'n3', 'n4'],
  });
  console.log(
    `windowed render (4 nodes, 100 ms): ${(performance.now() - t1).toFixed(0)} ms, ${small.length} bytes`,
  );
  assert.equal(withClasses(tags(small), 'lane').length, 4);
});

test('model: broadcast arrows are labelled by message kind and payload id, never raw JSON', () => {
  const expected: Record<string, RegExp> = {
    beb: /^beb n\d+#\d+$/,
    'eager-rb': /^rb n\d+#\d+$/,
    'fifo-rb': /^rb n\d+#\d+$/,
    causal: /^rb n\d+#\d+$/,
    urb: /^urb n\d+#\d+$/,
    bracha: /^(SEND|ECHO|READY) n\d+#\d+$/,
    'gossip-rb': /^(batch|repair) (n\d+#\d+|×\d+)$|^(digest|pull)$/,
  };
  for (const [protocol, pattern] of Object.entries(expected)) {
    const r = runSpec(materialize(protocol, 'omission', 5, 3, { messages: 2 }));
    const labels = new Set(buildModel(r.trace).messages.map((m) => m.label));
    for (const label of labels) {
      assert.doesNotMatch(label, /[{"]/, `${protocol}: no JSON in "${label}"`);
      assert.ok(label.length <= (label.startsWith('ack') ? 20 : 16), `${protocol}: "${label}"`);
      if (!label.startsWith('ack')) assert.match(label, pattern, `${protocol}: "${label}"`);
    }
    if (protocol === 'bracha') {
      for (const k of ['SEND', 'ECHO', 'READY'])
        assert.ok(
          [...labels].some((l) => l.startsWith(k)),
          `bracha has ${k} arrows`,
        );
    }
    if (protocol === 'gossip-rb') assert.ok([...labels].some((l) => l.startsWith('batch')));
    else assert.ok(labels.has('ack ≤1'), `${protocol}: link acks are labelled "ack"`);
  }
  // The origin of a gossip item is an index into the node list (the order the nodes started in).
  const nodes = ['n1', 'n2', 'n3'];
  const one = { k: 'b', w: [0, 0, 0], m: [{ o: 2, n: 4, v: 'x' }] };
  assert.equal(messageLabel(one, { nodes }), 'batch n3#4');
  const three = { ...one, m: [one.m[0], one.m[0], one.m[0]] };
  assert.equal(messageLabel(three, { nodes }), 'batch ×3');
  assert.equal(
    messageLabel(
      { type: 'data', seq: 7, payload: { k: 'beb', n: 2, payload: 'p' } },
      { from: 'n4' },
    ),
    'beb n4#2',
  );
});
