// The accounting of a real cluster's workload: every planned command has exactly one fate
// (refused while its node was down, rejected, in doubt, done, not done), read off the merged
// trace by the command APIs (deliveries, exactly-once applications, delivered-log entries, store
// results); and the supervisor's record is cross-checked against the durable traces.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TraceEvent } from '../../src/core/trace.ts';
import { accountOps, formatAccounting, type OpRecord } from '../../src/runtime/accounting.ts';

const kv = (serial: number) => ({
  type: 'kv',
  client: 'c',
  serial,
  op: { f: 'get', key: 'x' },
});
const result = (serial: number, status: string) => ({
  type: 'kv-result',
  client: 'c',
  serial,
  op: { f: 'get', key: 'x' },
  status,
});
const accepted = (t: number, node: string, cmd: unknown): TraceEvent => ({
  t,
  type: 'command',
  node,
  cmd,
  accepted: true,
});

test('accounting: refused, rejected, in doubt, done and not done, each counted once', () => {
  const ops: OpRecord[] = [
    // n1 was down: refused (the supervisor recorded it as a command not accepted).
    { node: 'n1', cmd: { type: 'broadcast', payload: 'n1#0' }, t: 10, handed: 'refused' },
    // n2's stack refused it.
    {
      node: 'n2',
      cmd: { type: 'broadcast', payload: 'n2#0' },
      t: 11,
      handed: 'written',
      answer: 'rejected',
    },
    // Done: delivered at its origin.
    {
      node: 'n2',
      cmd: { type: 'broadcast', payload: 'n2#1' },
      t: 12,
      handed: 'written',
      answer: 'accepted',
    },
    // Done: a logged broadcast's delivered-log entry (its notification cut off).
    {
      node: 'n3',
      cmd: { type: 'broadcast', payload: 'n3#0' },
      t: 13,
      handed: 'written',
      answer: 'accepted',
    },
    // Done: an exactly-once application at the addressee (no notification).
    {
      node: 'n2',
      cmd: { type: 'send', to: 'n3', payload: { i: 0 } },
      t: 14,
      handed: 'written',
      answer: 'accepted',
    },
    // Store results: ok (done), fail (done, failed), indefinite (in doubt).
    { node: 'n3', cmd: kv(1), t: 15, handed: 'written', answer: 'accepted' },
    { node: 'n3', cmd: kv(2), t: 16, handed: 'written', answer: 'accepted' },
    { node: 'n3', cmd: kv(3), t: 17, handed: 'written', answer: 'accepted' },
    // Handed to n1, which died before answering: in doubt.
    { node: 'n1', cmd: kv(1), t: 5, handed: 'written' },
    // Accepted by n1, which crashed before it was done: in doubt.
    { node: 'n1', cmd: kv(2), t: 6, handed: 'written', answer: 'accepted' },
    // Accepted by n2, which stayed up, never done: not done.
    { node: 'n2', cmd: kv(1), t: 18, handed: 'written', answer: 'accepted' },
  ];
  const trace: TraceEvent[] = [
    accepted(6, 'n1', kv(2)),
    { t: 8, type: 'crash', node: 'n1', lostOutputs: 0 },
    { t: 10, type: 'command', node: 'n1', cmd: ops[0]?.cmd, accepted: false },
    { t: 11, type: 'command', node: 'n2', cmd: ops[1]?.cmd, accepted: false },
    accepted(12, 'n2', ops[2]?.cmd),
    {
      t: 12,
      type: 'deliver',
      node: 'n2',
      event: { type: 'deliver', origin: 'n2', n: 1, payload: 'n2#1' },
    },
    // Another node's delivery of n2#0 does not make the rejected command done.
    {
      t: 12,
      type: 'deliver',
      node: 'n3',
      event: { type: 'deliver', origin: 'n2', n: 1, payload: 'n2#0' },
    },
    accepted(13, 'n3', ops[3]?.cmd),
    {
      t: 13,
      type: 'persist',
      node: 'n3',
      writes: [{ key: 'log', value: { origin: 'n3', n: 1, payload: 'n3#0' } }],
    },
    accepted(14, 'n2', ops[4]?.cmd),
    {
      t: 15,
      type: 'persist',
      node: 'n3',
      writes: [{ key: 'link/applied', value: { from: 'n2', payload: { i: 0 }, seq: 1 } }],
    },
    accepted(15, 'n3', kv(1)),
    accepted(16, 'n3', kv(2)),
    accepted(17, 'n3', kv(3)),
    { t: 20, type: 'deliver', node: 'n3', event: result(1, 'ok') },
    { t: 21, type: 'deliver', node: 'n3', event: result(2, 'fail') },
    { t: 22, type: 'deliver', node: 'n3', event: result(3, 'indefinite') },
    accepted(18, 'n2', kv(1)),
  ];
  const a = accountOps(ops, trace);
  assert.deepEqual(a.fates, [
    'refused',
    'rejected',
    'done',
    'done',
    'done',
    'done',
    'done',
    'in-doubt',
    'in-doubt',
    'in-doubt',
    'not-done',
  ]);
  assert.deepEqual(
    {
      planned: a.planned,
      issued: a.issued,
      refused: a.refused,
      rejected: a.rejected,
      inDoubt: a.inDoubt,
      unanswered: a.unanswered,
      done: a.done,
      failed: a.failed,
      notDone: a.notDone,
    },
    {
      planned: 11,
      issued: 10,
      refused: 1,
      rejected: 1,
      inDoubt: 3,
      unanswered: 1,
      done: 5,
      failed: 1,
      notDone: 1,
    },
  );
  assert.deepEqual(a.untraced, []);
  assert.deepEqual(a.unplanned, []);
  assert.deepEqual(a.notDoneOps, [
    'n2: {"type":"kv","client":"c","serial":1,"op":{"f":"get","key":"x"}}',
  ]);
  assert.equal(
    formatAccounting(a),
    'planned 11 · issued 10 · refused 1 (node down) · rejected 1 (by the stack) · ' +
      'in doubt 3 (1 unanswered) · done 5 (1 failed) · not done 1',
  );
});

test('accounting: a command a node accepted must be in its durable trace unless it crashed after', () => {
  const cmd = { type: 'broadcast', payload: 'n1#0' };
  const op = (): OpRecord => ({ node: 'n1', cmd, t: 5, handed: 'written', answer: 'accepted' });
  // Not in the trace, n1 never crashed: untraced.
  assert.deepEqual(accountOps([op()], []).untraced, ['n1: {"type":"broadcast","payload":"n1#0"}']);
  // Not in the trace, n1 crashed afterwards (before its commit): in doubt, nothing missing.
  const crashed = accountOps([op()], [{ t: 6, type: 'crash', node: 'n1', lostOutputs: 0 }]);
  assert.deepEqual([crashed.untraced, crashed.fates], [[], ['in-doubt']]);
  // In a trace, never handed over: unplanned.
  assert.deepEqual(accountOps([], [accepted(1, 'n2', cmd)]).unplanned, [
    'n2: {"type":"broadcast","payload":"n1#0"}',
  ]);
});
