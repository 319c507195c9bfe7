/**
 * The linearizability timeline: when a kv run's client history is not linearizable
 * (src/check/kv.ts, `linearizable`), the history of the failing key drawn the way Jepsen and
 * Porcupine draw one, so a reader can look for the order the checker could not find.
 *
 * Layout: one horizontal lane per client (a (node, client) pair, `n3/c`), TIME FLOWS RIGHTWARD
 * (unlike the space-time diagram, whose time flows downward: an operation is an interval, and
 * intervals on one line read as overlapping or not at a glance). Each operation is a bar from its
 * call to its return labelled `incr(n) → 3`, `get(x) → "n2#1"`. The bar starts where the
 * checker's interval starts: a client runs its operations one at a time, so an operation issued
 * while its predecessor was still running starts when that one ended (kvHistory); the queued
 * part is a thin line from the issue time. Indefinite operations (timed out, or their node
 * crashed: they may or may not have happened) are dashed bars open to the right edge, with a
 * tick where the client gave up; failed ones (they definitely did not happen, and are not part
 * of the history the checker judges) are grey. The operations of the 1-minimal failing
 * sub-history are red: removing any one of them makes the rest linearizable. Stretches longer
 * than `collapseMs` with no operation running are compressed to a fixed width and marked.
 *
 * Guarantees:
 * - `undefined` when the trace has no kv operation, or its history is linearizable (or the
 *   search ran out of budget: "unknown" is not drawn as a violation).
 * - Only the failing key's operations are drawn, at most `barsMax` of them: every operation of
 *   the failing sub-history, then the ones nearest it in time; the SVG says how many it left out.
 * - One standalone SVG string (no scripts, no external references, no ids); every text from the
 *   trace is escaped. Equal inputs give equal output.
 * - Countable: each bar is a `g.op` with classes `ok` | `indefinite` | `failed` and `hl` (in the
 *   failing sub-history), and `data-op` (history id), `data-client`, `data-status`, `data-call`
 *   (where the checker's interval starts), `data-ret`, `data-event-index` (its command's trace
 *   index); lanes are `g.lane` with `data-client`; compressed stretches `g.gap`; the root
 *   carries `data-key`, `data-drawn`, `data-omitted` and `data-minimal`.
 * Assumes: the trace's kv commands and results follow src/protocols/kv/types.ts; a verdict
 * passed in was judged on this trace by `linearizable` (its events are the failing
 * operations' calls and returns).
 */

import { assert } from '../core/errors.ts';
import type { TraceEvent } from '../core/trace.ts';
import { kvHistory, type KvHistoryOp } from '../check/kv.ts';
import { checkLinearizability, kvModel } from '../check/linearizability.ts';
import { shortJson, type Verdict } from '../check/verdict.ts';
import { median } from './model.ts';
import { esc, FONT, formatMs as fmt, niceStep, PALETTE, textWidth } from './svg.ts';

export interface TimelineOptions {
  /**
   * The run's verdicts, when they were already judged: the `linearizable` one names the failing
   * operations, which spares a second search; without a `linearizable` verdict among them
   * nothing is drawn. Absent: the history is checked here.
   */
  readonly verdicts?: readonly Verdict[];
  /** Bars drawn at most (default `TIMELINE_BARS_MAX`); the failing sub-history always is. */
  readonly barsMax?: number;
  /** Stretches with no operation running longer than this (ms) are compressed (default: auto). */
  readonly collapseMs?: number;
}

/** The default bound on the bars drawn. */
export const TIMELINE_BARS_MAX = 240;

export interface LinearizabilityTimeline {
  /** The key with no linearization. */
  readonly key: string;
  /** Operations of the 1-minimal failing sub-history (all drawn, in red). */
  readonly minimal: number;
  /** Operations on the key drawn, and operations on it left out by the bound. */
  readonly drawn: number;
  readonly omitted: number;
  /** Clients (lanes) drawn. */
  readonly clients: number;
  readonly svg: string;
}

/** The timeline's SVG, or undefined (no kv operation, or no violation). */
export function linearizabilityTimelineSvg(
  trace: readonly TraceEvent[],
  opts: TimelineOptions = {},
): string | undefined {
  return linearizabilityTimeline(trace, opts)?.svg;
}

/** The failing key's history drawn as a timeline, with what was drawn; see the module comment. */
export function linearizabilityTimeline(
  trace: readonly TraceEvent[],
  opts: TimelineOptions = {},
): LinearizabilityTimeline | undefined {
  const { ops } = kvHistory(trace);
  if (ops.length === 0) return undefined;
  const failing = failingOps(ops, opts.verdicts);
  if (failing === undefined) return undefined;
  const { key, minimal } = failing;
  const barsMax = Math.max(1, opts.barsMax ?? TIMELINE_BARS_MAX);
  const onKey = ops.filter((o) => o.input.key === key);
  const drawn = bounded(onKey, minimal, barsMax);
  assert(
    minimal.every((o) => drawn.includes(o)),
    'timeline: the failing sub-history is always drawn',
  );
  assert(drawn.length <= Math.max(barsMax, minimal.length), 'timeline: at most barsMax bars');
  const svg = draw(trace, drawn, new Set(minimal.map((o) => o.id)), {
    key,
    omitted: onKey.length - drawn.length,
    collapseMs: opts.collapseMs,
  });
  return {
    key,
    minimal: minimal.length,
    drawn: drawn.length,
    omitted: onKey.length - drawn.length,
    clients: new Set(drawn.map((o) => o.client)).size,
    svg,
  };
}

// ------------------------------------------------------------------------------ the data

/** The failing key and its 1-minimal sub-history, from the verdicts or a search of our own. */
function failingOps(
  ops: readonly KvHistoryOp[],
  verdicts: readonly Verdict[] | undefined,
): { key: string; minimal: KvHistoryOp[] } | undefined {
  if (verdicts !== undefined) {
    const v = verdicts.find((x) => x.property === 'linearizable');
    if (v === undefined || v.holds || v.violation === undefined) return undefined;
    // `linearizable` lists the calls and returns of the failing sub-history ("unknown": none).
    const at = new Set(v.violation.events.map((e) => e.index));
    const minimal = ops.filter((o) => at.has(o.callIndex));
    const key = minimal[0]?.input.key;
    if (key === undefined) return undefined;
    // Not the verdict of this trace: judge it here rather than draw a wrong red.
    if (minimal.every((o) => o.input.key === key)) return { key, minimal };
  }
  const history = ops.filter((o) => o.status !== 'fail');
  const r = checkLinearizability(kvModel, history);
  if (r.result !== 'violation') return undefined;
  const ids = new Set(r.minimal.map((o) => o.id));
  return { key: r.part, minimal: history.filter((o) => ids.has(o.id)) };
}

/**
 * At most `max` operations: the failing ones, then the nearest in time to any of them (the gap
 * between the two intervals; an indefinite one counts from its call), in history order.
 */
function bounded(
  onKey: readonly KvHistoryOp[],
  minimal: readonly KvHistoryOp[],
  max: number,
): KvHistoryOp[] {
  if (onKey.length <= max) return [...onKey];
  const ids = new Set(minimal.map((o) => o.id));
  const apart = (a: KvHistoryOp, b: KvHistoryOp): number =>
    Math.max(0, a.call - (b.ret ?? b.call), b.call - (a.ret ?? a.call));
  const dist = new Map(onKey.map((o) => [o.id, Math.min(...minimal.map((m) => apart(o, m)))]));
  const rest = onKey
    .filter((o) => !ids.has(o.id))
    .sort((a, b) => (dist.get(a.id) ?? 0) - (dist.get(b.id) ?? 0) || a.callIndex - b.callIndex)
    .slice(0, Math.max(0, max - minimal.length));
  const keep = new Set([...ids, ...rest.map((o) => o.id)]);
  return onKey.filter((o) => keep.has(o.id));
}

/** What the drawing needs besides the history: when an operation was issued and ended. */
interface Bar {
  readonly op: KvHistoryOp;
  readonly hl: boolean;
  /** The command's time (≤ op.call, which kvHistory may have moved to the predecessor's end). */
  readonly issued: number;
  /** The return (ok, fail) or when the client gave up or its node crashed (indefinite). */
  readonly end: number | undefined;
  readonly label: string;
  readonly tip: string;
}

/**
 * Ends kvHistory does not keep: the `fail` or `indefinite` result of an operation without
 * `ret`, or (indefinite, `crashed`) its node's crash. One pass from the first such call.
 */
function endsOf(
  trace: readonly TraceEvent[],
  ops: readonly KvHistoryOp[],
): Map<number, { t: number; crash: boolean }> {
  const open = new Map<string, KvHistoryOp>();
  const id = (node: string, client: unknown, serial: unknown): string =>
    `${node}\u0000${String(client)}\u0000${String(serial)}`;
  for (const o of ops) {
    const cmd = (trace[o.callIndex] as { cmd?: { client?: unknown } } | undefined)?.cmd;
    if (o.ret === undefined) open.set(id(o.node, cmd?.client, o.serial), o);
  }
  const out = new Map<number, { t: number; crash: boolean }>();
  const first = Math.min(...[...open.values()].map((o) => o.callIndex));
  for (let i = first; i < trace.length && out.size < open.size; i++) {
    const e = trace[i] as TraceEvent;
    const end = (o: KvHistoryOp | undefined, crash: boolean): void => {
      if (o !== undefined && i > o.callIndex && !out.has(o.id)) out.set(o.id, { t: e.t, crash });
    };
    if (e.type === 'deliver') {
      const d = e.event as { type?: unknown; client?: unknown; serial?: unknown } | null;
      if (d?.type === 'kv-result') end(open.get(id(e.node, d.client, d.serial)), false);
    } else if (e.type === 'crash') {
      for (const o of open.values()) if (o.node === e.node && o.crashed) end(o, true);
    }
  }
  return out;
}

/** `incr(n) → 3`, `get(x) → "n2#1"`, `put(x, "a") → null`; `?` indefinite, `fail` failed. */
function opLabel(o: KvHistoryOp, valueMax = 24): string {
  const i = o.input;
  const v = (x: unknown): string => shortJson(x, valueMax);
  const args =
    i.f === 'put'
      ? `, ${v(i.value)}`
      : i.f === 'incr'
        ? i.delta === 1
          ? ''
          : `, ${String(i.delta)}`
        : i.f === 'cas'
          ? `, ${v(i.from)}→${v(i.to)}`
          : '';
  const out = o.status === 'fail' ? 'fail' : o.status === 'indefinite' ? '?' : v(o.output);
  // A plain key is written bare, `get(x)`; any other as JSON.
  const key = /^[\w.:#/-]{1,24}$/.test(i.key) ? i.key : shortJson(i.key, valueMax);
  return `${i.f}(${key}${args}) → ${out}`;
}

function bars(
  trace: readonly TraceEvent[],
  ops: readonly KvHistoryOp[],
  hl: ReadonlySet<number>,
): Bar[] {
  const ends = endsOf(trace, ops);
  return ops.map((op) => {
    const issued = Math.min(op.call, trace[op.callIndex]?.t ?? op.call);
    const e = ends.get(op.id);
    const end = op.ret ?? e?.t;
    const at = (t: number | undefined): string => (t === undefined ? '' : ` t=${fmt(t)}`);
    const how =
      op.status === 'ok'
        ? `returned${at(op.ret)}`
        : op.status === 'fail'
          ? `failed${at(end)}: it did not happen (not in the judged history)`
          : `indefinite (${e === undefined ? 'no result' : e.crash ? `its node crashed${at(end)}` : `its client gave up${at(end)}`}): it may or may not have happened`;
    const tip =
      `${op.client} #${String(op.serial)} ${opLabel(op, 200)}\nissued${at(issued)}` +
      (issued < op.call
        ? `, in effect from${at(op.call)} (when its previous operation ended)`
        : '') +
      `, ${how}` +
      (hl.has(op.id) ? '\nin the smallest failing sub-history' : '');
    return { op, hl: hl.has(op.id), issued, end, label: opLabel(op), tip };
  });
}

// ------------------------------------------------------------------------------ drawing

const LANE_ROW_H = 30;
const BAR_H = 10;
const BAR_MIN_W = 8;
const GAP_PX = 30;
const OPEN_PX = 36;
const LABEL_SIZE = 10.5;

const STYLE = `
.sf-timeline text{font-family:${FONT};fill:${PALETTE.ink}}
.sf-timeline .title{font-size:13.5px;font-weight:650}
.sf-timeline .sub{font-size:11px;fill:${PALETTE.muted}}
.sf-timeline .sub.omitted{fill:#9c4221}
.sf-timeline .legend text{font-size:11px;fill:#4a5568}
.sf-timeline .axis text{font-size:10px;fill:${PALETTE.muted};text-anchor:middle}
.sf-timeline .axis .unit{text-anchor:start;font-style:italic}
.sf-timeline .axis line{stroke:#cbd5e0}
.sf-timeline .grid{stroke:#edf2f7;stroke-width:1}
.sf-timeline .lane rect.band{fill:#fafbfc}
.sf-timeline .lane line{stroke:#e2e8f0}
.sf-timeline .lane text{font-size:12px;font-weight:600}
.sf-timeline .gap rect{fill:${PALETTE.idle}}
.sf-timeline .gap line{stroke:#cbd5e0;stroke-dasharray:4 3}
.sf-timeline .gap .break{fill:none;stroke:${PALETTE.muted};stroke-width:1.2;stroke-dasharray:none}
.sf-timeline .op rect{fill:#dbe8f6;stroke:${PALETTE.data};stroke-width:1.2}
.sf-timeline .op text{font-size:${LABEL_SIZE}px;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
.sf-timeline .op .queued{stroke:${PALETTE.faint};stroke-width:1.2;stroke-dasharray:2 2}
.sf-timeline .op.indefinite rect{fill:#fff;stroke-dasharray:4 3}
.sf-timeline .op.indefinite path{fill:${PALETTE.data}}
.sf-timeline .op .gave-up{stroke:${PALETTE.ink};stroke-width:1.6}
.sf-timeline .op.failed rect{fill:#edf2f7;stroke:${PALETTE.faint}}
.sf-timeline .op.failed text{fill:${PALETTE.faint}}
.sf-timeline .op.hl rect{fill:${PALETTE.hlFill};stroke:${PALETTE.hl};stroke-width:2}
.sf-timeline .op.hl.ok rect{fill:${PALETTE.hl}}
.sf-timeline .op.hl path{fill:${PALETTE.hl}}
.sf-timeline .op.hl text{fill:${PALETTE.hl};font-weight:650}
`;

/** A coordinate with at most one decimal. */
function n(v: number): string {
  return String(Math.round(v * 10) / 10);
}

/** Time → x, linear except across compressed stretches (each `GAP_PX` wide). */
class Scale {
  constructor(
    readonly t0: number,
    readonly x0: number,
    readonly ppm: number,
    /** Compressed stretches, in time order, not overlapping. */
    readonly gaps: readonly { readonly t0: number; readonly t1: number }[],
  ) {}

  x(t: number): number {
    let x = this.x0 + (t - this.t0) * this.ppm;
    for (const g of this.gaps) {
      if (t <= g.t0) break;
      if (t < g.t1) return this.x(g.t0) + ((t - g.t0) / (g.t1 - g.t0)) * GAP_PX;
      x -= (g.t1 - g.t0) * this.ppm - GAP_PX;
    }
    return x;
  }
}

/** Stretches no operation spans (the open part of an indefinite one does not count). */
function idleStretches(bs: readonly Bar[], minMs: number): { t0: number; t1: number }[] {
  const spans = bs
    .map((b) => [b.issued, Math.max(b.end ?? b.op.call, b.op.call)] as const)
    .sort((a, b) => a[0] - b[0]);
  const out: { t0: number; t1: number }[] = [];
  let reach = spans[0]?.[1] ?? 0;
  for (const [s, e] of spans) {
    if (s - reach > minMs) out.push({ t0: reach, t1: s });
    reach = Math.max(reach, e);
  }
  return out;
}

interface Ctx {
  readonly key: string;
  readonly omitted: number;
  readonly collapseMs: number | undefined;
}

/** Where everything goes along the time axis, and each bar's row within its lane. */
interface Layout {
  readonly clients: readonly string[];
  readonly sc: Scale;
  readonly gaps: readonly { readonly t0: number; readonly t1: number }[];
  readonly tMin: number;
  readonly tMax: number;
  /** Where the indefinite bars end (open), and where the bars and their labels end. */
  readonly openX: number;
  readonly right: number;
  readonly rowOf: ReadonlyMap<number, number>;
  readonly rowsOf: ReadonlyMap<string, number>;
}

function layout(bs: readonly Bar[], collapseMsOpt: number | undefined): Layout {
  const clients = [...new Set(bs.map((b) => b.op.client))];
  const tMin = Math.min(...bs.map((b) => b.issued));
  const tMax = Math.max(...bs.map((b) => Math.max(b.end ?? b.op.call, b.op.call)));
  const durations = bs.flatMap((b) => (b.op.ret === undefined ? [] : [b.op.ret - b.op.call]));
  const collapseMs =
    collapseMsOpt === undefined
      ? Math.max(100, 4 * (median(durations) ?? 0), (tMax - tMin) / 12)
      : Math.max(0, collapseMsOpt);
  const gaps = idleStretches(bs, collapseMs);
  const liveMs = Math.max(1, tMax - tMin - gaps.reduce((s, g) => s + (g.t1 - g.t0), 0));
  // Scale: the history fits about 960 px (less for a few operations), widened up to 2,400 px
  // when a client's consecutive calls are closer than a label's width.
  const bodyTarget = Math.min(960, Math.max(360, 80 * bs.length));
  const laneGaps = clients.flatMap((c) => {
    const calls = bs.filter((b) => b.op.client === c).map((b) => b.op.call);
    return calls
      .slice(1)
      .map((t, i) => t - (calls[i] as number))
      .filter((d) => d > 0);
  });
  const dense = 90 / Math.max(median(laneGaps) ?? Infinity, 0.001);
  const ppm = Math.min(
    Math.max(bodyTarget / liveMs, dense),
    Math.max(600, 2400 - gaps.length * GAP_PX) / liveMs,
  );
  const left = Math.max(56, ...clients.map((c) => textWidth(c, 12) + 20)) + 12;
  const sc = new Scale(tMin, left + 8, ppm, gaps);
  const openX = sc.x(tMax) + OPEN_PX;
  // Rows: within a lane, a bar (with its label) goes to the first row it does not overlap.
  const rowOf = new Map<number, number>();
  const rowsOf = new Map<string, number>();
  let right = openX + 16;
  for (const c of clients) {
    const rowsEnd: number[] = [];
    for (const b of bs.filter((x) => x.op.client === c)) {
      const x0 = sc.x(b.issued);
      const xb =
        b.op.status === 'indefinite'
          ? openX
          : Math.max(sc.x(b.end ?? b.op.call), sc.x(b.op.call) + BAR_MIN_W);
      const x1 = Math.max(xb, sc.x(b.op.call) + textWidth(b.label, LABEL_SIZE)) + 8;
      right = Math.max(right, x1 + 4);
      let r = rowsEnd.findIndex((e) => e <= x0);
      if (r < 0) r = rowsEnd.push(x1) - 1;
      else rowsEnd[r] = x1;
      rowOf.set(b.op.id, r);
    }
    rowsOf.set(c, Math.max(1, rowsEnd.length));
  }
  return { clients, sc, gaps, tMin, tMax, openX, right, rowOf, rowsOf };
}

/** The title, what is left out, and the legend (only what is drawn); its height and width. */
function headSvg(
  bs: readonly Bar[],
  L: Layout,
  ctx: Ctx,
): { svg: string; bottom: number; width: number } {
  const nMin = bs.filter((b) => b.hl).length;
  const lines: [string, number, string][] = [
    ['title', 13.5, `No linearization of key ${JSON.stringify(ctx.key)}`],
    [
      'sub',
      11,
      `${bs.length} operations on ${JSON.stringify(ctx.key)} by ${L.clients.length} clients; in red the smallest failing sub-history ` +
        (nMin === 1
          ? '(1 operation): it has no linearization even alone.'
          : `(${nMin} operations): they have no linearization; drop any one and the rest have one.`),
    ],
  ];
  if (ctx.omitted > 0) {
    lines.push([
      'sub omitted',
      11,
      `${ctx.omitted} more operations on this key not drawn (at most ${bs.length} bars: the failing ones and the nearest in time).`,
    ]);
  }
  let y = 4;
  let width = 0;
  const out = lines.map(([cls, size, text]) => {
    y += size + 5;
    width = Math.max(width, 12 + textWidth(text, size) + 12);
    return `<text class="${cls}" x="12" y="${n(y)}">${esc(text)}</text>`;
  });
  const has = (f: (b: Bar) => boolean): boolean => bs.some(f);
  const legend: [string, string][] = [];
  const swatch = (cls: string, open = false): string =>
    `<g class="op ${cls}"><rect x="0" y="-5" width="26" height="${BAR_H}" rx="3"/>${open ? '<path d="M26 -5 L32 0 L26 5 Z"/>' : ''}</g>`;
  if (has((b) => b.op.status === 'ok' && !b.hl)) legend.push([swatch('ok'), 'call → return']);
  legend.push([swatch('ok hl'), 'in the failing sub-history']);
  const indefinite = 'indefinite: no return, may or may not have happened';
  if (has((b) => b.op.status === 'indefinite'))
    legend.push([swatch('indefinite', true), indefinite]);
  if (has((b) => b.op.status === 'fail')) legend.push([swatch('failed'), 'failed: did not happen']);
  const queued = `<g class="op"><line class="queued" x1="0" x2="26" y1="0" y2="0"/></g>`;
  if (has((b) => b.issued < b.op.call)) legend.push([queued, 'queued behind the previous call']);
  const gap = `<g class="gap"><rect x="2" y="-6" width="24" height="12"/><line x1="2" x2="2" y1="-6" y2="6"/><line x1="26" x2="26" y1="-6" y2="6"/></g>`;
  const idle = ctx.omitted > 0 ? 'no operation drawn: compressed' : 'idle time compressed';
  if (L.gaps.length > 0) legend.push([gap, idle]);
  y += 20;
  let lx = 12;
  const items = legend.map(([g, t]) => {
    const item = `<g transform="translate(${n(lx)} ${n(y)})">${g}<text x="40" y="4">${esc(t)}</text></g>`;
    lx += 40 + textWidth(t, 11) + 22;
    return item;
  });
  width = Math.max(width, lx);
  return {
    svg: `<g class="head">${out.join('')}</g><g class="legend">${items.join('')}</g>`,
    bottom: y + 10,
    width,
  };
}

/**
 * The time axis: ticks about every 90 px within each stretch between compressed gaps; each
 * stretch starts with its own time, left-aligned (it does not continue the one before it).
 */
function axisSvg(L: Layout, axisY: number, lanesTop: number, bottom: number): string {
  const { sc } = L;
  const step = niceStep(90 / sc.ppm);
  const segs: [number, number][] = [];
  let s0 = L.tMin;
  for (const g of L.gaps) {
    segs.push([s0, g.t0]);
    s0 = g.t1;
  }
  segs.push([s0, L.tMax]);
  const axis: string[] = [`<text class="unit" x="12" y="${axisY - 6}">t (ms)</text>`];
  const grid: string[] = [];
  const starts = segs.map(([a]) => sc.x(a));
  segs.forEach(([a, b], i) => {
    const xa = sc.x(a);
    const xb = i === segs.length - 1 ? L.openX - OPEN_PX + 8 : sc.x(b);
    axis.push(`<line x1="${n(xa)}" x2="${n(xb)}" y1="${axisY}" y2="${axisY}"/>`);
    const mark = (t: number, anchor: string): void => {
      const x = sc.x(t);
      axis.push(
        `<line x1="${n(x)}" x2="${n(x)}" y1="${axisY - 3}" y2="${axisY}"/><text x="${n(x)}" y="${axisY - 6}"${anchor}>${String(Math.round(t * 1000) / 1000)}</text>`,
      );
      grid.push(`<line class="grid" x1="${n(x)}" x2="${n(x)}" y1="${lanesTop}" y2="${bottom}"/>`);
    };
    mark(a, ' text-anchor="start"');
    let lastX = xa + 30; // the start label is left-aligned: its middle is about here
    for (let t = Math.ceil(a / step) * step; t <= b; t += step) {
      const x = sc.x(t);
      if (t <= a || x - lastX < 56 || starts.some((sx) => sx > xa && sx - x < 40)) continue;
      mark(t, '');
      lastX = x;
    }
  });
  const gaps = L.gaps.map((g) => {
    const x0 = sc.x(g.t0);
    const x1 = sc.x(g.t1);
    const m = (x0 + x1) / 2;
    return (
      `<g class="gap" data-t0="${g.t0}" data-t1="${g.t1}"><title>${esc(`no operation drawn for ${fmt(g.t1 - g.t0)} (t=${n(g.t0)}…${n(g.t1)}): compressed`)}</title>` +
      `<rect x="${n(x0)}" y="${lanesTop}" width="${n(x1 - x0)}" height="${bottom - lanesTop}"/>` +
      `<line x1="${n(x0)}" x2="${n(x0)}" y1="${lanesTop}" y2="${bottom}"/><line x1="${n(x1)}" x2="${n(x1)}" y1="${lanesTop}" y2="${bottom}"/>` +
      `<path class="break" d="M${n(m - 7)} ${axisY + 4} L${n(m - 3)} ${axisY - 4} M${n(m + 3)} ${axisY + 4} L${n(m + 7)} ${axisY - 4}"/></g>`
    );
  });
  return (
    `<g class="grids">${grid.join('')}</g><g class="gaps">${gaps.join('')}</g>` +
    `<g class="axis">${axis.join('')}</g>`
  );
}

function draw(
  trace: readonly TraceEvent[],
  ops: readonly KvHistoryOp[],
  hl: ReadonlySet<number>,
  ctx: Ctx,
): string {
  const bs = bars(trace, ops, hl);
  const L = layout(bs, ctx.collapseMs);
  const head = headSvg(bs, L, ctx);
  const width = Math.ceil(Math.max(L.right, head.width, 560));
  const axisY = head.bottom + 22;
  const lanesTop = axisY + 8;
  // Lanes (under the grid and the gaps), then the bars over everything.
  const lanes: string[] = [];
  const barsOut: string[] = [];
  let y = lanesTop;
  L.clients.forEach((c, i) => {
    const h = (L.rowsOf.get(c) ?? 1) * LANE_ROW_H;
    lanes.push(
      `<g class="lane" data-client="${esc(c)}" transform="translate(0 ${y})">` +
        (i % 2 === 0 ? `<rect class="band" x="0" y="0" width="${width}" height="${h}"/>` : '') +
        `<line x1="0" x2="${width}" y1="${h}" y2="${h}"/>` +
        `<text x="12" y="${n(h / 2 + 4)}">${esc(c)}</text></g>`,
    );
    for (const b of bs.filter((x) => x.op.client === c)) {
      barsOut.push(barSvg(b, L.sc, y + (L.rowOf.get(b.op.id) ?? 0) * LANE_ROW_H, L.openX));
    }
    y += h;
  });
  const height = y + 14;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" class="sf-timeline" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      `role="img" aria-label="${esc(`timeline of key ${JSON.stringify(ctx.key)}`)}" data-key="${esc(ctx.key)}" ` +
      `data-drawn="${bs.length}" data-omitted="${ctx.omitted}" data-minimal="${hl.size}">`,
    `<style>${STYLE}</style>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>`,
    head.svg,
    `<g class="lanes">${lanes.join('')}</g>`,
    axisSvg(L, axisY, lanesTop, y),
    `<g class="ops">${barsOut.join('')}</g>`,
    `</svg>`,
  ].join('\n');
}

function barSvg(b: Bar, sc: Scale, rowY: number, openX: number): string {
  const o = b.op;
  const cls = ['op', o.status === 'ok' ? 'ok' : o.status === 'fail' ? 'failed' : 'indefinite'];
  if (b.hl) cls.push('hl');
  const x0 = sc.x(o.call);
  const y = rowY + 15;
  const parts: string[] = [`<title>${esc(b.tip)}</title>`];
  if (b.issued < o.call) {
    parts.push(
      `<line class="queued" x1="${n(sc.x(b.issued))}" x2="${n(x0)}" y1="${y + BAR_H / 2}" y2="${y + BAR_H / 2}"/>`,
    );
  }
  if (o.status === 'indefinite') {
    parts.push(
      `<rect x="${n(x0)}" y="${y}" width="${n(Math.max(BAR_MIN_W, openX - x0))}" height="${BAR_H}" rx="3"/>`,
      `<path d="M${n(openX)} ${y} L${n(openX + 6)} ${y + BAR_H / 2} L${n(openX)} ${y + BAR_H} Z"/>`,
    );
    const xg = n(sc.x(b.end ?? 0));
    if (b.end !== undefined)
      parts.push(
        `<line class="gave-up" x1="${xg}" x2="${xg}" y1="${y - 2}" y2="${y + BAR_H + 2}"/>`,
      );
  } else {
    const x1 = sc.x(b.end ?? o.call);
    const w = Math.max(BAR_MIN_W, x1 - x0);
    const bx = x1 - x0 >= BAR_MIN_W ? x0 : x0 - (BAR_MIN_W - (x1 - x0)) / 2;
    parts.push(`<rect x="${n(bx)}" y="${y}" width="${n(w)}" height="${BAR_H}" rx="3"/>`);
  }
  parts.push(`<text x="${n(x0)}" y="${y - 3}">${esc(b.label)}</text>`);
  return (
    `<g class="${cls.join(' ')}" data-op="${o.id}" data-client="${esc(o.client)}" data-status="${o.status}" ` +
    `data-call="${o.call}" data-ret="${o.ret ?? ''}" data-event-index="${o.callIndex}">${parts.join('')}</g>`
  );
}
