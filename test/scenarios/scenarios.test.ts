/**
 * Every scenario of `steadfast scenario`: its verdicts are the ones the lecture expects, its fault
 * schedule hit exactly what it aimed at, its diagram shows the point (the drop, the crash, the
 * duplicate, the corruption as SVG elements with src/viz's classes), and its explanation names
 * the run's own properties, verdicts and message ids.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstViolation, renderMatrixReport } from '../../src/viz/html.ts';
import { allScenarioRuns, SCENARIOS, scenarioNames } from '../../src/scenarios/catalog.ts';
import { eventsOf } from '../../src/scenarios/facts.ts';
import { runScenario, type Mark, type ScenarioResult } from '../../src/scenarios/model.ts';
import { scenarioHtml, scenarioJson, scenarioSvg, variantSvg } from '../../src/scenarios/render.ts';
import { find, tags, type Tag } from './svg-tags.ts';

// ------------------------------------------------------------------------------ expectations

const RD = 'reliable-delivery';
const ND = 'no-duplication';
const NC = 'no-creation';
const link = (rd: boolean, nd: boolean, nc: boolean) => ({ [RD]: rd, [ND]: nd, [NC]: nc });
const BEB = { validity: true, [ND]: true, [NC]: true };
const BRB = {
  validity: true,
  [ND]: true,
  [NC]: true,
  'brb-consistency': true,
  'brb-totality': true,
};

/** Every replicated-store property holds (src/check/kv.ts). */
const KV_OK = {
  linearizable: true,
  'increments-once': true,
  'no-lost-write': true,
  completes: true,
  converges: true,
};

/** Scenario → variant → property → holds: the lecture's answers, stated here independently. */
const EXPECTED: Record<string, Record<string, Record<string, boolean>>> = {
  'lost-message': { 'at-most-once': link(false, true, true) },
  retransmit: { 'at-least-once': link(true, true, true) },
  'lost-ack': { 'at-least-once': link(true, false, true) },
  dedup: { 'exactly-once': link(true, true, true) },
  'idempotent-set': { 'set-at-least-once': { ...link(true, false, true), 'kv-final-state': true } },
  increment: {
    'at-least-once': { ...link(true, false, true), 'kv-final-state': false },
    'exactly-once': { ...link(true, true, true), 'kv-final-state': true },
  },
  'corrupt-no-checksum': { 'no-checksum': link(false, true, false) },
  'corrupt-checksum': { checksum: link(true, true, true) },
  forged: {
    'no-auth': { authenticity: false, [NC]: false, [RD]: true, [ND]: true },
    hmac: { authenticity: true, [NC]: true, [RD]: true, [ND]: true },
  },
  'beb-sender-crash': { beb: { ...BEB, agreement: false } },
  'rb-sender-crash': { 'eager-rb': { ...BEB, agreement: true, 'uniform-agreement': true } },
  'rb-duplicates': { 'eager-rb': { ...BEB, agreement: true } },
  'rb-crashed-deliverer': {
    'eager-rb': { ...BEB, agreement: true, 'uniform-agreement': false },
    urb: { ...BEB, agreement: true, 'uniform-agreement': true },
    'urb-deliver-then-crash': { ...BEB, agreement: true, 'uniform-agreement': true },
  },
  'rb-omission': { 'eager-rb': { ...BEB, agreement: true } },
  'bracha-equivocation': {
    'n4-f1': BRB,
    'n6-f2': { ...BRB, 'brb-consistency': false },
  },
  'masking-vs-failsafe': {
    'exactly-once': link(true, true, true),
    'at-most-once': link(false, true, true),
    'at-least-once': link(true, false, true),
    'fair-loss': link(false, false, true),
  },
  'kv-one-copy': {
    'one-copy': { ...KV_OK, durable: false },
    'three-copies': { ...KV_OK, durable: true },
  },
  'kv-lost-reply': {
    nosession: { ...KV_OK, linearizable: false, 'increments-once': false },
    sessions: KV_OK,
  },
  'kv-split-brain': {
    'primary-backup': { ...KV_OK, linearizable: false, 'no-lost-write': false },
    raft: KV_OK,
  },
  'kv-stale-read': {
    partition: { ...KV_OK, linearizable: false },
    'no-fault': { ...KV_OK, linearizable: false },
  },
  'kv-leader-crash': {
    nosession: { ...KV_OK, linearizable: false, 'increments-once': false },
    sessions: KV_OK,
  },
};

const FORM: Record<string, string> = {
  'masking-vs-failsafe/exactly-once': 'masking',
  'masking-vs-failsafe/at-most-once': 'fail-safe',
  'masking-vs-failsafe/at-least-once': 'non-masking',
  'masking-vs-failsafe/fair-loss': 'none',
  'lost-message/at-most-once': 'fail-safe',
  'corrupt-no-checksum/no-checksum': 'none',
  'bracha-equivocation/n6-f2': 'non-masking',
  'kv-one-copy/one-copy': 'non-masking',
  'kv-one-copy/three-copies': 'masking',
  'kv-lost-reply/nosession': 'non-masking',
  'kv-lost-reply/sessions': 'masking',
  'kv-split-brain/primary-backup': 'non-masking',
  'kv-split-brain/raft': 'masking',
  'kv-stale-read/partition': 'non-masking',
  'kv-stale-read/no-fault': 'non-masking',
  'kv-leader-crash/nosession': 'non-masking',
  'kv-leader-crash/sessions': 'masking',
};

/** What each diagram must show (`drop:reason` for a drop with that reason). */
const SHOWS: Record<string, Record<string, readonly string[]>> = {
  'lost-message': { 'at-most-once': ['drop:loss'] },
  retransmit: { 'at-least-once': ['drop:loss', 'retransmission'] },
  'lost-ack': { 'at-least-once': ['drop:loss', 'retransmission', 'duplicate-delivery'] },
  dedup: { 'exactly-once': ['drop:loss', 'retransmission'] },
  'idempotent-set': {
    'set-at-least-once': ['drop:loss', 'retransmission', 'duplicate-delivery'],
  },
  increment: {
    'at-least-once': ['drop:loss', 'retransmission', 'duplicate-delivery'],
    'exactly-once': ['drop:loss', 'retransmission'],
  },
  'corrupt-no-checksum': { 'no-checksum': ['corrupt'] },
  'corrupt-checksum': { checksum: ['corrupt', 'drop:checksum', 'retransmission'] },
  forged: { 'no-auth': ['forged'], hmac: ['forged', 'drop:auth'] },
  'beb-sender-crash': { beb: ['crash'] },
  'rb-sender-crash': { 'eager-rb': ['crash', 'redundant-copy'] },
  'rb-duplicates': { 'eager-rb': ['redundant-copy'] },
  'rb-crashed-deliverer': {
    'eager-rb': ['crash'],
    urb: ['crash'],
    'urb-deliver-then-crash': ['crash'],
  },
  'rb-omission': { 'eager-rb': ['drop:loss', 'retransmission', 'redundant-copy'] },
  'bracha-equivocation': { 'n4-f1': [], 'n6-f2': [] },
  'masking-vs-failsafe': {
    'exactly-once': ['drop:loss', 'network-duplicate', 'retransmission'],
    'at-most-once': ['drop:loss', 'network-duplicate'],
    'at-least-once': ['drop:loss', 'network-duplicate', 'retransmission', 'duplicate-delivery'],
    'fair-loss': ['drop:loss', 'network-duplicate', 'duplicate-delivery'],
  },
  'kv-one-copy': { 'one-copy': ['crash'], 'three-copies': ['crash', 'drop:node-down'] },
  'kv-lost-reply': { nosession: ['drop:loss'], sessions: ['drop:loss'] },
  'kv-split-brain': { 'primary-backup': ['drop:partition'], raft: ['drop:partition'] },
  'kv-stale-read': { partition: ['drop:partition'], 'no-fault': [] },
  'kv-leader-crash': {
    nosession: ['drop:loss', 'crash', 'drop:node-down'],
    sessions: ['drop:loss', 'crash', 'drop:node-down'],
  },
};

// ------------------------------------------------------------------------------ helpers

const results = new Map<string, ScenarioResult>(SCENARIOS.map((s) => [s.name, runScenario(s)]));

function resultOf(name: string): ScenarioResult {
  const r = results.get(name);
  assert.ok(r !== undefined, `no result for ${name}`);
  return r;
}

function markLabel(m: Mark): string {
  return m.kind === 'drop' ? `drop:${String(m.reason)}` : m.kind;
}

/** The SVG elements that draw a mark (empty when the diagram does not show it). */
function drawn(all: readonly Tag[], m: Mark): Tag[] {
  const id = String(m.id);
  const index = String(m.index);
  switch (m.kind) {
    case 'drop':
      return find(all, ['msg', 'drop', `drop-${String(m.reason)}`], {
        'data-id': id,
        'data-event-index': index,
      });
    case 'crash':
      return find(all, ['ev', 'crash'], { 'data-kind': 'crash', 'data-event-index': index });
    case 'corrupt':
      return find(all, ['msg', 'corrupt'], { 'data-id': id });
    case 'network-duplicate':
      return find(all, ['msg', 'dup'], { 'data-id': id });
    case 'retransmission':
      return find(all, ['msg', 'retx'], { 'data-id': id });
    case 'forged':
      return find(all, ['msg', 'forged'], { 'data-id': id });
    case 'duplicate-delivery':
      return find(all, ['ev', 'deliver'], { 'data-kind': 'deliver', 'data-event-index': index });
    case 'redundant-copy':
      return find(all, ['msg'], { 'data-id': id, 'data-event-index': index });
  }
}

// ------------------------------------------------------------------------------ tests

test('the catalogue lists every scenario of the issue, once, in the lecture order', () => {
  assert.deepEqual(scenarioNames(), Object.keys(EXPECTED));
  for (const s of SCENARIOS) {
    assert.ok(s.description.length > 20 && !s.description.includes('\n'), s.name);
    assert.deepEqual(
      s.variants.map((v) => v.key),
      Object.keys(EXPECTED[s.name] ?? {}),
      `${s.name}: variants`,
    );
  }
});

for (const s of SCENARIOS) {
  test(`${s.name}: expected verdicts, and the fault schedule hit exactly what it aimed at`, () => {
    const r = resultOf(s.name);
    for (const v of r.variants) {
      const at = `${s.name}/${v.key}`;
      const want = EXPECTED[s.name]?.[v.key];
      assert.ok(want !== undefined, `${at}: no expectation in the test`);
      const got = Object.fromEntries(v.verdicts.map((x) => [x.property, x.holds]));
      assert.deepEqual(got, want, `${at}: verdicts`);
      assert.deepEqual({ ...v.expect }, want, `${at}: the scenario states the same expectation`);
      assert.deepEqual(v.mismatches, [], `${at}: mismatches`);
      assert.deepEqual(v.problems, [], `${at}: the schedule missed`);
      const form = FORM[at];
      if (form !== undefined) assert.equal(v.form, form, `${at}: form`);
    }
    assert.equal(r.ok, true);
  });

  test(`${s.name}: the diagram shows the point (SVG elements with src/viz's classes)`, () => {
    const r = resultOf(s.name);
    for (const v of r.variants) {
      const at = `${s.name}/${v.key}`;
      const svg = variantSvg(r, v);
      const all = tags(svg);
      assert.ok(find(all, ['sf-diagram']).length === 1, `${at}: one diagram`);
      const kinds = new Set(v.marks.map(markLabel));
      for (const k of SHOWS[s.name]?.[v.key] ?? []) {
        assert.ok(kinds.has(k), `${at}: the run has no ${k} (marks: ${[...kinds].join(', ')})`);
      }
      for (const m of v.marks) {
        assert.ok(
          drawn(all, m).length > 0,
          `${at}: ${markLabel(m)} (trace #${m.index}, wire #${String(m.id)}) not drawn`,
        );
      }
      // A crash-stop node's lane is drawn dashed from its crash on.
      for (const m of v.marks.filter((x) => x.kind === 'crash')) {
        assert.ok(
          find(all, ['lane-line', 'down'], { 'data-event-index': String(m.index) }).length > 0,
          `${at}: ${String(m.node)}'s lane is not drawn down after its crash`,
        );
      }
      // The first violation (safety first) is highlighted with its property's name.
      const bad = firstViolation(v.verdicts);
      const labels = find(all, ['violation-label']);
      if (bad === undefined) {
        assert.equal(labels.length, 0, `${at}: a violation is drawn though every property held`);
      } else {
        assert.equal(labels[0]?.attrs.get('data-property'), bad.property, at);
        const hl = all.filter((t) => t.classes.has('hl'));
        assert.ok(hl.length > 0, `${at}: no highlighted element`);
        const drawnIdx = new Set(
          all.flatMap((t) => [
            ...(t.attrs.get('data-events') ?? '').split(' '),
            t.attrs.get('data-event-index') ?? '',
          ]),
        );
        for (const e of bad.violation?.events ?? []) {
          assert.ok(drawnIdx.has(String(e.index)), `${at}: violation event #${e.index} not drawn`);
        }
      }
    }
    const whole = scenarioSvg(r);
    assert.ok(whole.startsWith('<svg'), 'a standalone SVG document');
    assert.equal(find(tags(whole), ['sf-diagram']).length, r.variants.length);
  });

  test(`${s.name}: the explanation names the run's properties, verdicts, messages and crashes`, () => {
    const r = resultOf(s.name);
    for (const v of r.variants) {
      const at = `${s.name}/${v.key}`;
      const text = v.explanation;
      assert.ok(r.explanation.includes(text), `${at}: part of the scenario's explanation`);
      for (const x of v.verdicts) {
        assert.ok(
          text.includes(`${x.property} ${x.holds ? 'held' : 'VIOLATED'}`),
          `${at}: does not say ${x.property} ${x.holds ? 'held' : 'was violated'}`,
        );
        if (!x.holds) {
          assert.ok(text.includes(x.violation?.message ?? '?'), `${at}: the violation's message`);
          assert.ok(text.includes(`for ${x.property}, `), `${at}: no fix for ${x.property}`);
        }
      }
      assert.ok(text.includes(`Form of fault tolerance in this run: ${v.form} `), `${at}: form`);
      assert.ok(text.includes('Fault class: '), `${at}: fault class`);
      const failed = v.verdicts.some((x) => !x.holds);
      assert.equal(text.includes('Fix: '), failed, `${at}: a fix exactly when something broke`);
      assert.equal(text.includes('Nothing to fix'), !failed, at);
      for (const kind of ['drop', 'corrupt', 'forged', 'network-duplicate'] as const) {
        const first = v.marks.find((m) => m.kind === kind);
        if (first === undefined) continue;
        assert.ok(
          new RegExp(`#${String(first.id)}\\b`).test(text),
          `${at}: the ${kind} of #${String(first.id)} is not named`,
        );
      }
      for (const c of eventsOf(v.trace, 'crash')) {
        assert.ok(
          text.includes(`${c.e.node} crashed at t=${c.e.t}`) ||
            text.includes(`crashed at t=${c.e.t}`),
          `${at}: ${c.e.node}'s crash`,
        );
      }
    }
  });
}

test('explanations are computed from the run: change the run, the text follows', () => {
  const def = SCENARIOS.find((s) => s.name === 'lost-ack');
  const v = def?.variants[0];
  const r = resultOf('lost-ack').variants[0];
  assert.ok(v !== undefined && r !== undefined);
  // Remove the second delivery and mark no-duplication as holding: the explanation must say so.
  const delivers = eventsOf(r.trace, 'deliver');
  const second = delivers[1];
  assert.ok(second !== undefined);
  const trace = r.trace.filter((_, i) => i !== second.index);
  const verdicts = r.verdicts.map((x) =>
    x.property === ND ? { property: x.property, kind: x.kind, holds: true, checked: 1 } : x,
  );
  const text = v.explain({ seed: r.seed, trace, verdicts });
  assert.match(text, /delivered "m" once/);
  assert.match(text, /no-duplication held/);
  assert.doesNotMatch(text, /VIOLATED/);
  assert.match(text, /Nothing to fix/);
  assert.notEqual(text, r.explanation);
});

test('scenarios are deterministic: a second run gives byte-identical traces and texts', () => {
  for (const name of ['lost-ack', 'corrupt-no-checksum', 'rb-omission', 'bracha-equivocation']) {
    const def = SCENARIOS.find((s) => s.name === name);
    assert.ok(def !== undefined);
    const again = runScenario(def);
    const before = resultOf(name);
    assert.equal(
      JSON.stringify(again.variants.map((v) => v.trace)),
      JSON.stringify(before.variants.map((v) => v.trace)),
      name,
    );
    assert.equal(again.explanation, before.explanation, name);
  }
});

test('allScenarioRuns: one entry per variant, embeddable in the matrix report', () => {
  const runs = allScenarioRuns();
  const variants = SCENARIOS.reduce((n, s) => n + s.variants.length, 0);
  assert.equal(runs.length, variants);
  assert.deepEqual([...new Set(runs.map((r) => r.scenario))], scenarioNames());
  for (const r of runs) {
    assert.ok(r.name.startsWith(r.scenario), r.name);
    assert.ok(r.trace.length > 0 && r.verdicts.length > 0 && r.explanation.length > 50, r.name);
    assert.equal(r.ok, true, r.name);
  }
  const some = runs.filter((r) => r.scenario === 'lost-ack' || r.scenario === 'forged');
  const html = renderMatrixReport({ protocols: [], faultModels: [], cells: [], scenarios: some });
  assert.match(html, /Scenarios/);
  for (const r of some) assert.ok(html.includes(r.name.replace(/&/g, '&amp;')), r.name);
});

test('the HTML report and the JSON of a scenario', () => {
  const r = resultOf('masking-vs-failsafe');
  const html = scenarioHtml(r);
  assert.match(html, /^<!doctype html>/i);
  const forms = tags(html).filter((t) => t.classes.has('cell') && t.attrs.has('data-form'));
  assert.deepEqual(
    forms.map((t) => t.attrs.get('data-form')),
    ['masking', 'fail-safe', 'non-masking', 'none'],
  );
  assert.equal(find(tags(html), ['sf-diagram']).length >= 4, true);
  const json = JSON.parse(JSON.stringify(scenarioJson(r))) as {
    schema: string;
    ok: boolean;
    variants: {
      key: string;
      form: string;
      verdicts: { property: string; holds: boolean; expected: boolean }[];
    }[];
  };
  assert.equal(json.schema, 'steadfast.scenario/1');
  assert.equal(json.ok, true);
  assert.deepEqual(
    json.variants.map((v) => v.form),
    ['masking', 'fail-safe', 'non-masking', 'none'],
  );
  for (const v of json.variants)
    for (const x of v.verdicts) assert.equal(x.holds, x.expected, `${v.key} ${x.property}`);
});
