/**
 * The registry's adversary for a real Byzantine process: the stack a node listed as Byzantine
 * runs instead of the honest one (`"stack": { "protocol": …, "byzantine": ["n4"] }`).
 *
 * The simulator lies in its network (simulator.ts `transmit`): each message a liar sends is, with
 * a probability, rewritten by the entry's `tamper` (default `tamperPayload`). A real process has
 * no simulated network to lie in, so it lies in its own stack: `liarStack` wraps the honest stack
 * and rewrites each `send` output the same way, with the same probability, drawing from the
 * node's own Rng. An entry with a protocol-specific adversary (`byzantineStack`: Bracha's
 * equivocator and colluders) runs that instead, as the simulator does in its authenticated
 * columns. Impersonation is not modelled: a real cluster's frames are HMAC-authenticated.
 *
 * Guarantees: the wrapped stack's messages are only ever the honest stack's messages, some with
 * their data replaced (what the simulator's liar sends); everything else passes through.
 * Assumes: the tampered message still satisfies the stack's `isMessage` (the tamper functions
 * only replace data fields), as in the simulator.
 */

import type { NodeContext, Output, Protocol, StackSpec } from '../core/protocol.ts';
import { tamperPayload } from '../sim/simulator.ts';
import type { ProtocolEntry } from './registry.ts';
import type { RunSpec } from './spec.ts';

type AnyStack = StackSpec<unknown, unknown, unknown>;

/** The simulator's generic liars rewrite a message with this probability (spec.ts simOptions). */
export const GENERIC_TAMPER_PROBABILITY = 0.5;

/** `inner`, whose sends are each rewritten by `tamper` with `probability`. */
export function liarStack(
  inner: AnyStack,
  opts: {
    readonly probability: number;
    readonly tamper: (msg: unknown, forged: string) => unknown;
  },
): AnyStack {
  return {
    name: `liar(${inner.name})`,
    isMessage: (v: unknown): v is unknown => inner.isMessage(v),
    create(ctx: NodeContext): Protocol<unknown, unknown, unknown> {
      const p = inner.create(ctx);
      let tampered = 0;
      return {
        handleStart: (now, durable) => {
          p.handleStart(now, durable);
        },
        handleMessage: (now, from, msg) => {
          p.handleMessage(now, from, msg);
        },
        handleTimer: (now, name) => {
          p.handleTimer(now, name);
        },
        handleCommand: (now, cmd) => {
          p.handleCommand(now, cmd);
        },
        pollOutput(): Output<unknown, unknown> | undefined {
          const o = p.pollOutput();
          if (o?.kind !== 'send' || !ctx.rng.chance(opts.probability)) return o;
          tampered++;
          return {
            kind: 'send',
            to: o.to,
            msg: opts.tamper(o.msg, `forged by ${ctx.id} #${tampered}`),
          };
        },
        stats: () => ({ ...p.stats(), tampered }),
      };
    },
  };
}

/** The stack the `index`-th Byzantine node of a run of `entry` runs on a real process. */
export function adversaryStack(entry: ProtocolEntry, spec: RunSpec, index: number): AnyStack {
  if (entry.byzantineStack !== undefined) return entry.byzantineStack(spec, index);
  return liarStack(entry.stack(spec), {
    probability: GENERIC_TAMPER_PROBABILITY,
    tamper: entry.tamper ?? tamperPayload,
  });
}
