/**
 * The linearizability timeline (src/viz/timeline.ts): bars for hand-made kv histories (a stale
 * read, a linearizable one, hostile text, a long one), and the HTML reports of real kv-crdt runs
 * under partitions (`steadfast sim --html` and the matrix's counterexample) showing it.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TraceEvent } from '../../src/core/trace.ts';
import { checkKv } from '../../src/check/kv.ts';
import { materialize, runSpec } from '../../src/matrix/spec.ts';
import { runHtml } from '../../src/cli/reports.ts';
import { cellFromRuns, renderMatrixReport } from '../../src/viz/html.ts';
import {
  linearizabilityTimeline,
  linearizabilityTimelineSvg,
  TIMELINE_BARS_MAX,
} from '../../src/viz/timeline.ts';
import { tags, withClasses, type Tag } from './svg-parse.ts';

/** A kv trace written by hand: calls (commands) and returns (kv-result deliveries). */
class History {
  private readonly events: TraceEvent[] = [];
  private readonly serials = new Map<string, number>();

  /** The events in time order (a trace's order), ties in the order they were written. */
  get trace(): TraceEvent[] {
    return [...this.events].sort((a, b) => a.t - b.t);
  }

  /** Calls `op` at `node` for `client` at `t`; returns its serial. */
  call(t: number, node: string, op: unknown, client = 'c'): number {
    const serial = (this.serials.get(`${node}/${client}`) ?? 0) + 1;
    this.serials.set(`${node}/${client}`, serial);
    this.events.push({
      t,
      type: 'command',
      node,
      accepted: true,
      cmd: { type: 'kv', client, serial, op },
    });
    return serial;
  }

  ret(
    t: number,
    node: string,
    serial: number,
    status: 'ok' | 'fail' | 'indefinite',
    output?: unknown,
    client = 'c',
  ): void {
    const event = { type: 'kv-result', client, serial, op: {}, status, output };
    this.events.push({ t, type: 'deliver', node, event });
  }

  /** A call and its `ok` return. */
  op(t0: number, t1: number, node: string, op: unknown, output: unknown, client = 'c'): void {
    this.ret(t1, node, this.call(t0, node, op, client), 'ok', output, client);
  }
}

const opsOf = (svg: string): Tag[] =>
  withClasses(tags(svg), 'op').filter((t) => t.attrs.has('data-op'));
/** Each bar's label (the text of each `g.op` with a `data-op`), unescaped. */
function labels(svg: string): string[] {
  const bars = [...svg.matchAll(/<g class="op[^"]*" data-op="\d+"[^>]*>(.*?)<\/g>/gs)];
  return bars.map((m) => {
    const text = /<text [^>]*>([^<]*)<\/text>/.exec(m[1] ?? '')?.[1] ?? '';
    return text
      .replace(/&quot;/g, '"')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&amp;/g, '&');
  });
}

/**
 * A stale read on x: n1 writes "a" (0–10), then n2 reads null (20–30). Around it: a failed and
 * an indefinite operation on x, a queued call, and operations on another key (not drawn).
 */
function staleRead(): History {
  const h = new History();
  h.op(0, 10, 'n1', { f: 'put', key: 'x', value: 'a' }, null);
  h.op(2, 4, 'n3', { f: 'incr', key: 'n', delta: 1 }, 1);
  h.op(20, 30, 'n2', { f: 'get', key: 'x' }, null);
  const s = h.call(5, 'n3', { f: 'put', key: 'x', value: 'z' });
  h.ret(12, 'n3', s, 'fail');
  h.call(14, 'n4', { f: 'get', key: 'x' }); // never answered: indefinite
  h.op(40, 44, 'n3', { f: 'incr', key: 'n', delta: 1 }, 2);
  h.op(45, 50, 'n1', { f: 'get', key: 'x' }, 'a');
  return h;
}

test('timeline: a stale read gives one lane per client and red bars for exactly the failing pair', () => {
  const { trace } = staleRead();
  const t = linearizabilityTimeline(trace);
  assert.ok(t !== undefined, 'a violation is drawn');
  assert.equal(t.key, 'x');
  assert.equal(t.minimal, 2);
  assert.equal(t.drawn, 5, 'the five operations on x; none on n');
  assert.equal(t.omitted, 0);
  const all = tags(t.svg);
  assert.equal(all[0]?.name, 'svg');
  assert.equal(all[0].attrs.get('data-key'), 'x');
  assert.deepEqual(
    withClasses(all, 'lane').map((l) => l.attrs.get('data-client')),
    ['n1/c', 'n3/c', 'n4/c', 'n2/c'],
    'one lane per (node, client) with an operation on x, in order of first call',
  );
  const ops = opsOf(t.svg);
  assert.equal(ops.length, 5);
  const red = ops.filter((o) => o.classes.has('hl'));
  assert.deepEqual(
    red.map((o) => [o.attrs.get('data-client'), o.attrs.get('data-call'), o.attrs.get('data-ret')]),
    [
      ['n1/c', '0', '10'],
      ['n2/c', '20', '30'],
    ],
  );
  const failed = ops.filter((o) => o.classes.has('failed'));
  const open = ops.filter((o) => o.classes.has('indefinite'));
  assert.deepEqual(
    failed.map((o) => o.attrs.get('data-client')),
    ['n3/c'],
  );
  assert.deepEqual(
    open.map((o) => o.attrs.get('data-client')),
    ['n4/c'],
  );
  assert.ok(!failed[0]?.classes.has('hl') && !open[0]?.classes.has('hl'));
  assert.deepEqual(labels(t.svg).sort(), [
    'get(x) → "a"',
    'get(x) → ?',
    'get(x) → null',
    'put(x, "a") → null',
    'put(x, "z") → fail',
  ]);
  assert.match(t.svg, /No linearization of key &quot;x&quot;/, 'the key is named');
  // The indefinite bar runs to the open end (an arrowhead) past every return.
  const openBar = t.svg.slice(t.svg.indexOf('data-status="indefinite"'));
  assert.match(openBar.slice(0, openBar.indexOf('</g>')), /<path d="M/);
  // Judged here or named by the run's verdicts: the same drawing.
  const verdicts = checkKv(trace, () => true);
  assert.equal(verdicts.find((v) => v.property === 'linearizable')?.holds, false);
  assert.equal(linearizabilityTimelineSvg(trace, { verdicts }), t.svg);
});

test('timeline: an incr and a queued call', () => {
  const h = new History();
  h.op(0, 10, 'n1', { f: 'incr', key: 'n', delta: 1 }, 1);
  h.op(5, 15, 'n2', { f: 'incr', key: 'n', delta: 1 }, 3); // 3: an increment applied twice
  // n1's second call is issued before its first returned: its interval starts at 10.
  const s = h.call(8, 'n1', { f: 'get', key: 'n' });
  h.ret(20, 'n1', s, 'ok', 3);
  const svg = linearizabilityTimelineSvg(h.trace);
  assert.ok(svg !== undefined);
  assert.ok(labels(svg).includes('incr(n) → 3'));
  const queued = opsOf(svg).find(
    (o) => o.attrs.get('data-status') === 'ok' && o.attrs.get('data-call') === '10',
  );
  assert.ok(queued !== undefined, 'the get starts where its predecessor ended');
  assert.match(svg, /class="queued"/);
});

test('timeline: undefined for a linearizable history, for no kv operation, and when verdicts say it holds', () => {
  const h = new History();
  h.op(0, 10, 'n1', { f: 'put', key: 'x', value: 'a' }, null);
  h.op(5, 15, 'n2', { f: 'get', key: 'x' }, null); // concurrent with the put: may read before it
  h.op(20, 30, 'n2', { f: 'get', key: 'x' }, 'a');
  h.op(21, 25, 'n3', { f: 'incr', key: 'n', delta: 2 }, 2);
  const i = h.call(31, 'n3', { f: 'put', key: 'x', value: 'b' });
  h.ret(40, 'n3', i, 'indefinite');
  h.op(50, 60, 'n1', { f: 'get', key: 'x' }, 'a'); // the indefinite put may never have happened
  assert.equal(linearizabilityTimelineSvg(h.trace), undefined);
  assert.equal(linearizabilityTimelineSvg([]), undefined);
  assert.equal(linearizabilityTimelineSvg([{ t: 0, type: 'note', text: 'no kv here' }]), undefined);
  const { trace } = staleRead();
  assert.equal(linearizabilityTimelineSvg(trace, { verdicts: [] }), undefined, 'not judged');
  assert.equal(
    linearizabilityTimelineSvg(trace, {
      verdicts: [{ property: 'linearizable', kind: 'safety', holds: true, checked: 5 }],
    }),
    undefined,
  );
});

test('timeline: text from the trace is escaped', () => {
  const h = new History();
  const evil = `</text><script>alert("x")</script>&'`;
  h.op(0, 10, 'n1', { f: 'put', key: evil, value: evil }, null, 'c<&>"');
  h.op(20, 30, 'n2', { f: 'get', key: evil }, null, `'"><svg onload=1>`);
  const svg = linearizabilityTimelineSvg(h.trace);
  assert.ok(svg !== undefined);
  assert.ok(!svg.includes('<script') && !svg.includes('<svg onload') && !svg.includes('c<&>'));
  const written = new Set(['g', 'line', 'path', 'rect', 'style', 'svg', 'text', 'title']);
  for (const tag of tags(svg))
    assert.ok(written.has(tag.name), `only the timeline's tags: ${tag.name}`);
  const all = tags(svg);
  assert.equal(all[0]?.attrs.get('data-key'), evil, 'attributes round-trip');
  assert.deepEqual(
    withClasses(all, 'lane').map((l) => l.attrs.get('data-client')),
    ['n1/c<&>"', `n2/'"><svg onload=1>`],
  );
  assert.ok(svg.includes('&lt;/text&gt;&lt;script&gt;'));
});

test('timeline: the bound keeps the failing operations and says how many it left out', () => {
  const h = new History();
  // 400 sequential writes and reads on x by 8 clients, all linearizable but one stale read in
  // the middle.
  let t = 0;
  let last: string | null = null;
  for (let k = 0; k < 400; k++) {
    const node = `n${(k % 8) + 1}`;
    if (k === 200) {
      h.op(t, t + 3, node, { f: 'get', key: 'x' }, null); // stale: "v…" was written before
    } else if (k % 2 === 0) {
      last = `v${k}`;
      h.op(t, t + 3, node, { f: 'put', key: 'x', value: last }, null);
    } else h.op(t, t + 3, node, { f: 'get', key: 'x' }, last);
    t += 5;
  }
  const small = linearizabilityTimeline(h.trace, { barsMax: 50 });
  assert.ok(small !== undefined);
  assert.equal(small.drawn, 50);
  assert.equal(small.omitted, 350);
  const ops = opsOf(small.svg);
  assert.equal(ops.length, 50);
  const red = ops.filter((o) => o.classes.has('hl'));
  assert.equal(red.length, small.minimal);
  assert.ok(
    red.some((o) => o.attrs.get('data-call') === String(200 * 5)),
    'the stale read is drawn',
  );
  assert.match(small.svg, /350 more operations on this key not drawn/);
  assert.equal(tags(small.svg)[0]?.attrs.get('data-omitted'), '350');
  // The stretch between the two failing operations, whose operations are left out, is compressed.
  assert.equal(withClasses(tags(small.svg), 'gap').length, 2, 'one in the legend, one drawn');
  assert.match(small.svg, /no operation drawn: compressed/);
  // The others drawn are the nearest in time to a failing one (every operation lasts 3 ms).
  const reds = red.map((o) => Number(o.attrs.get('data-call')));
  const dist = (call: number): number =>
    Math.min(...reds.map((r) => Math.max(0, call - (r + 3), r - (call + 3))));
  const drawn = new Set(ops.map((o) => Number(o.attrs.get('data-call'))));
  const calls = Array.from({ length: 400 }, (_, k) => k * 5);
  const far = Math.max(...[...drawn].map(dist));
  assert.ok(
    calls.filter((c) => !drawn.has(c)).every((c) => dist(c) >= far),
    'nearest first',
  );
  const dflt = linearizabilityTimeline(h.trace);
  assert.ok(dflt !== undefined);
  assert.equal(opsOf(dflt.svg).length, TIMELINE_BARS_MAX);
  assert.equal(dflt.omitted, 400 - TIMELINE_BARS_MAX);
  const width = Number(tags(dflt.svg)[0]?.attrs.get('width'));
  assert.ok(width <= 2600, `bounded width: ${width} px`);
});

/** The first kv-crdt partition run (seeds 1…) whose history has no linearization. */
function crdtPartitionRun(): {
  spec: ReturnType<typeof materialize>;
  r: ReturnType<typeof runSpec>;
} {
  for (let seed = 1; seed <= 8; seed++) {
    const spec = materialize('kv-crdt', 'partition', 5, seed, { messages: 4 });
    const r = runSpec(spec);
    if (r.verdicts.some((v) => v.property === 'linearizable' && !v.holds)) return { spec, r };
  }
  throw new Error('no kv-crdt partition run among seeds 1-8 breaks linearizability');
}

test('timeline: the HTML of a real kv-crdt partition run shows it above the diagram', () => {
  const { spec, r } = crdtPartitionRun();
  const html = runHtml(spec, r.trace, r.verdicts);
  const all = tags(html);
  const timelines = withClasses(all, 'sf-timeline');
  assert.equal(timelines.length, 1);
  const key = timelines[0]?.attrs.get('data-key') ?? '';
  const v = r.verdicts.find((x) => x.property === 'linearizable');
  assert.ok(v?.violation?.message.includes(`key ${JSON.stringify(key)}`), 'the verdict’s key');
  assert.ok(html.indexOf('class="sf-timeline"') < html.indexOf('class="sf-diagram"'), 'above');
  assert.match(html, /<p class="kv timeline-caption">The history of key <b>/);
  const red = withClasses(all, 'op', 'hl').filter((o) => o.attrs.has('data-op'));
  assert.equal(red.length, Number(timelines[0]?.attrs.get('data-minimal')));
  assert.ok(red.length >= 1);

  // The matrix's cell counterexample shows it too.
  const cell = cellFromRuns('kv-crdt', 'partition', [{ seed: spec.seed, ...r }]);
  const m = renderMatrixReport({
    protocols: ['kv-crdt'],
    faultModels: ['partition'],
    cells: [cell],
  });
  assert.equal(withClasses(tags(m), 'sf-timeline').length, 1);

  // A run of a protocol with no kv operations shows none.
  const link = materialize('at-least-once', 'partition', 3, 1, { messages: 2 });
  const lr = runSpec(link);
  assert.ok(!runHtml(link, lr.trace, lr.verdicts).includes('class="sf-timeline"'));
});
