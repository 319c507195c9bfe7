/**
 * Verdicts: what a trace checker answers, and helpers to print them.
 *
 * Every checker in src/check takes a trace (src/core/trace.ts) and returns a `Verdict` for one
 * property, of one of the two kinds of the Alpern–Schneider classification:
 *   - safety   ("nothing bad happens", e.g. PL2 no duplication, PL3 no creation, FIFO order): a
 *              violation is a finite prefix of the trace; the checker reports the FIRST one, the
 *              one that completes earliest in trace order, with the events that show it.
 *   - liveness ("something good eventually happens", e.g. PL1 reliable delivery): a finite trace
 *              can only be judged at its end, so a liveness verdict means "not yet by the end of
 *              this trace"; run the simulation long enough (past a `heal-all`) before judging.
 *
 * Guarantees: verdicts are plain data (JSON-serialisable); `violation.events` carry the position
 * of each event in the trace (`index`) and are listed in trace order; `canonicalJson` gives equal
 * strings for equal plain-data values whatever their key order.
 * Assumes: payloads are plain data (JSON values, plus byte arrays and bigints, which get a
 * tagged form); `undefined` is treated as JSON treats it (omitted in objects, null elsewhere).
 */

import type { TraceEvent } from '../core/trace.ts';

export interface Violation {
  readonly message: string;
  /** The events that show the violation, in trace order; `index` is the position in the trace. */
  readonly events: readonly { index: number; event: TraceEvent }[];
}

export interface Verdict {
  readonly property: string;
  readonly kind: 'safety' | 'liveness';
  readonly holds: boolean;
  /** How many items (messages, deliveries, applications) were checked. */
  readonly checked: number;
  readonly violation?: Violation;
}

/** A verdict that holds. */
export function pass(property: string, kind: Verdict['kind'], checked: number): Verdict {
  return { property, kind, holds: true, checked };
}

/** A verdict that is violated; the events are sorted into trace order. */
export function fail(
  property: string,
  kind: Verdict['kind'],
  checked: number,
  message: string,
  events: readonly { index: number; event: TraceEvent }[],
): Verdict {
  const sorted = [...events].sort((a, b) => a.index - b.index);
  return { property, kind, holds: false, checked, violation: { message, events: sorted } };
}

/**
 * JSON with object keys sorted at every level: the identity of a payload. Byte arrays become
 * `{"$hex": "…"}` (as in JSON Lines traces), bigints `{"$bigint": "…"}`.
 */
export function canonicalJson(value: unknown): string {
  // Fast path for the common payloads: strings and numbers.
  if (typeof value === 'string') return JSON.stringify(value);
  return write(value);
}

function write(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      return `{"$bigint":"${v.toString()}"}`;
    case 'object':
      break;
    default:
      return 'null'; // functions and symbols: not plain data
  }
  if (v instanceof Uint8Array) {
    let hex = '';
    for (const b of v) hex += b.toString(16).padStart(2, '0');
    return `{"$hex":"${hex}"}`;
  }
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) out += (i === 0 ? '' : ',') + write(v[i]);
    return out + ']';
  }
  const toJSON = (v as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return write((toJSON as () => unknown).call(v));
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj);
  if (!isSorted(keys)) keys.sort();
  let out = '{';
  for (const key of keys) {
    const x = obj[key];
    if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue;
    out += (out.length === 1 ? '' : ',') + JSON.stringify(key) + ':' + write(x);
  }
  return out + '}';
}

function isSorted(keys: readonly string[]): boolean {
  for (let i = 1; i < keys.length; i++)
    if ((keys[i - 1] as string) > (keys[i] as string)) return false;
  return true;
}

/** `canonicalJson`, cut to `max` characters with an ellipsis. */
export function shortJson(value: unknown, max = 60): string {
  const s = canonicalJson(value);
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

function record(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
}

/** One line for a trace event, e.g. `t=12 n2 deliver from n1 "a"`. */
export function describeEvent(e: TraceEvent): string {
  const at = `t=${e.t}`;
  switch (e.type) {
    case 'start':
      return `${at} ${e.node} start (incarnation ${e.incarnation}, ${e.records} records)`;
    case 'command': {
      const c = record(e.cmd);
      const what =
        c?.type === 'send' && typeof c.to === 'string'
          ? `send to ${c.to} ${shortJson(c.payload)}`
          : `command ${shortJson(e.cmd)}`;
      return `${at} ${e.node} ${what}${e.accepted ? '' : ' (rejected: node down)'}`;
    }
    case 'send':
      return `${at} ${e.from} → ${e.to} net-send #${e.id} ${shortJson(e.msg)}`;
    case 'drop':
      return `${at} ${e.from} → ${e.to} drop #${e.id}.${e.copy} (${e.reason}${e.detail === undefined ? '' : `: ${e.detail}`})`;
    case 'duplicate':
      return `${at} ${e.from} → ${e.to} duplicate #${e.id} (+${e.copies})`;
    case 'corrupt':
      return `${at} ${e.from} → ${e.to} corrupt #${e.id}.${e.copy} (${e.bits.length} bits)`;
    case 'receive':
      return `${at} ${e.from} → ${e.to} receive #${e.id}.${e.copy} ${shortJson(e.msg)}${e.claimedFrom === undefined ? '' : ` (claims to be from ${e.claimedFrom})`}`;
    case 'deliver': {
      const d = record(e.event);
      if (d !== undefined && typeof d.from === 'string' && 'payload' in d) {
        return `${at} ${e.node} deliver from ${d.from} ${shortJson(d.payload)}`;
      }
      return `${at} ${e.node} deliver ${shortJson(e.event)}`;
    }
    case 'timer':
      return `${at} ${e.node} timer ${e.name}`;
    case 'persist': {
      const parts = e.writes.map((w) => {
        const v = record(w.value);
        const applied = w.key === 'applied' || w.key.endsWith('/applied');
        if (applied && v !== undefined && typeof v.from === 'string') {
          return `${w.key} (from ${v.from} ${shortJson(v.payload)})`;
        }
        return w.value === null ? `-${w.key}` : w.key;
      });
      return `${at} ${e.node} persist ${parts.join(', ')}`;
    }
    case 'crash':
      return `${at} ${e.node} crash${e.lostOutputs > 0 ? ` (${e.lostOutputs} outputs lost)` : ''}`;
    case 'recover':
      return `${at} ${e.node} recover`;
    case 'partition':
      return `${at} partition [${e.blocked.map(([a, b]) => `${a}→${b}`).join(' ')}]`;
    case 'network':
      return `${at} network${e.link === undefined ? '' : ` ${e.link[0]}→${e.link[1]}`} ${shortJson(e.faults)}`;
    case 'note':
      return `${at} note: ${e.text}`;
  }
}

/** A terminal report: one line per verdict, and the events of each violation below it. */
export function formatVerdicts(verdicts: readonly Verdict[]): string {
  const lines: string[] = [];
  for (const v of verdicts) {
    const head = `${v.holds ? '✓' : '✗'} ${v.property} (${v.kind}, ${v.checked} checked)`;
    if (v.violation === undefined) {
      lines.push(head);
      continue;
    }
    lines.push(`${head}: ${v.violation.message}`);
    for (const { index, event } of v.violation.events) {
      lines.push(`    #${index} ${describeEvent(event)}`);
    }
  }
  return lines.join('\n') + (lines.length > 0 ? '\n' : '');
}
