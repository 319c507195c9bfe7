/**
 * The common end of every explanation: the fault classes the run shows, its verdicts, its form
 * of fault tolerance, and the protocol change that fixes each violated property (or what made
 * them all hold).
 *
 * Guarantees: every clause is chosen from the run's verdicts and trace: a property is called
 * violated only if its verdict failed, a fix is named only for a property that failed.
 */

import type { NodeId } from '../core/ids.ts';
import { faultClasses, formText, verdictText } from './facts.ts';
import type { Run } from './model.ts';

/** The default fix of each property when it fails. */
export const FIXES: Readonly<Record<string, string>> = {
  'reliable-delivery':
    'keep each message in a send buffer and retransmit it on a timeout until the receiver acks it (at-least-once: scenario retransmit); add receiver dedup to keep no-duplication as well (exactly-once: scenario dedup)',
  'no-duplication':
    'deduplicate at the receiver by (sender, seq), with the dedup mark committed atomically with the effect before the ack (exactly-once: scenario dedup), or make the operation idempotent (scenario idempotent-set)',
  'no-creation':
    'checksum every frame (CRC32C) so that a corrupted frame is dropped instead of delivered, and authenticate frames (HMAC) against forgeries (scenarios corrupt-checksum, forged)',
  authenticity:
    'authenticate every frame with HMAC-SHA256 under a key per pair of nodes, so a process cannot speak in another one’s name (scenario forged, variant hmac)',
  'kv-final-state':
    'deduplicate retried operations at the store (exactly-once), or use only idempotent operations such as set (scenarios dedup, idempotent-set)',
  validity: 'retransmit over perfect links and relay, so every correct process gets the message',
  agreement:
    'relay every message on its first receipt before (or right after) delivering it: eager reliable broadcast (scenario rb-sender-crash)',
  'uniform-agreement':
    'deliver only once a majority of processes has the message: majority-ack uniform reliable broadcast (scenario rb-crashed-deliverer, URB variants)',
  'brb-consistency':
    'run Bracha only with N > 3f for the actual number f of Byzantine processes (N=4 tolerates f=1)',
  'brb-totality': 'run Bracha only with N > 3f for the actual number f of Byzantine processes',
  'brb-integrity': 'deliver at most once per (origin, n): Bracha’s delivered set',
};

export interface TailOptions {
  /** Byzantine processes of the run (not visible as faults in the trace). */
  readonly byzantine?: readonly NodeId[];
  readonly byzantineWhat?: string;
  /** Fixes that replace the defaults for this scenario. */
  readonly fixes?: Readonly<Record<string, string>>;
  /** Said when every property held: what made them hold. */
  readonly held?: string;
}

/** `Fault class: …. Verdicts: …. Form: …. Fix: …` for one run. */
export function tail(run: Run, opts: TailOptions = {}): string {
  const classes = faultClasses(run.trace, opts.byzantine ?? [], opts.byzantineWhat);
  const failed = run.verdicts.filter((v) => !v.holds);
  const fixes = failed.map((v) => {
    const fix = opts.fixes?.[v.property] ?? FIXES[v.property] ?? 'no known fix';
    return `for ${v.property}, ${fix}`;
  });
  const fix =
    failed.length === 0
      ? `Nothing to fix: every property held${opts.held === undefined ? '' : ` (${opts.held})`}.`
      : `Fix: ${fixes.join('; ')}.`;
  return (
    `Fault class: ${classes.join('; ')}. ` +
    `Verdicts: ${verdictText(run.verdicts)}. ` +
    `Form of fault tolerance in this run: ${formText(run.verdicts)}. ` +
    fix
  );
}
