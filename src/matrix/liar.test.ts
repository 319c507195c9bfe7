import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRng } from '../core/rng.ts';
import type { Output, Protocol, StackSpec } from '../core/protocol.ts';
import { registryStack } from '../runtime/registry-stack.ts';
import { liarStack } from './liar.ts';

/** A stack that sends `{ payload: i }` to n2 for every command i, and nothing else. */
const echo: StackSpec<unknown, unknown, unknown> = {
  name: 'echo',
  isMessage: (_v: unknown): _v is unknown => true,
  create: (): Protocol<unknown, unknown, unknown> => {
    const out: Output<unknown, unknown>[] = [];
    return {
      handleStart: () => undefined,
      handleMessage: () => undefined,
      handleTimer: () => undefined,
      handleCommand: (_now, cmd) => {
        out.push({ kind: 'send', to: 'n2', msg: { payload: cmd } });
        out.push({ kind: 'deliver', event: cmd });
      },
      pollOutput: () => out.shift(),
      stats: () => ({ sent: 0 }),
    };
  },
};

test('liarStack: rewrites the data of about the given share of its sends, passes every other output through', () => {
  const p = liarStack(echo, {
    probability: 0.5,
    tamper: (_m, forged) => ({ payload: forged }),
  }).create({
    id: 'n1',
    nodes: ['n1', 'n2'],
    rng: createRng(3),
  });
  let forged = 0;
  let honest = 0;
  let delivered = 0;
  for (let i = 0; i < 1000; i++) {
    p.handleCommand(0 as never, i);
    for (let o = p.pollOutput(); o !== undefined; o = p.pollOutput()) {
      if (o.kind === 'deliver') {
        assert.equal(o.event, i);
        delivered++;
      } else if (o.kind === 'send') {
        assert.equal(o.to, 'n2');
        const v = (o.msg as { payload: unknown }).payload;
        if (v === i) honest++;
        else {
          assert.match(String(v), /^forged by n1 #\d+$/);
          forged++;
        }
      }
    }
  }
  assert.equal(delivered, 1000);
  assert.equal(forged + honest, 1000);
  assert.ok(forged > 420 && forged < 580, `forged ${forged} of 1000`);
  assert.equal(p.stats().tampered, forged);
});

test("registryStack: a node listed Byzantine runs the registry's adversary, the others the protocol", () => {
  const run = { nodes: 4, checksum: true, auth: true, byzantine: ['n3'] };
  assert.equal(registryStack({ ...run, protocol: 'bracha', id: 'n3' }).name, 'byz-equivocator');
  assert.notEqual(registryStack({ ...run, protocol: 'bracha', id: 'n1' }).name, 'byz-equivocator');
  const eager = registryStack({ ...run, protocol: 'eager-rb', id: 'n1' }).name;
  assert.equal(registryStack({ ...run, protocol: 'eager-rb', id: 'n3' }).name, `liar(${eager})`);
});
