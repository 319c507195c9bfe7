/**
 * HTML reports (src/viz/html.ts) and run statistics (src/viz/stats.ts): forms of fault
 * tolerance, self-containment, and the matrix built from real simulator runs.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TraceEvent } from '../../src/core/trace.ts';
import { fail, pass, type Verdict } from '../../src/check/verdict.ts';
import {
  cellFromRuns,
  renderMatrixReport,
  renderRunReport,
  toleranceForm,
} from '../../src/viz/html.ts';
import { computeStats, percentile } from '../../src/viz/stats.ts';
import { faultyRun, smallMatrix } from './scenarios.ts';
import { tags, withClasses } from './svg-parse.ts';

/** Nothing in the page may fetch anything: no src/href to a URL, no @import, no url(http…). */
function assertSelfContained(html: string): void {
  const withoutNs = html.replaceAll('xmlns="http://www.w3.org/2000/svg"', '');
  assert.doesNotMatch(withoutNs, /https?:\/\//, 'no URL at all');
  assert.doesNotMatch(html, /\ssrc=/, 'no src attribute');
  assert.doesNotMatch(html, /<link\b/, 'no <link>');
  assert.doesNotMatch(html, /@import/, 'no CSS import');
  for (const t of tags(html)) {
    const href = t.attrs.get('href');
    if (href !== undefined) assert.ok(href.startsWith('#'), `only in-document references: ${href}`);
  }
}

test('forms of fault tolerance, and cells from runs', () => {
  assert.equal(toleranceForm(true, true), 'masking');
  assert.equal(toleranceForm(true, false), 'fail-safe');
  assert.equal(toleranceForm(false, true), 'non-masking');
  assert.equal(toleranceForm(false, false), 'none');
  const e: TraceEvent = { t: 0, type: 'note', text: 'x' };
  const ok = [pass('reliable-delivery', 'liveness', 1), pass('no-duplication', 'safety', 1)];
  const dup = [
    pass('reliable-delivery', 'liveness', 1),
    fail('no-duplication', 'safety', 1, 'twice', [{ index: 0, event: e }]),
  ];
  const lost = [
    fail('reliable-delivery', 'liveness', 1, 'lost', [{ index: 0, event: e }]),
    pass('no-duplication', 'safety', 1),
  ];
  const runs = (vs: Verdict[][]) =>
    vs.map((verdicts, i) => ({ seed: i + 1, trace: [e], verdicts }));
  assert.deepEqual(cellFromRuns('p', 'f', runs([ok, ok])), {
    protocol: 'p',
    faultModel: 'f',
    form: 'masking',
    runs: 2,
    unsafeRuns: 0,
    unliveRuns: 0,
  });
  const nm = cellFromRuns('p', 'f', runs([ok, lost, dup]));
  assert.equal(nm.form, 'none');
  assert.equal(nm.seed, 3, 'a safety violation is the counterexample when there is one');
  assert.equal(nm.violated?.property, 'no-duplication');
  assert.deepEqual(nm.counterexample?.indices, [0]);
  const fs = cellFromRuns('p', 'f', runs([ok, lost]));
  assert.equal(fs.form, 'fail-safe');
  assert.equal(fs.seed, 2);
  assert.equal(fs.violated?.property, 'reliable-delivery');
});

test('stats: counts and latency percentiles of a run', () => {
  assert.equal(percentile([1, 2, 3, 4], 50), 2);
  assert.equal(percentile([1, 2, 3, 4], 100), 4);
  assert.equal(percentile([5], 99), 5);
  const { trace } = faultyRun();
  const s = computeStats(trace);
  const n = (type: TraceEvent['type']) => trace.filter((e) => e.type === type).length;
  assert.equal(s.sent, n('send'));
  assert.equal(s.dropped, n('drop'));
  assert.equal(s.received, n('receive'));
  assert.equal(s.delivered, n('deliver'));
  assert.equal(s.corrupted, n('corrupt'));
  assert.ok(s.retransmitted > 0 && s.duplicated > 0);
  assert.equal(s.commands, 10);
  const l = s.deliveryLatency;
  assert.ok(l !== undefined && l.count === 10, 'every message delivered once the faults end');
  assert.ok(l.min <= l.p50 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.max);
  assert.ok(s.networkLatency !== undefined && s.networkLatency.max <= 14);
});

test('run report: one self-contained page with verdicts, charts and the highlighted diagram', () => {
  const { trace, verdicts } = faultyRun();
  const html = renderRunReport({
    title: 'at-least-once <demo>',
    trace,
    verdicts,
    subtitle: 'seed 3',
  });
  assertSelfContained(html);
  assert.match(html, /^<!doctype html>/);
  assert.ok(html.includes('at-least-once &lt;demo&gt;') && !html.includes('<demo>'));
  const all = tags(html);
  assert.equal(withClasses(all, 'sf-diagram').length, 1);
  assert.equal(withClasses(all, 'lane').length, 3);
  assert.equal(
    withClasses(all, 'violation-label')[0]?.attrs.get('data-property'),
    'no-duplication',
  );
  assert.equal(all.filter((t) => t.attrs.get('data-holds') === 'false').length, 1);
  assert.equal(withClasses(all, 'bar').length, 7, 'the message-count chart');
  assert.ok(withClasses(all, 'stats-latency').length === 1);
  assert.ok(withClasses(all, 'viewer').length === 1 && html.includes('data-act="window"'));
  assert.equal((html.match(/<script>/g) ?? []).length, 1);
});

test('matrix report: cells coloured by form, counterexamples for cells short of masking', () => {
  const m = smallMatrix(4);
  const at = (p: string, f: string) => m.cells.find((c) => c.protocol === p && c.faultModel === f);
  assert.equal(at('at-most-once', 'loss 30%')?.form, 'fail-safe');
  assert.equal(at('at-least-once', 'loss 30%')?.form, 'non-masking');
  assert.equal(at('at-least-once', 'loss 30%')?.violated?.property, 'no-duplication');
  assert.equal(at('exactly-once', 'loss 30%')?.form, 'masking');
  for (const c of m.cells)
    if (c.protocol !== 'exactly-once' && c.faultModel === 'no faults')
      assert.equal(c.form, 'masking');

  const html = renderMatrixReport(m);
  assertSelfContained(html);
  const all = tags(html);
  const cells = withClasses(all, 'cell');
  assert.equal(cells.length, m.protocols.length * m.faultModels.length);
  for (const c of m.cells) {
    const td = cells.find(
      (t) =>
        t.attrs.get('data-protocol') === c.protocol && t.attrs.get('data-fault') === c.faultModel,
    );
    assert.ok(
      td !== undefined && td.classes.has(`f-${c.form}`),
      `${c.protocol} × ${c.faultModel} is coloured ${c.form}`,
    );
    assert.equal(td.classes.has('clickable'), c.form !== 'masking');
  }
  // One hidden counterexample per clickable cell, each with its own diagram and id prefix.
  const clickable = cells.filter((t) => t.classes.has('clickable'));
  const svgs = withClasses(all, 'sf-diagram');
  assert.equal(svgs.length, clickable.length + (m.scenarios?.length ?? 0));
  assert.equal(new Set(svgs.map((s) => s.attrs.get('id'))).size, svgs.length, 'unique ids');
  for (const td of clickable) assert.ok(html.includes(`id="${td.attrs.get('data-cx') ?? '?'}"`));
  // Unique marker ids across the page (otherwise arrows of one diagram use another's markers).
  const ids = all.map((t) => t.attrs.get('id')).filter((x) => x !== undefined);
  assert.equal(new Set(ids).size, ids.length);
});
