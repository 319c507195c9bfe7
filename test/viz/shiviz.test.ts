/**
 * ShiViz export (src/viz/shiviz.ts): the log is read back with the regex it carries, and its
 * vector clocks are checked: monotone per host, each receive dominating its send.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TraceEvent } from '../../src/core/trace.ts';
import { SHIVIZ_REGEX, toShiViz } from '../../src/viz/shiviz.ts';
import { faultyRun } from './scenarios.ts';

interface Parsed {
  readonly host: string;
  readonly event: string;
  readonly clock: Record<string, number>;
}

/**
 * Reads a ShiViz file the way ShiViz does: line 1 is the parser regex, line 2 the (empty)
 * execution delimiter, the rest is the log, matched repeatedly with the regex (flag m).
 */
function parse(text: string): { regex: string; delimiter: string; events: Parsed[] } {
  const nl1 = text.indexOf('\n');
  const nl2 = text.indexOf('\n', nl1 + 1);
  const regex = text.slice(0, nl1);
  const delimiter = text.slice(nl1 + 1, nl2);
  const log = text.slice(nl2 + 1).trim();
  const re = new RegExp(regex, 'gm');
  const events: Parsed[] = [];
  let consumed = 0;
  for (let m = re.exec(log); m !== null; m = re.exec(log)) {
    assert.equal(m.index, consumed === 0 ? 0 : consumed + 1, 'matches are back to back');
    consumed = m.index + m[0].length;
    const g = m.groups ?? {};
    events.push({
      host: g.host ?? '',
      event: g.event ?? '',
      clock: JSON.parse(g.clock ?? '{}') as Record<string, number>,
    });
  }
  assert.equal(consumed, log.length, 'the whole log is matched');
  return { regex, delimiter, events };
}

function dominates(a: Record<string, number>, b: Record<string, number>): boolean {
  return Object.entries(b).every(([k, v]) => (a[k] ?? 0) >= v);
}

function checkLog(trace: readonly TraceEvent[], text: string): Parsed[] {
  const { regex, delimiter, events } = parse(text);
  assert.equal(regex, SHIVIZ_REGEX);
  assert.equal(regex, '(?<event>.*)\\n(?<host>\\S*) (?<clock>{.*})');
  assert.equal(delimiter, '');
  // Each host's own entry counts its events 1, 2, 3, …; every clock is monotone per host.
  const last = new Map<string, Record<string, number>>();
  for (const e of events) {
    const prev = last.get(e.host);
    assert.equal(
      e.clock[e.host],
      (prev?.[e.host] ?? 0) + 1,
      `${e.host}: own entry +1 (${e.event})`,
    );
    if (prev !== undefined) assert.ok(dominates(e.clock, prev), `${e.host}: monotone clock`);
    last.set(e.host, e.clock);
  }
  // A receive's clock dominates (and strictly follows) its send's.
  const byIndex = new Map<number, Parsed>();
  for (const e of events) byIndex.set(Number(/^#(\d+) /.exec(e.event)?.[1]), e);
  const sendOf = new Map<number, number>();
  let receives = 0;
  trace.forEach((e, i) => {
    if (e.type === 'send') sendOf.set(e.id, i);
    if (e.type !== 'receive') return;
    const r = byIndex.get(i);
    const s = byIndex.get(sendOf.get(e.id) ?? -1);
    assert.ok(r !== undefined && s !== undefined, `receive #${i} and its send are in the log`);
    assert.ok(dominates(r.clock, s.clock), `receive #${i} dominates its send`);
    assert.ok((r.clock[s.host] ?? 0) >= (s.clock[s.host] ?? 0));
    receives++;
  });
  assert.ok(receives > 0);
  return events;
}

test('shiviz: the log parses back with its own regex; clocks follow causality', () => {
  const { trace } = faultyRun();
  const text = toShiViz(trace);
  const events = checkLog(trace, text);
  const hostEvents = trace.filter((e) =>
    [
      'start',
      'command',
      'send',
      'receive',
      'deliver',
      'timer',
      'persist',
      'crash',
      'recover',
    ].includes(e.type),
  );
  assert.equal(events.length, hostEvents.length, 'one log event per host event');
  assert.deepEqual([...new Set(events.map((e) => e.host))].sort(), ['n1', 'n2', 'n3']);
  // Without internal events the clocks still check out.
  const lean = checkLog(trace, toShiViz(trace, { internal: false }));
  assert.ok(lean.length < events.length);
  assert.ok(!lean.some((e) => / timer | persist /.test(e.event)));
});

test('shiviz: host names with spaces and texts with newlines stay on their lines', () => {
  const trace: TraceEvent[] = [
    { t: 0, type: 'start', node: 'node one', incarnation: 0, records: 0 },
    { t: 0, type: 'start', node: 'n2', incarnation: 0, records: 0 },
    { t: 1, type: 'send', id: 1, from: 'node one', to: 'n2', msg: 'a\nb', bytes: 0 },
    { t: 2, type: 'receive', id: 1, copy: 0, from: 'node one', to: 'n2', msg: 'a\nb' },
    { t: 2, type: 'note', text: 'not at a host' },
    { t: 3, type: 'send', id: 2, from: 'n2', to: 'node one', msg: 'x', bytes: 0 },
    { t: 4, type: 'receive', id: 2, copy: 0, from: 'n2', to: 'node one', msg: 'x' },
  ];
  const text = toShiViz(trace);
  const events = checkLog(trace, text);
  assert.deepEqual(
    events.map((e) => [e.host, e.clock]),
    [
      ['node_one', { node_one: 1 }],
      ['n2', { n2: 1 }],
      ['node_one', { node_one: 2 }],
      ['n2', { node_one: 2, n2: 2 }],
      ['n2', { node_one: 2, n2: 3 }],
      ['node_one', { node_one: 3, n2: 3 }],
    ],
  );
});
