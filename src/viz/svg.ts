/**
 * Space-time (Lamport) diagrams: a trace (src/core/trace.ts) drawn as one SVG document.
 *
 * Layout: one vertical lane per node, TIME FLOWS DOWNWARD (in every space-time diagram; only the
 * linearizability timeline, timeline.ts, runs it rightward), an arrow per copy of a message from
 * its send to its receive. Dropped copies end short with an × and their reason; network
 * duplicates (copy > 0) are dotted violet; retransmissions (a later send with the same protocol
 * identity on the same link, see model.ts) are dashed amber with ↻n; corrupted copies are gold
 * with a lightning bolt; crashes are an X with the lane dashed while down, the recovery a green
 * ring; application deliveries are dots, commands diamonds, persists squares, timers ticks;
 * partitions are shaded bands naming their sides; idle stretches longer than `collapseIdleMs`
 * are compressed to a fixed height and marked on the time axis. `highlight` draws the events of
 * a violation in red with the property's name.
 *
 * Guarantees:
 * - Output is one standalone SVG string (no external references, no scripts); its text is
 *   escaped. Equal inputs give equal output (no clock, no randomness).
 * - Every drawn item is countable: messages are `g.msg` with classes (`data`, `ack`, `retx`,
 *   `dup`, `drop`, `corrupt`, `inflight`, `hl`) and `data-id`, `data-copy`, `data-event-index`
 *   (the copy's receive/drop event, else its send) and `data-events` (every trace index it
 *   draws); node events are `.ev` with `data-kind` and `data-event-index`; lanes are `g.lane`
 *   with `data-node`; partitions `rect.partition`; idle gaps `g.idle`; the violation's label
 *   `g.violation-label` with `data-property`.
 * - The geometry is in data attributes (`data-y1`, `data-y2`, `data-f` on messages, `data-g` on
 *   their decorations, lane x in `transform`) so a page script can hide lanes and lay the rest
 *   out again without re-rendering (src/viz/html.ts does).
 * - Linear in the trace (one sort of the distinct event times); a 100-node, 10,000-message
 *   trace renders well under 2 s (test/viz/svg.test.ts measures it).
 * Assumes: trace order is time order; node ids are strings (any text: it is escaped).
 *
 * SIZE. Over 600 lines: the space-time diagram's layout and drawing in one pass over the trace
 * model; the layout (time axis, idle collapsing, lanes) is the part to move out first.
 */

import type { NodeId } from '../core/ids.ts';
import type { TraceEvent } from '../core/trace.ts';
import { describeEvent } from '../check/verdict.ts';
import {
  buildModel,
  median,
  partitionLabel,
  type Message,
  type MessageCopy,
  type TraceModel,
} from './model.ts';

export interface DiagramHighlight {
  /** The violated property's name, e.g. `no-duplication`. */
  readonly property: string;
  /** Trace indices of the events that show the violation (Violation.events[].index). */
  readonly indices: readonly number[];
  /** The violation's message, shown under the property name. */
  readonly message?: string;
}

export interface DiagramOptions {
  /** A heading drawn above the legend. */
  readonly title?: string;
  /** Lanes to draw, in this order (default: every node, in order of first appearance). A
   * message between a drawn and a hidden node becomes a short stub naming the other node. */
  readonly nodes?: readonly NodeId[];
  /** Only these messages (wire ids) are drawn; node events are kept. */
  readonly messages?: readonly number[];
  /** Only messages this predicate accepts are drawn (with `messages`: both must accept). */
  readonly messageFilter?: (m: Message) => boolean;
  /** Only events with from ≤ t ≤ to (ms) are drawn; arrows crossing the edges are clipped. */
  readonly window?: { readonly from?: number; readonly to?: number };
  /**
   * Gaps with no drawn event longer than this (ms) are compressed to a fixed height and marked.
   * Default: 4 × the median flight time, at least 24 ms. `false`: never.
   */
  readonly collapseIdleMs?: number | false;
  /**
   * Vertical scale (px per ms). Default: the median flight time of the drawn messages (at least
   * 1 ms; 5 ms when no copy was received) spans 28 px, within 0.02 to 12 px per ms.
   */
  readonly pxPerMs?: number;
  /** Horizontal distance between lanes (px). Default: from 220 (few nodes) down to 44. */
  readonly laneWidth?: number;
  /**
   * Message labels: 'auto' (default) labels when at most 600 messages are drawn and lanes are at
   * least 90 px apart.
   */
  readonly labels?: 'auto' | 'all' | 'none';
  /** Draw the legend of the symbols used (default true). */
  readonly legend?: boolean;
  /** A `<title>` tooltip per element: 'auto' (default) when the trace has ≤ 20,000 events. */
  readonly tooltips?: 'auto' | boolean;
  readonly highlight?: DiagramHighlight;
  /** Prefix of the SVG's element ids; give each diagram of one HTML page its own (default `sf`). */
  readonly idPrefix?: string;
  /** Protocol identity of a message, for retransmissions (default `messageIdentity`). */
  readonly identity?: (msg: unknown) => string | undefined;
}

// ------------------------------------------------------------------------------ constants

/** The palette (calm, colour-blind-aware: kinds differ by dash pattern as well as colour). */
export const PALETTE = {
  ink: '#2d3748',
  muted: '#718096',
  faint: '#a0aec0',
  lane: '#a0aec0',
  data: '#3b7fc4',
  ack: '#9fb3c8',
  retx: '#d08a1e',
  dup: '#7c5cc4',
  corrupt: '#c9961a',
  bolt: '#f6c343',
  drop: '#4a5568',
  deliver: '#2c9a7a',
  persist: '#718096',
  timer: '#a0aec0',
  crash: '#1a202c',
  recover: '#2f855a',
  partition: '#f3a54a',
  partitionInk: '#a4561b',
  idle: '#f3f5f8',
  hl: '#e03131',
  hlFill: '#fff5f5',
} as const;

/** The diagrams' font stack (the HTML page uses the same). */
export const FONT =
  "'Inter','Segoe UI',system-ui,-apple-system,'Helvetica Neue',Arial,'Liberation Sans','DejaVu Sans',sans-serif";

const AXIS_W = 72;
const PAD_BODY = 18;
const COLLAPSED_PX = 30;
const BREAK_INSET = 5;
const SEND_DROP_F = 0.42;
const ARRIVAL_DROP_F = 0.86;
const INFLIGHT_F = 0.5;
const HL_BOX_W = 236;

const STYLE = `
.sf-diagram text{font-family:${FONT};fill:${PALETTE.ink}}
.sf-diagram .title{font-size:15px;font-weight:600}
.sf-diagram .legend text{font-size:11px;fill:#4a5568}
.sf-diagram .topbg{fill:#fff}
.sf-diagram .head rect{fill:#edf2f7;stroke:#cbd5e0}
.sf-diagram .head text{font-size:12px;font-weight:600;text-anchor:middle}
.sf-diagram .axis text{font-size:10px;fill:${PALETTE.muted};text-anchor:end}
.sf-diagram .axis .gap{font-style:italic}
.sf-diagram .grid{stroke:#edf2f7;stroke-width:1}
.sf-diagram .lane-line{stroke:${PALETTE.lane};stroke-width:1.6}
.sf-diagram .lane-line.down{stroke:#8795a8;stroke-dasharray:3 4;stroke-width:1.3}
.sf-diagram .idle rect{fill:${PALETTE.idle}}
.sf-diagram .idle line{stroke:#cbd5e0;stroke-dasharray:4 3}
.sf-diagram .partition{fill:${PALETTE.partition};fill-opacity:.13}
.sf-diagram .partition-edge{stroke:${PALETTE.partition};stroke-opacity:.55}
.sf-diagram .partition-label{font-size:10.5px;font-weight:600;fill:${PALETTE.partitionInk}}
.sf-diagram .note line{stroke:${PALETTE.faint};stroke-dasharray:1 3}
.sf-diagram .note text{font-size:10px;fill:${PALETTE.muted};font-style:italic;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
.sf-diagram .msg line,.sf-diagram .msg path{fill:none;stroke:${PALETTE.data};stroke-width:1.4}
.sf-diagram .msg.ack line,.sf-diagram .msg.ack path{stroke:${PALETTE.ack};stroke-width:1}
.sf-diagram .msg.retx line,.sf-diagram .msg.retx path{stroke:${PALETTE.retx};stroke-dasharray:7 4}
.sf-diagram .msg.dup line,.sf-diagram .msg.dup path{stroke:${PALETTE.dup};stroke-dasharray:2 3;stroke-width:1.5}
.sf-diagram .msg.corrupt line,.sf-diagram .msg.corrupt path{stroke:${PALETTE.corrupt};stroke-width:1.6}
.sf-diagram .msg.inflight line{stroke-opacity:.45;stroke-dasharray:3 3}
.sf-diagram .msg.forged line,.sf-diagram .msg.replay line{stroke:#b83280}
.sf-diagram .msg.hl line,.sf-diagram .msg.hl path{stroke:${PALETTE.hl};stroke-width:2.4;stroke-dasharray:none}
.sf-diagram .msg text{font-size:10px;text-anchor:middle;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
.sf-diagram .msg.ack text{fill:${PALETTE.muted}}
.sf-diagram .msg.retx text{fill:#9c6210}
.sf-diagram .msg.hl text{fill:${PALETTE.hl};font-weight:600}
.sf-diagram .msg .why{font-size:9.5px;font-style:italic;fill:#4a5568;text-anchor:start}
.sf-diagram .msg.stub text{fill:${PALETTE.muted}}
.sf-diagram .xmark{stroke:${PALETTE.drop};stroke-width:2;stroke-linecap:round}
.sf-diagram .msg.hl .xmark{stroke:${PALETTE.hl}}
.sf-diagram .bolt{fill:${PALETTE.bolt};stroke:#9a6f00;stroke-width:.7}
.sf-diagram .ev.deliver{fill:${PALETTE.deliver};stroke:#fff;stroke-width:1.2}
.sf-diagram .ev.command{fill:#fff;stroke:${PALETTE.data};stroke-width:1.5}
.sf-diagram .ev.command.rejected{stroke:${PALETTE.faint};stroke-dasharray:2 2}
.sf-diagram .ev.persist{fill:#e2e8f0;stroke:${PALETTE.persist};stroke-width:1}
.sf-diagram .ev.timer{stroke:${PALETTE.timer};stroke-width:2;stroke-linecap:round}
.sf-diagram .ev.crash line{stroke:${PALETTE.crash};stroke-width:3;stroke-linecap:round}
.sf-diagram .ev.crash text{font-size:10.5px;font-weight:700;fill:${PALETTE.crash}}
.sf-diagram .ev.recover circle{fill:#fff;stroke:${PALETTE.recover};stroke-width:2.2}
.sf-diagram .ev.recover text{font-size:10.5px;font-weight:600;fill:${PALETTE.recover}}
.sf-diagram .ev.hl{stroke:${PALETTE.hl}}
.sf-diagram .ev.deliver.hl,.sf-diagram .ev.persist.hl{fill:${PALETTE.hl};stroke:#fff}
.sf-diagram .ev.command.hl{fill:${PALETTE.hlFill};stroke:${PALETTE.hl};stroke-width:2}
.sf-diagram .ev.crash.hl line{stroke:${PALETTE.hl}}
.sf-diagram .hl-ring{fill:none;stroke:${PALETTE.hl};stroke-width:1.8}
.sf-diagram .hl-lead{stroke:${PALETTE.hl};stroke-width:1;stroke-dasharray:3 3;stroke-opacity:.8}
.sf-diagram .violation-label rect{fill:${PALETTE.hlFill};stroke:${PALETTE.hl};stroke-width:1.5}
.sf-diagram .violation-label .prop{font-size:13px;font-weight:700;fill:${PALETTE.hl}}
.sf-diagram .violation-label .vmsg{font-size:10.5px;fill:#742a2a}
.sf-diagram .empty{font-size:13px;fill:${PALETTE.muted}}
`;

// ------------------------------------------------------------------------------ helpers

/** Escapes text for SVG/HTML text content and attribute values. */
const NEEDS_ESCAPE = /[&<>"']/;

export function esc(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  return s.replace(/[&<>"']/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;',
  );
}

/** A coordinate with at most one decimal. */
function n(v: number): string {
  return String(Math.round(v * 10) / 10);
}

/** Rough width of a text in px at a font size (average sans-serif glyph ≈ 0.56 em). */
export function textWidth(s: string, size: number): number {
  return s.length * size * 0.56;
}

/** The smallest 1, 2 or 5 × 10^k at least `minMs`: a tick step. */
export function niceStep(minMs: number): number {
  const steps = [1, 2, 5];
  let mag = 1;
  while (mag * 10 < minMs) mag *= 10;
  while (mag > minMs && mag > 0.001) mag /= 10;
  for (;;) {
    for (const s of steps) if (s * mag >= minMs) return s * mag;
    mag *= 10;
  }
}

/** `12.5 ms`, or seconds from 10 s on. */
export function formatMs(t: number): string {
  if (Math.abs(t) >= 10_000) return `${n(t / 1000)} s`;
  return `${n(t)} ms`;
}

/** A gap of idle time compressed on the time axis. */
interface Break {
  readonly t0: number;
  readonly t1: number;
  readonly y0: number;
  readonly y1: number;
}

/** Piecewise-linear time → y: slope `ppm` everywhere except inside collapsed gaps. */
class TimeScale {
  /** Pixels saved by the breaks before each break, cumulated. */
  private readonly saved: number[] = [];

  constructor(
    readonly t0: number,
    readonly y0: number,
    readonly ppm: number,
    readonly breaks: readonly Break[],
  ) {
    let s = 0;
    for (const b of breaks) {
      this.saved.push(s);
      s += (b.t1 - b.t0) * ppm - (b.y1 - b.y0);
    }
    this.saved.push(s);
  }

  y(t: number): number {
    const bs = this.breaks;
    // The last break starting at or before t.
    let lo = 0;
    let hi = bs.length - 1;
    let k = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((bs[mid] as Break).t0 <= t) {
        k = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (k >= 0) {
      const b = bs[k] as Break;
      if (t < b.t1) return b.y0 + ((t - b.t0) / (b.t1 - b.t0)) * (b.y1 - b.y0);
      return this.y0 + (t - this.t0) * this.ppm - (this.saved[k + 1] as number);
    }
    return this.y0 + (t - this.t0) * this.ppm;
  }
}

/** Where a message copy's arrow goes: from (x1,y1) toward (x2,y2), drawn up to fraction f. */
interface ArrowGeom {
  readonly x1: number;
  readonly y1: number;
  readonly x2: number;
  readonly y2: number;
  readonly f: number;
}

function pointAt(g: ArrowGeom, at: number): [number, number] {
  return [g.x1 + (g.x2 - g.x1) * at, g.y1 + (g.y2 - g.y1) * at];
}

/** Text angle along an arrow, kept upright. */
function angleOf(g: ArrowGeom): number {
  const dx = g.x2 - g.x1;
  const dy = g.y2 - g.y1;
  let a = (Math.atan2(dy, dx) * 180) / Math.PI;
  if (dx < 0) a += 180;
  return Math.round(a * 10) / 10;
}

/**
 * Places message labels without overlaps: each label tries a few positions along its arrow (the
 * middle of each lane gap it crosses, nearest the receiver first, then shifted ones) and takes
 * the first whose box is free; a label that fits nowhere is left out (the tooltip keeps it).
 */
class LabelPlacer {
  private readonly buckets = new Map<number, [number, number, number, number][]>();
  private static readonly B = 24;

  occupy(cx: number, cy: number, w: number, h: number): void {
    const box: [number, number, number, number] = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
    for (let b = Math.floor(box[1] / LabelPlacer.B); b <= Math.floor(box[3] / LabelPlacer.B); b++) {
      const l = this.buckets.get(b);
      if (l === undefined) this.buckets.set(b, [box]);
      else l.push(box);
    }
  }

  constructor(private readonly lanes: readonly number[] = []) {}

  /** Occupies the box if it is free; says whether it did. */
  tryOccupy(cx: number, cy: number, w: number, h: number): boolean {
    if (!this.free(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)) return false;
    this.occupy(cx, cy, w, h);
    return true;
  }

  private free(x0: number, y0: number, x1: number, y1: number): boolean {
    for (let b = Math.floor(y0 / LabelPlacer.B); b <= Math.floor(y1 / LabelPlacer.B); b++) {
      for (const o of this.buckets.get(b) ?? []) {
        if (x0 < o[2] && o[0] < x1 && y0 < o[3] && o[1] < y1) return false;
      }
    }
    return true;
  }

  /** The fraction along `g` where `text` goes, or undefined if it fits nowhere below `maxAt`. */
  place(
    g: ArrowGeom,
    text: string,
    gaps: number,
    maxAt: number,
    angleDeg: number,
  ): number | undefined {
    const w = textWidth(text, 10) + 4;
    const rad = (angleDeg * Math.PI) / 180;
    const bw = Math.abs(w * Math.cos(rad)) + Math.abs(12 * Math.sin(rad));
    const bh = Math.abs(w * Math.sin(rad)) + Math.abs(12 * Math.cos(rad));
    const tries: number[] = [];
    for (let j = 0; j < gaps; j++) tries.push((gaps - j - 0.5) / gaps);
    for (const d of [-0.18, 0.18, -0.3, 0.3]) tries.push((gaps - 0.5 + d) / gaps);
    for (let j = 0; j < gaps; j++) tries.push((gaps - j - 0.75) / gaps, (gaps - j - 0.25) / gaps);
    for (const at0 of tries) {
      const at = Math.min(at0, maxAt * 0.85);
      if (at <= 0.05) continue;
      const [px, py] = pointAt(g, at);
      // The text sits 4 px above the arrow (perpendicular), centred on the point.
      const cx = px + 4 * Math.sin(rad);
      const cy = py - 4 * Math.cos(rad);
      const x0 = cx - bw / 2;
      const y0 = cy - bh / 2;
      if (this.lanes.some((lx) => lx > x0 - 3 && lx < x0 + bw + 3)) continue;
      if (this.free(x0, y0, x0 + bw, y0 + bh)) {
        this.occupy(cx, cy, bw, bh);
        return at;
      }
    }
    return undefined;
  }
}

interface Anchor {
  readonly node: NodeId;
  readonly dx: number;
  readonly y: number;
  readonly index: number;
}

/** What the legend shows (only what the diagram uses). */
interface Used {
  data: boolean;
  ack: boolean;
  retx: boolean;
  dup: boolean;
  drop: boolean;
  corrupt: boolean;
  deliver: boolean;
  command: boolean;
  persist: boolean;
  timer: boolean;
  crash: boolean;
  recover: boolean;
  partition: boolean;
  idle: boolean;
  hl: boolean;
}

// ------------------------------------------------------------------------------ rendering

/** Renders a trace as a space-time diagram (see the module comment). */
export function renderSvg(trace: readonly TraceEvent[], opts: DiagramOptions = {}): string {
  const model = buildModel(trace, opts.identity);
  return renderModel(trace, model, opts);
}

/** `renderSvg` for a model already built from `trace` (saves a pass when the caller has one). */
export function renderModel(
  trace: readonly TraceEvent[],
  model: TraceModel,
  opts: DiagramOptions = {},
): string {
  const P = opts.idPrefix ?? 'sf';
  const lanes: NodeId[] = opts.nodes !== undefined ? [...opts.nodes] : [...model.nodes];
  const laneIdx = new Map<NodeId, number>();
  lanes.forEach((l, i) => laneIdx.set(l, i));
  const wFrom = opts.window?.from ?? Number.NEGATIVE_INFINITY;
  const wTo = opts.window?.to ?? Number.POSITIVE_INFINITY;
  const inWin = (t: number): boolean => t >= wFrom && t <= wTo;
  const tooltips =
    opts.tooltips === 'auto' || opts.tooltips === undefined
      ? trace.length <= 20_000
      : opts.tooltips;
  const hlSet = new Set(opts.highlight?.indices ?? []);
  const idFilter = opts.messages === undefined ? undefined : new Set(opts.messages);

  // ---- which messages are drawn
  const drawn: Message[] = [];
  for (const m of model.messages) {
    if (idFilter !== undefined && !idFilter.has(m.id)) continue;
    if (opts.messageFilter !== undefined && !opts.messageFilter(m)) continue;
    if (!laneIdx.has(m.from) && !laneIdx.has(m.to)) continue;
    let any = inWin(m.t);
    if (!any)
      for (const c of m.copies) if (c.fate.kind !== 'in-flight' && inWin(c.fate.t)) any = true;
    if (any) drawn.push(m);
  }

  // ---- the time scale
  const flights: number[] = [];
  for (const m of drawn)
    for (const c of m.copies) if (c.fate.kind === 'receive') flights.push(c.fate.t - m.t);
  const medFlight = Math.max(1, median(flights) ?? 5);
  const ppm = opts.pxPerMs ?? Math.min(12, Math.max(0.02, 28 / medFlight));
  const collapseMs =
    opts.collapseIdleMs === false
      ? Number.POSITIVE_INFINITY
      : (opts.collapseIdleMs ?? Math.max(24, 4 * medFlight));

  const times: number[] = [];
  for (const m of drawn) {
    if (inWin(m.t)) times.push(m.t);
    for (const c of m.copies)
      if (c.fate.kind !== 'in-flight' && inWin(c.fate.t)) times.push(c.fate.t);
  }
  const visibleNodeEvent = (e: TraceEvent): boolean => {
    switch (e.type) {
      case 'start':
      case 'command':
      case 'deliver':
      case 'timer':
      case 'persist':
      case 'crash':
      case 'recover':
        return laneIdx.has(e.node) && inWin(e.t);
      case 'partition':
      case 'note':
      case 'network':
        return inWin(e.t);
      default:
        return false;
    }
  };
  for (const e of trace) if (visibleNodeEvent(e)) times.push(e.t);
  if (Number.isFinite(wFrom)) times.push(wFrom);
  if (Number.isFinite(wTo)) times.push(wTo);
  times.sort((a, b) => a - b);
  const tMin = times[0] ?? 0;
  const tMax = times[times.length - 1] ?? 0;

  // ---- horizontal layout
  const nl = lanes.length;
  const laneW = opts.laneWidth ?? Math.max(44, Math.min(220, Math.floor(760 / Math.max(1, nl))));
  const left = AXIS_W;
  const hasHl = opts.highlight !== undefined;
  const right = hasHl ? HL_BOX_W + 40 : 28;
  const width = Math.max(left + nl * laneW + right, 600);
  const laneX = (node: NodeId): number => left + ((laneIdx.get(node) ?? 0) + 0.5) * laneW;

  // ---- top matter (title, legend, lane heads); its height decides where the body starts
  const used: Used = {
    data: false,
    ack: false,
    retx: false,
    dup: false,
    drop: false,
    corrupt: false,
    deliver: false,
    command: false,
    persist: false,
    timer: false,
    crash: false,
    recover: false,
    partition: false,
    idle: false,
    hl: hasHl,
  };

  // Breaks: computed before the top height is known, in body-relative y, shifted later.
  const rawBreaks: { t0: number; t1: number }[] = [];
  for (let i = 1; i < times.length; i++) {
    const a = times[i - 1] as number;
    const b = times[i] as number;
    if (b - a > collapseMs && (b - a) * ppm > COLLAPSED_PX + 14) rawBreaks.push({ t0: a, t1: b });
  }
  if (rawBreaks.length > 0) used.idle = true;

  // Message and node-event layers need the scale; the legend needs `used`, which they fill. So
  // the body is rendered with body-relative y (top = 0) and translated once the top is known.
  const breaks: Break[] = [];
  {
    let y = PAD_BODY;
    let prevT = tMin;
    for (const rb of rawBreaks) {
      y += (rb.t0 - prevT) * ppm;
      breaks.push({ t0: rb.t0, t1: rb.t1, y0: y, y1: y + COLLAPSED_PX });
      y += COLLAPSED_PX;
      prevT = rb.t1;
    }
  }
  const scale = new TimeScale(tMin, PAD_BODY, ppm, breaks);
  const Y = (t: number): number => scale.y(t);
  const bodyH = Y(tMax) + PAD_BODY + 8;
  const nominalPx = Math.max(14, medFlight * ppm);

  const labelsOn =
    opts.labels === 'all' || (opts.labels !== 'none' && drawn.length <= 600 && laneW >= 90);

  const anchors: Anchor[] = [];
  const out: string[] = [];

  // ---- partitions
  const bands: string[] = [];
  for (const p of model.partitions) {
    const from = Math.max(p.from, wFrom);
    const to = Math.min(p.to ?? tMax, wTo);
    if (to < from || from > tMax) continue;
    used.partition = true;
    const y0 = Y(from);
    const y1 = Math.max(Y(to), y0 + 4);
    const label = `partition  ${partitionLabel(p.blocked, lanes)}`;
    const hl = hlSet.has(p.index) ? ' hl' : '';
    bands.push(
      `<g class="partition-g${hl}" data-kind="partition" data-event-index="${p.index}">` +
        `<rect class="partition lanes-w" data-kind="partition" data-event-index="${p.index}" x="${left}" y="${n(y0)}" width="${n(nl * laneW)}" height="${n(y1 - y0)}">` +
        (tooltips ? `<title>${esc(describeEvent(trace[p.index] as TraceEvent))}</title>` : '') +
        `</rect>` +
        `<line class="partition-edge lanes-w" x1="${left}" x2="${n(left + nl * laneW)}" y1="${n(y0)}" y2="${n(y0)}"/>` +
        `<text class="partition-label" x="${left + 6}" y="${n(y0 + 12)}">${esc(label)}</text></g>`,
    );
  }

  // ---- grid and time axis
  const grid: string[] = [];
  const axis: string[] = [];
  {
    const step = niceStep(64 / ppm);
    const segs: [number, number][] = [];
    let s0 = tMin;
    for (const b of breaks) {
      segs.push([s0, b.t0]);
      s0 = b.t1;
    }
    segs.push([s0, tMax]);
    let lastY = Number.NEGATIVE_INFINITY;
    for (const [a, b] of segs) {
      const first = Math.ceil(a / step) * step;
      for (let t = first; t <= b + 1e-9; t += step) {
        const y = Y(t);
        if (y - lastY < 40) continue;
        lastY = y;
        grid.push(
          `<line class="grid lanes-w" x1="${left}" x2="${n(left + nl * laneW)}" y1="${n(y)}" y2="${n(y)}"/>`,
        );
        axis.push(`<text x="${left - 10}" y="${n(y + 3.5)}">${esc(formatMs(t))}</text>`);
      }
    }
    for (const b of breaks) {
      const mid = (b.y0 + b.y1) / 2;
      axis.push(
        `<text class="gap" x="${left - 10}" y="${n(mid + 3.5)}">⋯ ${esc(formatMs(b.t1 - b.t0))}</text>`,
      );
    }
  }

  // ---- idle breaks
  const idle: string[] = [];
  for (const b of breaks) {
    idle.push(
      `<g class="idle" data-kind="idle" data-t0="${b.t0}" data-t1="${b.t1}">` +
        `<rect class="full-w" x="0" y="${n(b.y0 + BREAK_INSET)}" width="${width}" height="${n(b.y1 - b.y0 - 2 * BREAK_INSET)}"/>` +
        `<line class="full-w" x1="0" x2="${width}" y1="${n(b.y0 + BREAK_INSET)}" y2="${n(b.y0 + BREAK_INSET)}"/>` +
        `<line class="full-w" x1="0" x2="${width}" y1="${n(b.y1 - BREAK_INSET)}" y2="${n(b.y1 - BREAK_INSET)}"/>` +
        (tooltips
          ? `<title>${esc(`no events for ${formatMs(b.t1 - b.t0)} (t=${b.t0}…${b.t1}): collapsed`)}</title>`
          : '') +
        `</g>`,
    );
  }

  // ---- lanes (lines; dashed while down)
  const laneLines = new Map<NodeId, string[]>();
  for (const l of lanes) laneLines.set(l, []);
  {
    const yTop = 4;
    const yBot = bodyH - 4;
    const downBy = new Map<NodeId, { y0: number; y1: number; index: number }[]>();
    for (const d of model.down) {
      if (!laneIdx.has(d.node)) continue;
      const from = Math.max(d.from, wFrom);
      const to = Math.min(d.to ?? Number.POSITIVE_INFINITY, wTo);
      if (to < from) continue;
      const y0 = Math.max(yTop, Y(from));
      const y1 = Number.isFinite(to) ? Math.min(yBot, Y(to)) : yBot;
      const l = downBy.get(d.node);
      const item = { y0, y1, index: d.crashIndex };
      if (l === undefined) downBy.set(d.node, [item]);
      else l.push(item);
    }
    for (const l of lanes) {
      const segs = laneLines.get(l) as string[];
      let y = yTop;
      for (const d of downBy.get(l) ?? []) {
        if (d.y0 > y)
          segs.push(`<line class="lane-line up" x1="0" x2="0" y1="${n(y)}" y2="${n(d.y0)}"/>`);
        segs.push(
          `<line class="lane-line down" data-event-index="${d.index}" x1="0" x2="0" y1="${n(d.y0)}" y2="${n(d.y1)}"/>`,
        );
        y = Math.max(y, d.y1);
      }
      if (y < yBot)
        segs.push(`<line class="lane-line up" x1="0" x2="0" y1="${n(y)}" y2="${n(yBot)}"/>`);
    }
  }

  // ---- messages
  const msgs: string[] = [];
  const labels = new LabelPlacer(lanes.map((l) => laneX(l)));
  const marker = (cls: string): string => `url(#${P}-m-${cls})`;
  const drawCopy = (m: Message, c: MessageCopy): void => {
    const fromIn = laneIdx.has(m.from);
    const toIn = laneIdx.has(m.to);
    const fate = c.fate;
    const events: number[] = [m.sendIndex];
    if (c.copy > 0 && m.duplicateIndex !== undefined) events.push(m.duplicateIndex);
    if (c.corruptIndex !== undefined) events.push(c.corruptIndex);
    if (fate.kind !== 'in-flight') events.push(fate.index);
    const primary = fate.kind === 'in-flight' ? m.sendIndex : fate.index;
    const isHl = hlSet.size > 0 && events.some((i) => hlSet.has(i));

    const cls: string[] = ['msg', m.kind === 'data' || m.kind === 'ack' ? m.kind : 'other'];
    if (m.kind !== 'data' && m.kind !== 'ack')
      cls.push(`k-${m.kind.replace(/[^A-Za-z0-9_-]/g, '')}`);
    if (m.retransmission > 0) cls.push('retx');
    if (c.copy > 0) cls.push('dup');
    if (c.corruptIndex !== undefined) cls.push('corrupt');
    if (fate.kind === 'drop') cls.push('drop', `drop-${fate.reason}`);
    if (fate.kind === 'in-flight') cls.push('inflight');
    if (m.claimedFrom !== undefined) cls.push('forged');
    if (m.replayOf !== undefined) cls.push('replay');
    if (isHl) cls.push('hl');
    const stub = !(fromIn && toIn);
    if (stub) cls.push('stub');
    if (m.from === m.to) cls.push('self');

    if (m.kind === 'ack') used.ack = true;
    else used.data = true;
    if (m.retransmission > 0) used.retx = true;
    if (c.copy > 0) used.dup = true;
    if (c.corruptIndex !== undefined) used.corrupt = true;
    if (fate.kind === 'drop') used.drop = true;

    const styleKey = isHl
      ? 'hl'
      : c.corruptIndex !== undefined
        ? 'corrupt'
        : c.copy > 0
          ? 'dup'
          : m.retransmission > 0
            ? 'retx'
            : m.kind === 'ack'
              ? 'ack'
              : 'data';

    const y1 = Y(m.t);
    let y2: number;
    let f: number;
    if (fate.kind === 'receive') {
      y2 = Y(fate.t);
      f = 1;
    } else if (fate.kind === 'drop') {
      if (
        fate.t === m.t &&
        (fate.reason === 'loss' || fate.reason === 'partition' || fate.reason === 'malformed')
      ) {
        y2 = y1 + nominalPx;
        f = SEND_DROP_F;
      } else {
        y2 = Y(fate.t);
        f = ARRIVAL_DROP_F;
      }
    } else {
      y2 = y1 + nominalPx;
      f = INFLIGHT_F;
    }

    let title = '';
    if (tooltips) {
      const parts = [
        `#${m.id}${c.copy > 0 ? ` copy ${c.copy}` : ''}  ${m.from} → ${m.to}  ${m.label}`,
        `sent t=${m.t}${m.retransmission > 0 ? ` (retransmission ${m.retransmission})` : ''}`,
      ];
      if (m.claimedFrom !== undefined) parts.push(`forged: claims to be from ${m.claimedFrom}`);
      if (m.replayOf !== undefined) parts.push(`replay of #${m.replayOf}`);
      if (c.corruptIndex !== undefined) parts.push('corrupted in flight (bits flipped)');
      if (fate.kind === 'receive') parts.push(`received t=${fate.t} (${fate.t - m.t} ms)`);
      else if (fate.kind === 'drop')
        parts.push(
          `dropped t=${fate.t}: ${fate.reason}${fate.detail === undefined ? '' : ` (${fate.detail})`}`,
        );
      else parts.push('still in flight at the end of the trace');
      parts.push(`trace events ${events.map((i) => `#${i}`).join(' ')}`);
      title = `<title>${esc(parts.join('\n'))}</title>`;
    }
    const common =
      `class="${cls.join(' ')}" data-id="${m.id}" data-copy="${c.copy}" data-event-index="${primary}" ` +
      `data-events="${events.join(' ')}" data-from="${esc(m.from)}" data-to="${esc(m.to)}" ` +
      `data-label="${esc(m.label)}"`;

    if (m.from === m.to || stub) {
      // Anchored to one lane: a loop for a self-send, a short stub toward a hidden lane.
      const anchor = fromIn ? m.from : m.to;
      const x = laneX(anchor);
      let body: string;
      if (m.from === m.to) {
        const yEnd = fate.kind === 'receive' ? y2 : y1 + nominalPx * f;
        body =
          `<path d="M0 ${n(y1)} C34 ${n(y1)} 34 ${n(yEnd)} 3 ${n(yEnd)}"${fate.kind === 'receive' ? ` marker-end="${marker(styleKey)}"` : ''}/>` +
          (labelsOn && c.copy === 0
            ? `<text x="38" y="${n((y1 + yEnd) / 2 + 3)}" style="text-anchor:start">${esc(m.label)}</text>`
            : '');
      } else if (fromIn) {
        body =
          `<line x1="0" y1="${n(y1)}" x2="26" y2="${n(y1 + 8)}" marker-end="${marker(styleKey)}"/>` +
          `<text class="why" x="30" y="${n(y1 + 12)}">to ${esc(m.to)}</text>`;
      } else {
        body =
          `<line x1="-26" y1="${n(y2 - 8)}" x2="-3" y2="${n(y2)}" marker-end="${marker(styleKey)}"/>` +
          `<text class="why" x="-60" y="${n(y2 - 9)}">from ${esc(m.from)}</text>`;
      }
      msgs.push(
        `<g ${common} data-anchor="${esc(anchor)}" transform="translate(${n(x)} 0)">${title}${body}</g>`,
      );
      if (isHl)
        anchors.push({ node: anchor, dx: 0, y: fate.kind === 'receive' ? y2 : y1, index: primary });
      return;
    }

    const g: ArrowGeom = { x1: laneX(m.from), y1, x2: laneX(m.to), y2, f };
    const [ex, ey] = pointAt(g, f);
    const parts: string[] = [];
    parts.push(
      `<line x1="${n(g.x1)}" y1="${n(y1)}" x2="${n(ex)}" y2="${n(ey)}"${fate.kind === 'receive' ? ` marker-end="${marker(styleKey)}"` : ''}/>`,
    );
    if (c.corruptIndex !== undefined) {
      const at = f * 0.58;
      const [bx, by] = pointAt(g, at);
      parts.push(
        `<use class="bolt" href="#${P}-bolt" data-g="${at}" transform="translate(${n(bx)} ${n(by)})"/>`,
      );
    }
    if (fate.kind === 'drop') {
      parts.push(
        `<use class="xmark" href="#${P}-x" data-g="${f}" transform="translate(${n(ex)} ${n(ey)})"/>`,
      );
      const why =
        fate.reason === 'loss' ? 'lost' : fate.reason === 'node-down' ? 'node down' : fate.reason;
      labels.occupy(ex, ey, 12, 12);
      const ww = textWidth(why, 9.5);
      for (const [ddx, ddy] of [
        [7, 13],
        [7, -7],
        [-7 - ww, 13],
      ] as const) {
        if (!labels.tryOccupy(ex + ddx + ww / 2, ey + ddy - 3.5, ww, 11)) continue;
        parts.push(
          `<text class="why" data-g="${f}" data-dx="${ddx}" data-dy="${ddy}" transform="translate(${n(ex + ddx)} ${n(ey + ddy)})">${esc(why)}</text>`,
        );
        break;
      }
    } else if (fate.kind === 'in-flight') {
      parts.push(
        `<text class="why" data-g="${f}" data-dx="6" data-dy="12" transform="translate(${n(ex + 6)} ${n(ey + 12)})">in flight</text>`,
      );
    }
    if (labelsOn) {
      const text =
        c.copy > 0
          ? `copy ${c.copy}`
          : m.retransmission > 0
            ? `${m.label} ↻${m.retransmission}`
            : m.label;
      const gaps = Math.max(1, Math.abs((laneIdx.get(m.to) ?? 0) - (laneIdx.get(m.from) ?? 0)));
      const a = angleOf(g);
      const at = labels.place(g, text, gaps, Math.min(1, f * 0.8), a);
      if (at !== undefined) {
        const [lx, ly] = pointAt(g, at);
        parts.push(
          `<text data-g="${Math.round(at * 1000) / 1000}" data-rot="1" y="-4" transform="translate(${n(lx)} ${n(ly)}) rotate(${a})"${c.copy > 0 ? ` style="fill:${PALETTE.dup}"` : ''}>${esc(text)}</text>`,
        );
      }
    }
    msgs.push(
      `<g ${common} data-y1="${n(y1)}" data-y2="${n(y2)}" data-f="${f}">${title}${parts.join('')}</g>`,
    );
    if (isHl) {
      if (hlSet.has(m.sendIndex)) anchors.push({ node: m.from, dx: 0, y: y1, index: m.sendIndex });
      if (fate.kind !== 'in-flight' && hlSet.has(fate.index)) {
        if (f === 1) anchors.push({ node: m.to, dx: 0, y: ey, index: fate.index });
        else anchors.push({ node: m.from, dx: ex - g.x1, y: ey, index: fate.index });
      }
    }
  };
  // Node glyphs and their captions take room before any label is placed.
  if (labelsOn)
    for (const e of trace) {
      if ((e.type === 'note' || e.type === 'network') && visibleNodeEvent(e)) {
        labels.occupy(left + 4 + 130, Y(e.t) + 14, 260, 26);
        continue;
      }
      if (!visibleNodeEvent(e) || !('node' in e)) continue;
      const x = laneX(e.node);
      const y = Y(e.t);
      if (e.type === 'crash' || e.type === 'recover') labels.occupy(x + 36, y, 90, 14);
      else if (e.type !== 'start') labels.occupy(x + 8, y, 44, 12);
    }
  for (const m of drawn) for (const c of m.copies) drawCopy(m, c);

  // ---- node events
  const nodeEvents = new Map<NodeId, string[]>();
  for (const l of lanes) nodeEvents.set(l, []);
  const crowd = new Map<number, number>();
  const KIND_CODE: Record<string, number> = { command: 0, deliver: 1, persist: 2, timer: 3 };
  const slot = (node: NodeId, kind: string, y: number): number => {
    const key =
      ((laneIdx.get(node) ?? 0) * 4 + (KIND_CODE[kind] ?? 0)) * 1_000_000_000 + Math.round(y / 4);
    const k = crowd.get(key) ?? 0;
    crowd.set(key, k + 1);
    return k;
  };
  const notes: string[] = [];
  const noteRows = new Map<number, number>();
  for (let i = 0; i < trace.length; i++) {
    const e = trace[i] as TraceEvent;
    if (!visibleNodeEvent(e)) continue;
    const hl = hlSet.has(i);
    const hc = hl ? ' hl' : '';
    const tip = tooltips ? `<title>${esc(`#${i} ${describeEvent(e)}`)}</title>` : '';
    const y = Y(e.t);
    switch (e.type) {
      case 'start':
        break; // drawn with the recover that precedes it (incarnation > 0) or not at all
      case 'command': {
        used.command = true;
        const dx = -slot(e.node, 'command', y) * 9;
        (nodeEvents.get(e.node) as string[]).push(
          `<use class="ev command${e.accepted ? '' : ' rejected'}${hc}" data-kind="command" data-event-index="${i}" href="#${P}-dia" x="${n(dx)}" y="${n(y)}">${tip}</use>`,
        );
        if (hl) anchors.push({ node: e.node, dx, y, index: i });
        break;
      }
      case 'deliver': {
        used.deliver = true;
        const k = slot(e.node, 'deliver', y);
        const dx = k === 0 ? 0 : (k % 2 === 1 ? 1 : -1) * Math.ceil(k / 2) * 8;
        (nodeEvents.get(e.node) as string[]).push(
          `<circle class="ev deliver${hc}" data-kind="deliver" data-event-index="${i}" cx="${n(dx)}" cy="${n(y)}" r="4.6">${tip}</circle>`,
        );
        if (hl) anchors.push({ node: e.node, dx, y, index: i });
        break;
      }
      case 'persist': {
        used.persist = true;
        const dx = 9 + slot(e.node, 'persist', y) * 7;
        (nodeEvents.get(e.node) as string[]).push(
          `<rect class="ev persist${hc}" data-kind="persist" data-event-index="${i}" x="${n(dx - 3)}" y="${n(y - 3)}" width="6" height="6">${tip}</rect>`,
        );
        if (hl) anchors.push({ node: e.node, dx, y, index: i });
        break;
      }
      case 'timer': {
        used.timer = true;
        const dx = -9 - slot(e.node, 'timer', y) * 3;
        (nodeEvents.get(e.node) as string[]).push(
          `<line class="ev timer${hc}" data-kind="timer" data-event-index="${i}" x1="${n(dx - 7)}" x2="${n(dx)}" y1="${n(y)}" y2="${n(y)}">${tip}</line>`,
        );
        if (hl) anchors.push({ node: e.node, dx: dx - 3, y, index: i });
        break;
      }
      case 'crash': {
        used.crash = true;
        const lost =
          e.after !== undefined && e.before !== undefined
            ? ` (after ${e.after}, before ${e.before})`
            : e.lostOutputs > 0
              ? ` (${e.lostOutputs} lost)`
              : '';
        (nodeEvents.get(e.node) as string[]).push(
          `<g class="ev crash${hc}" data-kind="crash" data-event-index="${i}">${tip}` +
            `<line x1="-6" y1="${n(y - 6)}" x2="6" y2="${n(y + 6)}"/><line x1="-6" y1="${n(y + 6)}" x2="6" y2="${n(y - 6)}"/>` +
            `<text x="10" y="${n(y + 4)}">crash${esc(lost)}</text></g>`,
        );
        if (hl) anchors.push({ node: e.node, dx: 0, y, index: i });
        break;
      }
      case 'recover': {
        used.recover = true;
        const restart = trace[i + 1];
        const extra =
          restart?.type === 'start' && restart.node === e.node
            ? `\n#${i + 1} ${describeEvent(restart)}`
            : '';
        const rtip = tooltips ? `<title>${esc(`#${i} ${describeEvent(e)}${extra}`)}</title>` : '';
        (nodeEvents.get(e.node) as string[]).push(
          `<g class="ev recover${hc}" data-kind="recover" data-event-index="${i}">${rtip}` +
            `<circle cx="0" cy="${n(y)}" r="5.5"/><text x="10" y="${n(y + 4)}">recover</text></g>`,
        );
        if (hl) anchors.push({ node: e.node, dx: 0, y, index: i });
        break;
      }
      case 'note':
      case 'network': {
        const text =
          e.type === 'note'
            ? e.text
            : `network${e.link === undefined ? '' : ` ${e.link[0]}→${e.link[1]}`}: ${faultsText(e.faults)}`;
        const key = Math.round(y);
        const row = noteRows.get(key) ?? 0;
        noteRows.set(key, row + 1);
        notes.push(
          `<g class="note" data-kind="${e.type}" data-event-index="${i}">${tip}` +
            (row === 0
              ? `<line class="lanes-w" x1="${left}" x2="${n(left + nl * laneW)}" y1="${n(y)}" y2="${n(y)}"/>`
              : '') +
            `<text x="${left + 4}" y="${n(y + 11 + row * 12)}">${esc(text)}</text></g>`,
        );
        break;
      }
      default:
        break;
    }
  }

  // ---- violation overlay
  const overlay: string[] = [];
  if (opts.highlight !== undefined) {
    const h = opts.highlight;
    const boxX = left + nl * laneW + 28;
    const lines = wrap(h.message ?? '', 38).slice(0, 5);
    const boxH = 26 + lines.length * 13 + 16;
    const firstY = anchors.length > 0 ? Math.min(...anchors.map((a) => a.y)) : PAD_BODY;
    const boxY = Math.max(4, firstY - 14);
    for (const a of anchors) {
      overlay.push(
        `<circle class="hl-ring" data-node="${esc(a.node)}" data-dx="${n(a.dx)}" data-index="${a.index}" cx="${n(laneX(a.node) + a.dx)}" cy="${n(a.y)}" r="9"/>`,
      );
      overlay.push(
        `<line class="hl-lead" data-node="${esc(a.node)}" data-dx="${n(a.dx)}" x1="${n(laneX(a.node) + a.dx + 9)}" y1="${n(a.y)}" x2="${n(boxX)}" y2="${n(boxY + 14)}"/>`,
      );
    }
    overlay.push(
      `<g class="violation-label" data-property="${esc(h.property)}" data-box-y="${n(boxY)}" transform="translate(${n(boxX)} ${n(boxY)})">` +
        `<rect x="0" y="0" rx="6" width="${HL_BOX_W}" height="${boxH}"/>` +
        `<text class="prop" x="12" y="19">✗ ${esc(h.property)}</text>` +
        lines
          .map((l, k) => `<text class="vmsg" x="12" y="${36 + k * 13}">${esc(l)}</text>`)
          .join('') +
        `<text class="vmsg" x="12" y="${boxH - 8}" style="fill:${PALETTE.muted}">${anchors.length} of ${h.indices.length} events drawn: trace ${esc(
          h.indices
            .slice(0, 6)
            .map((i) => `#${i}`)
            .join(' '),
        )}${h.indices.length > 6 ? ' …' : ''}</text>` +
        `</g>`,
    );
  }

  // ---- top matter: title, legend, lane heads
  const top: string[] = [];
  let ty = opts.title === undefined ? 10 : 34;
  let legendRight = 0;
  if (opts.title !== undefined)
    top.push(`<text class="title" x="16" y="24">${esc(opts.title)}</text>`);
  if (opts.legend !== false) {
    const items = legendItems(used, P);
    const maxW = width - 32;
    let x = 16;
    let row = 0;
    const lg: string[] = [];
    for (const it of items) {
      const w = 34 + textWidth(it.text, 11) + 18;
      if (x + w > maxW + 16 && x > 16) {
        row++;
        x = 16;
      }
      const cy = ty + 10 + row * 20;
      lg.push(
        `<g class="legend-item" data-item="${it.key}" transform="translate(${n(x)} ${n(cy)})">${it.glyph}<text x="34" y="4">${esc(it.text)}</text></g>`,
      );
      x += w;
      legendRight = Math.max(legendRight, x);
    }
    top.push(`<g class="legend">${lg.join('')}</g>`);
    ty += 20 * (row + 1) + 8;
  }
  const headY = ty + 4;
  const heads: string[] = [];
  for (const l of lanes) {
    const w = Math.min(laneW - 6, Math.max(34, textWidth(l, 12) + 18));
    heads.push(
      `<g class="head" data-node="${esc(l)}" data-hy="${n(headY)}" transform="translate(${n(laneX(l))} ${n(headY)})">` +
        `<rect x="${n(-w / 2)}" y="0" width="${n(w)}" height="22" rx="11"/>` +
        `<text y="15">${esc(l)}</text></g>`,
    );
  }
  const topH = headY + 30;
  const height = Math.ceil(topH + bodyH);

  const dataAttrs =
    `data-left="${left}" data-lane-width="${laneW}" data-right="${right}" data-min-width="${Math.ceil(Math.max(600, legendRight + 16))}" ` +
    `data-top="${n(topH)}" data-body-height="${n(bodyH)}" data-ppm="${ppm}" data-t0="${tMin}" ` +
    `data-t1="${tMax}" data-y0="${PAD_BODY}" ` +
    `data-breaks="${esc(JSON.stringify(breaks.map((b) => [b.t0, b.t1, n(b.y0), n(b.y1)])))}" ` +
    `data-nodes="${esc(JSON.stringify(lanes))}"`;

  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="sf-diagram" id="${esc(P)}-root" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${dataAttrs}>`,
  );
  out.push(`<style>${STYLE}</style>`);
  out.push(defs(P, width, bodyH));
  out.push(`<rect class="bg full-w" x="0" y="0" width="${width}" height="${height}" fill="#fff"/>`);
  out.push(`<g class="body" transform="translate(0 ${n(topH)})">`);
  const layer = (open: string, items: readonly string[]): void => {
    out.push(open);
    for (const it of items) out.push(it);
    out.push('</g>');
  };
  layer('<g class="bands">', bands);
  layer('<g class="grids">', grid);
  out.push('<g class="lanes">');
  for (const l of lanes)
    layer(
      `<g class="lane" data-node="${esc(l)}" transform="translate(${n(laneX(l))} 0)">`,
      laneLines.get(l) ?? [],
    );
  out.push('</g>');
  layer('<g class="idles">', idle);
  layer('<g class="axis">', axis);
  layer(`<g class="msgs" clip-path="url(#${P}-clip)">`, msgs);
  layer('<g class="notes">', notes);
  out.push('<g class="events">');
  for (const l of lanes)
    layer(
      `<g class="node-events" data-node="${esc(l)}" transform="translate(${n(laneX(l))} 0)">`,
      nodeEvents.get(l) ?? [],
    );
  out.push('</g>');
  out.push(`<g class="overlay">${overlay.join('')}</g>`);
  if (lanes.length === 0 || trace.length === 0)
    out.push(
      `<text class="empty" x="${left}" y="${PAD_BODY + 14}">empty trace: nothing to draw</text>`,
    );
  out.push(`</g>`);
  out.push(
    `<g class="top"><rect class="topbg full-w" x="0" y="0" width="${width}" height="${n(topH)}"/>${top.join('')}<g class="heads">${heads.join('')}</g></g>`,
  );
  out.push(`</svg>`);
  return out.join('\n');
}

function faultsText(f: unknown): string {
  if (typeof f !== 'object' || f === null) return String(f);
  const r = f as Record<string, unknown>;
  const parts: string[] = [];
  const p = (k: string, name: string): void => {
    const v = r[k];
    if (typeof v === 'number') parts.push(`${name} ${Math.round(v * 1000) / 10}%`);
  };
  p('lossProbability', 'loss');
  p('duplicateProbability', 'dup');
  p('corruptProbability', 'corrupt');
  return parts.length > 0 ? parts.join(' · ') : 'changed';
}

/** Greedy word wrap. */
function wrap(s: string, width: number): string[] {
  const words = s.split(/\s+/).filter((w) => w.length > 0);
  const lines: string[] = [];
  let cur = '';
  for (const w of words) {
    const piece = w.length > width ? `${w.slice(0, width - 1)}…` : w;
    if (cur.length === 0) cur = piece;
    else if (cur.length + 1 + piece.length <= width) cur += ` ${piece}`;
    else {
      lines.push(cur);
      cur = piece;
    }
  }
  if (cur.length > 0) lines.push(cur);
  return lines;
}

function defs(P: string, width: number, bodyH: number): string {
  const colors: Record<string, string> = {
    data: PALETTE.data,
    ack: PALETTE.ack,
    retx: PALETTE.retx,
    dup: PALETTE.dup,
    corrupt: PALETTE.corrupt,
    hl: PALETTE.hl,
  };
  const markers = Object.entries(colors)
    .map(
      ([k, c]) =>
        `<marker id="${P}-m-${k}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="${k === 'ack' ? 7 : 8.5}" markerHeight="${k === 'ack' ? 7 : 8.5}" markerUnits="userSpaceOnUse" orient="auto"><path d="M0 1 L10 5 L0 9 Z" fill="${c}"/></marker>`,
    )
    .join('');
  return (
    `<defs>${markers}` +
    `<path id="${P}-bolt" d="M1.5 -7 L-4 1 L-0.5 1 L-2 7 L4 -1.5 L0.5 -1.5 Z"/>` +
    `<path id="${P}-x" d="M-4.5 -4.5 L4.5 4.5 M-4.5 4.5 L4.5 -4.5"/>` +
    `<path id="${P}-dia" d="M0 -5 L5 0 L0 5 L-5 0 Z"/>` +
    `<clipPath id="${P}-clip"><rect class="full-w" x="0" y="0" width="${width}" height="${n(bodyH)}"/></clipPath>` +
    `</defs>`
  );
}

interface LegendItem {
  readonly key: string;
  readonly text: string;
  readonly glyph: string;
}

function legendItems(u: Used, P: string): LegendItem[] {
  const arrow = (cls: string, mk: string): string =>
    `<g class="msg ${cls}"><line x1="0" y1="-3" x2="26" y2="3" marker-end="url(#${P}-m-${mk})"/></g>`;
  const items: LegendItem[] = [];
  const add = (on: boolean, key: string, text: string, glyph: string): void => {
    if (on) items.push({ key, text, glyph });
  };
  add(true, 'data', 'message', arrow('data', 'data'));
  add(u.ack, 'ack', 'ack', arrow('ack', 'ack'));
  add(u.retx, 'retx', 'retransmission ↻n', arrow('data retx', 'retx'));
  add(u.dup, 'dup', 'network duplicate', arrow('data dup', 'dup'));
  add(
    u.drop,
    'drop',
    'dropped (reason)',
    `<g class="msg data drop"><line x1="0" y1="-3" x2="16" y2="1"/><use class="xmark" href="#${P}-x" transform="translate(17 1) scale(.8)"/></g>`,
  );
  add(
    u.corrupt,
    'corrupt',
    'corrupted frame',
    `<g class="msg data corrupt"><line x1="0" y1="-3" x2="26" y2="3"/><use class="bolt" href="#${P}-bolt" transform="translate(13 0) scale(.9)"/></g>`,
  );
  add(u.command, 'command', 'app send', `<use class="ev command" href="#${P}-dia" x="13" y="0"/>`);
  add(
    u.deliver,
    'deliver',
    'delivered to app',
    `<circle class="ev deliver" cx="13" cy="0" r="4.6"/>`,
  );
  add(
    u.persist,
    'persist',
    'persist',
    `<rect class="ev persist" x="10" y="-3" width="6" height="6"/>`,
  );
  add(u.timer, 'timer', 'timer', `<line class="ev timer" x1="9" x2="17" y1="0" y2="0"/>`);
  add(
    u.crash,
    'crash',
    'crash (lane dashed while down)',
    `<g class="ev crash"><line x1="8" y1="-5" x2="18" y2="5"/><line x1="8" y1="5" x2="18" y2="-5"/></g>`,
  );
  add(u.recover, 'recover', 'recover', `<g class="ev recover"><circle cx="13" cy="0" r="5"/></g>`);
  add(
    u.partition,
    'partition',
    'partition',
    `<rect class="partition" x="2" y="-6" width="24" height="12"/>`,
  );
  add(
    u.idle,
    'idle',
    'idle time collapsed',
    `<g class="idle"><rect x="2" y="-6" width="24" height="12"/><line x1="2" x2="26" y1="-6" y2="-6"/><line x1="2" x2="26" y1="6" y2="6"/></g>`,
  );
  add(u.hl, 'violation', 'violation', `<circle class="hl-ring" cx="13" cy="0" r="6.5"/>`);
  return items;
}
