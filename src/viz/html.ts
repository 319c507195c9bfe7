/**
 * Self-contained HTML reports: one run (`renderRunReport`) or a fault-tolerance matrix with its
 * counterexamples and scenarios (`renderMatrixReport`).
 *
 * Guarantees:
 * - One HTML document with everything inline (CSS, SVG diagrams and charts, one small script):
 *   no network fetch, no external file; it opens from `file://` offline. All text from traces
 *   and verdicts is escaped.
 * - The matrix colours each protocol × fault-model cell by its form of fault tolerance; clicking
 *   (or pressing Enter on) a cell short of masking shows its counterexample: seed, first violated
 *   property, verdicts, statistics and the space-time diagram with the violation in red.
 * - Every diagram comes with controls run by the page's script: zoom, a time window (ms), a node
 *   filter (lanes are hidden and the rest laid out again) and a message filter (wire id or label
 *   text). The script only reads the geometry the SVG carries (src/viz/svg.ts).
 * - Per-run statistics (src/viz/stats.ts) are drawn as small inline SVG charts.
 * - A key-value run whose history is not linearizable also shows, above its diagram, the failing
 *   key's history as a timeline (src/viz/timeline.ts) with its smallest failing sub-history in
 *   red.
 * Assumes: verdicts come from src/check (a violation lists trace indices); the matrix's cells
 * were judged on the same properties for every protocol.
 *
 * SIZE. Over 600 lines: one self-contained page, whose CSS and client-side script are templates
 * in this file.
 */

import type { TraceEvent } from '../core/trace.ts';
import { describeEvent, type Verdict } from '../check/verdict.ts';
import { buildModel } from './model.ts';
import { computeStats, type LatencySummary, type RunStats } from './stats.ts';
import { esc, PALETTE, renderModel, type DiagramHighlight, type DiagramOptions } from './svg.ts';
import { linearizabilityTimeline } from './timeline.ts';

/** Forms of fault tolerance: masking (safe and live), fail-safe (safe), non-masking (live), none. */
export type ToleranceForm = 'masking' | 'fail-safe' | 'non-masking' | 'none';

export interface Counterexample {
  readonly trace: readonly TraceEvent[];
  /** Trace indices of the events that show the violation (Violation.events[].index). */
  readonly indices: readonly number[];
  /** Every verdict of the counterexample run (shown with it), optional. */
  readonly verdicts?: readonly Verdict[];
}

export interface MatrixCell {
  readonly protocol: string;
  readonly faultModel: string;
  readonly form: ToleranceForm;
  /** Runs (seeds) judged. */
  readonly runs: number;
  /** Runs with a safety violation / with a liveness violation, when known. */
  readonly unsafeRuns?: number;
  readonly unliveRuns?: number;
  /** Runs with no safety / no liveness violation (default: runs − unsafeRuns / unliveRuns). */
  readonly safeRuns?: number;
  readonly liveRuns?: number;
  /**
   * Masking, but no fault of the column reached a judged property in any run: shown as
   * "vacuous" (nothing was tested), not as masking.
   */
  readonly vacuous?: boolean;
  /** One sentence: why the form follows from the configuration. Shown in the cell's detail. */
  readonly explanation?: string;
  /** For anything short of masking: the counterexample's seed. */
  readonly seed?: number;
  /** For anything short of masking: the first violated property (safety first). */
  readonly violated?: { readonly property: string; readonly message: string };
  readonly counterexample?: Counterexample;
}

/** A hand-written scenario shown under the matrix, with what it teaches. */
export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly explanation: string;
  readonly trace: readonly TraceEvent[];
  readonly verdicts: readonly Verdict[];
}

export interface MatrixReport {
  readonly title?: string;
  readonly subtitle?: string;
  /** Row order. */
  readonly protocols: readonly string[];
  /** Column order. */
  readonly faultModels: readonly string[];
  readonly cells: readonly MatrixCell[];
  /** Further tables of plain text (escaped here), shown under the matrix, e.g. the CAP table. */
  readonly tables?: readonly ReportTable[];
  readonly scenarios?: readonly Scenario[];
}

export interface ReportTable {
  readonly title: string;
  /** Said above the table. */
  readonly caption: string;
  readonly head: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

function reportTable(t: ReportTable): string {
  const head = t.head.map((h) => `<th scope="col">${esc(h)}</th>`).join('');
  const rows = t.rows
    .map(
      (r) =>
        `<tr>${r.map((x, i) => (i === 0 ? `<th scope="row">${esc(x)}</th>` : `<td>${esc(x)}</td>`)).join('')}</tr>`,
    )
    .join('');
  return (
    `<section class="card report-table"><h2>${esc(t.title)}</h2><p class="hint">${esc(t.caption)}</p>` +
    `<div class="matrix-wrap"><table class="plain"><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table></div></section>`
  );
}

export interface RunReportInput {
  readonly title: string;
  readonly trace: readonly TraceEvent[];
  readonly verdicts: readonly Verdict[];
  /** Default: computed from the trace. */
  readonly stats?: RunStats;
  /** A line under the title (seed, stack, fault settings…). */
  readonly subtitle?: string;
  /** Options passed to the diagram (highlight defaults to the first violation). */
  readonly diagram?: DiagramOptions;
}

/** The form of fault tolerance of a safe/live pair. */
export function toleranceForm(safe: boolean, live: boolean): ToleranceForm {
  return safe ? (live ? 'masking' : 'fail-safe') : live ? 'non-masking' : 'none';
}

/** The first violated verdict: safety before liveness, else undefined. */
export function firstViolation(verdicts: readonly Verdict[]): Verdict | undefined {
  return verdicts.find((v) => !v.holds && v.kind === 'safety') ?? verdicts.find((v) => !v.holds);
}

/** The highlight of a verdict's violation, for `renderSvg`. */
export function highlightOf(v: Verdict): DiagramHighlight | undefined {
  if (v.violation === undefined) return undefined;
  return {
    property: v.property,
    indices: v.violation.events.map((e) => e.index),
    message: v.violation.message,
  };
}

/**
 * A matrix cell from the runs of one protocol under one fault model: safe iff every run is safe,
 * live iff every run is live; short of masking, the counterexample is the first run (in the
 * given order) that breaks the deciding property (a safety violation if any run is unsafe).
 * Only that run's trace is kept.
 */
export function cellFromRuns(
  protocol: string,
  faultModel: string,
  runs: readonly { seed: number; trace: readonly TraceEvent[]; verdicts: readonly Verdict[] }[],
): MatrixCell {
  let unsafeRuns = 0;
  let unliveRuns = 0;
  let unsafeRun: (typeof runs)[number] | undefined;
  let unliveRun: (typeof runs)[number] | undefined;
  for (const r of runs) {
    const unsafe = r.verdicts.some((v) => !v.holds && v.kind === 'safety');
    const unlive = r.verdicts.some((v) => !v.holds && v.kind === 'liveness');
    if (unsafe) {
      unsafeRuns++;
      unsafeRun ??= r;
    }
    if (unlive) {
      unliveRuns++;
      unliveRun ??= r;
    }
  }
  const form = toleranceForm(unsafeRuns === 0, unliveRuns === 0);
  const base = { protocol, faultModel, form, runs: runs.length, unsafeRuns, unliveRuns };
  const run = unsafeRun ?? unliveRun;
  if (run === undefined) return base;
  const v =
    unsafeRun !== undefined
      ? run.verdicts.find((x) => !x.holds && x.kind === 'safety')
      : run.verdicts.find((x) => !x.holds && x.kind === 'liveness');
  if (v === undefined) return base;
  return {
    ...base,
    seed: run.seed,
    violated: { property: v.property, message: v.violation?.message ?? '' },
    counterexample: {
      trace: run.trace,
      indices: v.violation?.events.map((e) => e.index) ?? [],
      verdicts: run.verdicts,
    },
  };
}

// ------------------------------------------------------------------------------ page pieces

/** What a cell shows: its form, or "vacuous" for a masking cell that no fault reached. */
type Shown = ToleranceForm | 'vacuous';

const VACUOUS_TEXT = 'masking, but no fault reached a judged property: nothing was tested';

function shownForm(cell: MatrixCell): Shown {
  return cell.form === 'masking' && cell.vacuous === true ? 'vacuous' : cell.form;
}

function shownText(f: Shown): string {
  return f === 'vacuous' ? VACUOUS_TEXT : FORM_TEXT[f];
}

const FORM_TEXT: Record<ToleranceForm, string> = {
  masking: 'safe and live: every fault is masked',
  'fail-safe': 'safe, not live: may stop, never lies',
  'non-masking': 'live, not safe: keeps going, may break safety',
  none: 'neither safe nor live',
};

const CSS = `
:root{--ink:#2d3748;--muted:#718096;--line:#e2e8f0;--bg:#f7f8fa;--card:#fff;
--mask-bg:#e3f4ea;--mask-b:#9fd3b4;--mask-t:#22633f;--fs-bg:#e4eefb;--fs-b:#a9c5ec;--fs-t:#2a4f86;
--nm-bg:#fdf0d9;--nm-b:#f0c986;--nm-t:#8a5a0b;--none-bg:#fbe4e4;--none-b:#eeb0b0;--none-t:#9b2c2c;
--vac-bg:#eef0f3;--vac-b:#a0aec0;--vac-t:#4a5568;--red:${PALETTE.hl}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 'Inter','Segoe UI',system-ui,-apple-system,'Helvetica Neue',Arial,'Liberation Sans','DejaVu Sans',sans-serif}
header{padding:22px 32px 14px;background:#fff;border-bottom:1px solid var(--line)}
h1{font-size:22px;margin:0 0 2px;font-weight:650;letter-spacing:-.01em}
h2{font-size:17px;margin:0 0 12px;font-weight:650}
h3{font-size:15px;margin:0 0 6px;font-weight:650}
.sub{color:var(--muted);margin:0}
main{padding:20px 32px 40px;max-width:1500px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 20px;margin:0 0 20px;box-shadow:0 1px 2px rgba(0,0,0,.03)}
.forms{display:flex;flex-wrap:wrap;gap:10px 18px;margin:0 0 14px;color:var(--muted);font-size:12.5px}
.forms span{display:inline-flex;align-items:center;gap:6px}
.sw{display:inline-block;width:14px;height:14px;border-radius:4px;border:1px solid}
.matrix-wrap{overflow-x:auto}
table.matrix{border-collapse:separate;border-spacing:4px;table-layout:fixed;width:100%;min-width:720px}
table.matrix th{font-weight:600;font-size:13px;text-align:left;padding:4px 6px;color:#4a5568}
table.matrix tbody th{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
table.matrix thead th{text-align:center;vertical-align:bottom;font-size:12px;line-height:1.3}
table.plain{border-collapse:collapse;font-size:13px}
table.plain th,table.plain td{text-align:left;padding:5px 12px;border-bottom:1px solid #e2e8f0;vertical-align:top}
table.plain thead th{color:#4a5568;font-weight:600}
table.plain tbody th{font-family:ui-monospace,monospace;font-weight:600;white-space:nowrap}
td.cell{padding:5px 6px;border-radius:8px;border:1px solid;vertical-align:top;overflow-wrap:anywhere;transition:box-shadow .12s,transform .12s}
td.cell .form{font-weight:650;font-size:12.5px;white-space:nowrap}
td.cell .meta{font-size:11px;line-height:1.35;opacity:.85}
td.cell .prop{font-size:10.5px;line-height:1.35;font-family:ui-monospace,'DejaVu Sans Mono',monospace}
.f-masking{background:var(--mask-bg);border-color:var(--mask-b);color:var(--mask-t)}
.f-fail-safe{background:var(--fs-bg);border-color:var(--fs-b);color:var(--fs-t)}
.f-non-masking{background:var(--nm-bg);border-color:var(--nm-b);color:var(--nm-t)}
.f-none{background:var(--none-bg);border-color:var(--none-b);color:var(--none-t)}
.f-vacuous{background:var(--vac-bg);border-color:var(--vac-b);color:var(--vac-t);border-style:dashed}
td.cell.clickable{cursor:pointer}
td.cell.clickable:hover,td.cell.clickable:focus{box-shadow:0 0 0 3px rgba(66,153,225,.35);outline:none}
td.cell.selected{box-shadow:0 0 0 3px #4a5568}
.hint{color:var(--muted);font-size:12.5px;margin:8px 0 0}
.badge{display:inline-block;padding:1px 9px;border-radius:999px;font-size:12px;font-weight:600;border:1px solid}
.verdicts{list-style:none;padding:0;margin:8px 0 12px}
.verdicts li{padding:3px 0}
.verdicts .ok{color:var(--mask-t);font-weight:700}
.verdicts .ko{color:var(--red);font-weight:700}
.verdicts .k{color:var(--muted);font-size:12px}
.verdicts .msg{color:#742a2a}
.verdicts details{margin:2px 0 0 22px;font-size:12px;color:#4a5568}
.verdicts pre{margin:4px 0;white-space:pre-wrap;font:11.5px/1.45 ui-monospace,'DejaVu Sans Mono',monospace}
.grid2{display:flex;flex-wrap:wrap;gap:18px 28px;align-items:flex-start}
.chart h4{margin:0 0 4px;font-size:12.5px;color:#4a5568;font-weight:600}
.chart .note{font-size:11.5px;color:var(--muted);margin:2px 0 0}
.viewer{margin-top:10px;border:1px solid var(--line);border-radius:8px;background:#fff}
.toolbar{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:center;padding:8px 10px;border-bottom:1px solid var(--line);background:#fafbfc;border-radius:8px 8px 0 0;font-size:12.5px;color:#4a5568}
.toolbar .grp{display:inline-flex;gap:5px;align-items:center}
.toolbar button{font:inherit;padding:2px 9px;border:1px solid #cbd5e0;background:#fff;border-radius:6px;cursor:pointer;color:var(--ink)}
.toolbar button:hover{background:#edf2f7}
.toolbar input[type=number]{width:78px}
.toolbar input[type=text]{width:150px}
.toolbar input{font:inherit;padding:2px 6px;border:1px solid #cbd5e0;border-radius:6px}
.toolbar .chip{display:inline-flex;align-items:center;gap:3px;padding:1px 7px 1px 4px;border:1px solid #cbd5e0;border-radius:999px;background:#fff;cursor:pointer}
.toolbar .zoomv{min-width:44px;text-align:center}
.canvas{overflow:auto;max-height:75vh}
.canvas svg{display:block}
.timeline{margin:10px 0 4px;border:1px solid var(--line);border-radius:8px;background:#fff;overflow:auto;max-height:75vh}
.timeline svg{display:block}
.kv.timeline-caption{margin-top:14px}
.cx-head{display:flex;flex-wrap:wrap;gap:10px;align-items:baseline;margin-bottom:6px}
.kv{color:#4a5568;font-size:13px;margin:0 0 4px}
.kv b{color:var(--ink)}
.scenario p{margin:4px 0}
.explain{background:#f7fafc;border-left:3px solid #a0aec0;padding:6px 10px;border-radius:0 6px 6px 0}
footer{color:var(--muted);font-size:12px;padding:0 32px 30px}
[hidden]{display:none!important}
`;

const SCRIPT = `
(function () {
  'use strict';
  function num(el, k) { return parseFloat(el.getAttribute(k)); }
  function setAttrs(el, o) { for (var k in o) el.setAttribute(k, String(Math.round(o[k] * 10) / 10)); }
  function initViewer(root) {
    var svg = root.querySelector('svg.sf-diagram');
    if (!svg || svg.__sf) return;
    svg.__sf = true;
    var canvas = root.querySelector('.canvas');
    var H0 = num(svg, 'height');
    var left = num(svg, 'data-left'), laneW = num(svg, 'data-lane-width');
    var right = num(svg, 'data-right'), minW = num(svg, 'data-min-width');
    var top = num(svg, 'data-top'), bodyH = num(svg, 'data-body-height');
    var ppm = num(svg, 'data-ppm'), t0 = num(svg, 'data-t0'), y0 = num(svg, 'data-y0');
    var breaks = JSON.parse(svg.getAttribute('data-breaks')).map(function (b) { return b.map(Number); });
    var allNodes = JSON.parse(svg.getAttribute('data-nodes'));
    var st = { zoom: 1, from: null, to: null, nodes: null, msg: '' };
    function tToY(t) {
      var saved = 0;
      for (var i = 0; i < breaks.length; i++) {
        var b = breaks[i];
        if (t < b[0]) break;
        if (t < b[1]) return b[2] + ((t - b[0]) / (b[1] - b[0])) * (b[3] - b[2]);
        saved += (b[1] - b[0]) * ppm - (b[3] - b[2]);
      }
      return y0 + (t - t0) * ppm - saved;
    }
    function each(sel, f) { Array.prototype.forEach.call(svg.querySelectorAll(sel), f); }
    function layout() {
      var vis = st.nodes ? allNodes.filter(function (n) { return st.nodes.has(n); }) : allNodes;
      var X = {};
      vis.forEach(function (n, i) { X[n] = left + (i + 0.5) * laneW; });
      var lanesW = vis.length * laneW;
      var W = Math.max(left + lanesW + right, minW);
      each('g.lane, g.node-events', function (g) {
        var n = g.getAttribute('data-node');
        if (n in X) { g.style.display = ''; g.setAttribute('transform', 'translate(' + X[n] + ' 0)'); }
        else g.style.display = 'none';
      });
      each('g.head', function (g) {
        var n = g.getAttribute('data-node');
        if (n in X) { g.style.display = ''; g.setAttribute('transform', 'translate(' + X[n] + ' ' + g.getAttribute('data-hy') + ')'); }
        else g.style.display = 'none';
      });
      var q = st.msg.trim().toLowerCase();
      var qid = /^#\\d+$/.test(q) ? q.slice(1) : null;
      each('g.msg', function (g) {
        if (!g.hasAttribute('data-id')) return;
        var from = g.getAttribute('data-from'), to = g.getAttribute('data-to');
        var anchor = g.getAttribute('data-anchor');
        var show = anchor !== null ? (anchor in X) : (from in X && to in X);
        if (show && q !== '') {
          show = qid !== null ? g.getAttribute('data-id') === qid : g.getAttribute('data-label').toLowerCase().indexOf(q) >= 0;
        }
        g.style.display = show ? '' : 'none';
        if (!show) return;
        if (anchor !== null) { g.setAttribute('transform', 'translate(' + X[anchor] + ' 0)'); return; }
        var x1 = X[from], x2 = X[to];
        var y1 = num(g, 'data-y1'), y2 = num(g, 'data-y2'), f = num(g, 'data-f');
        var line = g.querySelector('line');
        setAttrs(line, { x1: x1, x2: x1 + (x2 - x1) * f });
        var dx = x2 - x1, dy = y2 - y1;
        var a = Math.atan2(dy, dx) * 180 / Math.PI;
        if (dx < 0) a += 180;
        Array.prototype.forEach.call(g.querySelectorAll('[data-g]'), function (el) {
          var at = num(el, 'data-g');
          var px = x1 + dx * at, py = y1 + dy * at;
          if (el.hasAttribute('data-rot')) {
            el.setAttribute('transform', 'translate(' + px.toFixed(1) + ' ' + py.toFixed(1) + ') rotate(' + a.toFixed(1) + ')');
          } else {
            var ox = parseFloat(el.getAttribute('data-dx') || '0'), oy = parseFloat(el.getAttribute('data-dy') || '0');
            el.setAttribute('transform', 'translate(' + (px + ox).toFixed(1) + ' ' + (py + oy).toFixed(1) + ')');
          }
        });
      });
      each('.lanes-w', function (el) {
        if (el.tagName === 'rect') el.setAttribute('width', lanesW); else el.setAttribute('x2', left + lanesW);
      });
      each('.full-w', function (el) {
        if (el.tagName === 'rect') el.setAttribute('width', W); else el.setAttribute('x2', W);
      });
      var boxX = left + lanesW + 28;
      each('.violation-label', function (g) {
        g.setAttribute('transform', 'translate(' + boxX + ' ' + g.getAttribute('data-box-y') + ')');
      });
      each('.overlay .hl-ring, .overlay .hl-lead', function (el) {
        var n = el.getAttribute('data-node');
        if (!(n in X)) { el.style.display = 'none'; return; }
        el.style.display = '';
        var x = X[n] + parseFloat(el.getAttribute('data-dx'));
        if (el.tagName === 'circle') el.setAttribute('cx', x);
        else { el.setAttribute('x1', x + 9); el.setAttribute('x2', boxX); }
      });
      var vy = 0, h = H0;
      if (st.from !== null || st.to !== null) {
        var a0 = st.from !== null ? Math.max(0, tToY(st.from) - 10) : 0;
        var a1 = st.to !== null ? Math.min(bodyH, tToY(st.to) + 10) : bodyH;
        if (a1 < a0 + 20) a1 = a0 + 20;
        vy = a0;
        h = top + (a1 - a0);
      }
      svg.querySelector('g.top').setAttribute('transform', 'translate(0 ' + vy + ')');
      svg.setAttribute('viewBox', '0 ' + vy + ' ' + W + ' ' + h);
      svg.setAttribute('width', String(Math.round(W * st.zoom)));
      svg.setAttribute('height', String(Math.round(h * st.zoom)));
      var zv = root.querySelector('.zoomv');
      if (zv) zv.textContent = Math.round(st.zoom * 100) + '%';
      svg.setAttribute('data-visible-lanes', String(vis.length));
    }
    function input(role) { return root.querySelector('[data-role="' + role + '"]'); }
    function readNodes() {
      var boxes = root.querySelectorAll('input[data-node]');
      if (boxes.length > 0) {
        var s = new Set();
        Array.prototype.forEach.call(boxes, function (b) { if (b.checked) s.add(b.getAttribute('data-node')); });
        st.nodes = s.size === allNodes.length ? null : s;
        return;
      }
      var txt = input('nodes');
      var v = txt ? txt.value.trim() : '';
      st.nodes = v === '' ? null : new Set(v.split(/[\\s,]+/).filter(Boolean));
    }
    root.addEventListener('click', function (ev) {
      var b = ev.target.closest('button[data-act]');
      if (!b) return;
      var act = b.getAttribute('data-act');
      if (act === 'zoom-in') st.zoom = Math.min(8, st.zoom * 1.25);
      if (act === 'zoom-out') st.zoom = Math.max(0.05, st.zoom / 1.25);
      if (act === 'fit') {
        var vb = svg.viewBox.baseVal;
        st.zoom = Math.max(0.05, (canvas.clientWidth - 4) / vb.width);
      }
      if (act === 'window') {
        var f = input('from').value, t = input('to').value;
        st.from = f === '' ? null : Number(f);
        st.to = t === '' ? null : Number(t);
      }
      if (act === 'reset') {
        st.from = st.to = null; st.nodes = null; st.msg = ''; st.zoom = 1;
        Array.prototype.forEach.call(root.querySelectorAll('input'), function (i) {
          if (i.type === 'checkbox') i.checked = true; else i.value = '';
        });
      }
      if (act === 'nodes') readNodes();
      layout();
    });
    root.addEventListener('change', function (ev) {
      var el = ev.target;
      if (el.hasAttribute('data-node')) { readNodes(); layout(); }
    });
    root.addEventListener('input', function (ev) {
      if (ev.target.getAttribute('data-role') === 'msg') { st.msg = ev.target.value; layout(); }
    });
    root.addEventListener('keydown', function (ev) {
      if (ev.key !== 'Enter') return;
      var role = ev.target.getAttribute('data-role');
      if (role === 'from' || role === 'to') root.querySelector('button[data-act="window"]').click();
      if (role === 'nodes') { readNodes(); layout(); }
    });
    layout();
    // Bring the violation into view (again each time the viewer is shown).
    root.__sfReveal = function () {
      var ring = svg.querySelector('.overlay .hl-ring');
      if (ring && canvas) canvas.scrollTop = Math.max(0, (top + num(ring, 'cy')) * st.zoom - canvas.clientHeight / 2);
    };
    root.__sfReveal();
  }
  function initAll(scope) { Array.prototype.forEach.call(scope.querySelectorAll('.viewer'), initViewer); }
  var detail = document.getElementById('detail');
  var store = document.getElementById('cx-store');
  function openCell(td) {
    var id = td.getAttribute('data-cx');
    var cx = document.getElementById(id);
    if (!cx || !detail) return;
    Array.prototype.forEach.call(document.querySelectorAll('td.cell.selected'), function (c) { c.classList.remove('selected'); });
    td.classList.add('selected');
    Array.prototype.forEach.call(detail.querySelectorAll('.cx'), function (c) { store.appendChild(c); });
    detail.appendChild(cx);
    cx.hidden = false;
    detail.hidden = false;
    initAll(cx);
    detail.scrollIntoView({ block: 'start' });
    Array.prototype.forEach.call(cx.querySelectorAll('.viewer'), function (v) { if (v.__sfReveal) v.__sfReveal(); });
  }
  document.addEventListener('click', function (ev) {
    var td = ev.target.closest('td.cell.clickable');
    if (td) openCell(td);
  });
  document.addEventListener('keydown', function (ev) {
    var td = ev.target.closest && ev.target.closest('td.cell.clickable');
    if (td && (ev.key === 'Enter' || ev.key === ' ')) { ev.preventDefault(); openCell(td); }
  });
  initAll(document.querySelector('main') || document);
})();
`;

function page(title: string, body: string): string {
  return (
    `<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">\n` +
    `<title>${esc(title)}</title>\n<style>${CSS}</style>\n</head>\n<body>\n${body}\n` +
    `<footer>Generated by steadfast. Self-contained: open it anywhere, offline. Time flows downward in every space-time diagram, rightward in the linearizability timelines; hover an element for its trace events.</footer>\n` +
    `<script>${SCRIPT}</script>\n</body>\n</html>\n`
  );
}

function verdictList(verdicts: readonly Verdict[], trace: readonly TraceEvent[]): string {
  if (verdicts.length === 0) return '<p class="kv">No properties were checked.</p>';
  const items = verdicts.map((v) => {
    const head =
      `<span class="${v.holds ? 'ok' : 'ko'}">${v.holds ? '✓' : '✗'}</span> <b>${esc(v.property)}</b> ` +
      `<span class="k">${v.kind}, ${v.checked} checked</span>`;
    if (v.violation === undefined) return `<li class="verdict" data-holds="true">${head}</li>`;
    const evs = v.violation.events
      .slice(0, 12)
      .map(({ index }) => {
        const e = trace[index];
        return `#${index} ${e === undefined ? '(not in trace)' : describeEvent(e)}`;
      })
      .join('\n');
    const more = v.violation.events.length > 12 ? `\n… ${v.violation.events.length - 12} more` : '';
    return (
      `<li class="verdict" data-holds="false">${head}: <span class="msg">${esc(v.violation.message)}</span>` +
      `<details><summary>${v.violation.events.length} events</summary><pre>${esc(evs + more)}</pre></details></li>`
    );
  });
  return `<ul class="verdicts">${items.join('')}</ul>`;
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return '–';
  return Math.abs(x) >= 100 ? String(Math.round(x)) : String(Math.round(x * 10) / 10);
}

/** Horizontal bar chart of message counts. */
function countsChart(s: RunStats): string {
  const rows: [string, number, string][] = [
    ['sent', s.sent, PALETTE.data],
    ['retransmitted', s.retransmitted, PALETTE.retx],
    ['duplicated', s.duplicated, PALETTE.dup],
    ['dropped', s.dropped, PALETTE.drop],
    ['corrupted', s.corrupted, PALETTE.corrupt],
    ['received', s.received, '#718096'],
    ['delivered', s.delivered, PALETTE.deliver],
  ];
  const max = Math.max(1, ...rows.map((r) => r[1]));
  const W = 330;
  const labelW = 92;
  const barW = W - labelW - 44;
  const rowH = 19;
  const bars = rows
    .map(([name, v, color], i) => {
      const y = i * rowH + 4;
      const w = Math.max(v > 0 ? 2 : 0, (v / max) * barW);
      return (
        `<g class="bar" data-stat="${name}" data-value="${v}"><text x="${labelW - 8}" y="${y + 11}" text-anchor="end" font-size="11.5" fill="#4a5568">${name}</text>` +
        `<rect x="${labelW}" y="${y + 2}" width="${barW}" height="12" rx="3" fill="#f1f4f8"/>` +
        `<rect x="${labelW}" y="${y + 2}" width="${Math.round(w * 10) / 10}" height="12" rx="3" fill="${color}" fill-opacity=".85"/>` +
        `<text x="${labelW + Math.round(w) + 6}" y="${y + 12}" font-size="11" fill="#2d3748">${v}</text></g>`
      );
    })
    .join('');
  const reasons = Object.entries(s.dropReasons)
    .map(([r, c]) => `${r} ${String(c)}`)
    .join(' · ');
  return (
    `<div class="chart stats-counts"><h4>Messages (${s.commands} app sends, ${s.crashes} crashes, ${fmt(s.durationMs)} ms)</h4>` +
    `<svg width="${W}" height="${rows.length * rowH + 8}" viewBox="0 0 ${W} ${rows.length * rowH + 8}" font-family="inherit">${bars}</svg>` +
    (reasons === '' ? '' : `<p class="note">dropped: ${esc(reasons)}</p>`) +
    `</div>`
  );
}

/** Histogram of latencies with p50/p90/p99 markers. */
function latencyChart(title: string, l: LatencySummary | undefined, cls: string): string {
  if (l === undefined) {
    return `<div class="chart ${cls}"><h4>${esc(title)}</h4><p class="note">no samples</p></div>`;
  }
  const W = 330;
  const H = 96;
  const padL = 8;
  const padB = 20;
  const bins = 24;
  const lo = 0;
  const hi = Math.max(l.max, 1);
  const counts = new Array<number>(bins).fill(0);
  for (const x of l.samples) {
    const b = Math.min(bins - 1, Math.floor(((x - lo) / (hi - lo)) * bins));
    counts[b] = (counts[b] ?? 0) + 1;
  }
  const cmax = Math.max(1, ...counts);
  const bw = (W - padL * 2) / bins;
  const plotH = H - padB - 16;
  const X = (v: number): number => padL + ((v - lo) / (hi - lo)) * (W - padL * 2);
  const bars = counts
    .map((c, i) => {
      const h = (c / cmax) * plotH;
      return c === 0
        ? ''
        : `<rect x="${Math.round((padL + i * bw + 1) * 10) / 10}" y="${Math.round((16 + plotH - h) * 10) / 10}" width="${Math.round((bw - 2) * 10) / 10}" height="${Math.round(h * 10) / 10}" rx="1.5" fill="#90b4d8"/>`;
    })
    .join('');
  const marks = (
    [
      ['p50', l.p50, '#2b6cb0'],
      ['p90', l.p90, '#b7791f'],
      ['p99', l.p99, PALETTE.hl],
    ] as const
  )
    .map(([name, v, c], i) => {
      const x = Math.round(X(v) * 10) / 10;
      return (
        `<line x1="${x}" x2="${x}" y1="12" y2="${16 + plotH}" stroke="${c}" stroke-width="1.5" stroke-dasharray="3 2"/>` +
        `<text x="${x + 3}" y="${10 + (i % 2) * 0}" font-size="10" fill="${c}" ${x > W - 60 ? 'text-anchor="end"' : ''}>${name}</text>`
      );
    })
    .join('');
  const axis =
    `<line x1="${padL}" x2="${W - padL}" y1="${16 + plotH}" y2="${16 + plotH}" stroke="#cbd5e0"/>` +
    `<text x="${padL}" y="${H - 5}" font-size="10" fill="#718096">0</text>` +
    `<text x="${W - padL}" y="${H - 5}" font-size="10" fill="#718096" text-anchor="end">${fmt(hi)} ms</text>`;
  return (
    `<div class="chart ${cls}"><h4>${esc(title)}</h4>` +
    `<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="inherit">${bars}${axis}${marks}</svg>` +
    `<p class="note">p50 <b>${fmt(l.p50)}</b> · p90 <b>${fmt(l.p90)}</b> · p99 <b>${fmt(l.p99)}</b> · max ${fmt(l.max)} ms · n=${l.count}</p></div>`
  );
}

function statsBlock(s: RunStats): string {
  return (
    `<div class="grid2 stats">${countsChart(s)}` +
    latencyChart(
      'Delivery latency (app send → first delivery)',
      s.deliveryLatency,
      'stats-latency',
    ) +
    latencyChart('Network latency (wire send → receive)', s.networkLatency, 'stats-net') +
    `</div>`
  );
}

function viewer(svg: string, nodes: readonly string[]): string {
  const nodeCtl =
    nodes.length <= 24
      ? nodes
          .map(
            (n) =>
              `<label class="chip"><input type="checkbox" checked data-node="${esc(n)}">${esc(n)}</label>`,
          )
          .join('')
      : `<input type="text" data-role="nodes" placeholder="e.g. n1, n7, n42"><button data-act="nodes">show</button>`;
  return (
    `<div class="viewer">` +
    `<div class="toolbar">` +
    `<span class="grp"><button data-act="zoom-out" title="zoom out">−</button><span class="zoomv">100%</span><button data-act="zoom-in" title="zoom in">+</button><button data-act="fit">fit width</button></span>` +
    `<span class="grp">time <input type="number" data-role="from" placeholder="from"> – <input type="number" data-role="to" placeholder="to"> ms <button data-act="window">show window</button></span>` +
    `<span class="grp">nodes ${nodeCtl}</span>` +
    `<span class="grp"><input type="text" data-role="msg" placeholder="#wire-id or label text"></span>` +
    `<span class="grp"><button data-act="reset">reset</button></span>` +
    `</div><div class="canvas">${svg}</div></div>`
  );
}

/**
 * A key-value run's linearizability timeline with a one-line caption, when its history has no
 * linearization; '' otherwise. `verdicts`: the run's, when known (spares a second search).
 */
function timelineBlock(trace: readonly TraceEvent[], verdicts?: readonly Verdict[]): string {
  const t = linearizabilityTimeline(trace, verdicts === undefined ? {} : { verdicts });
  if (t === undefined) return '';
  const ops = t.omitted === 0 ? `${t.drawn}` : `${t.drawn} of ${t.drawn + t.omitted}`;
  return (
    `<p class="kv timeline-caption">The history of key <b>${esc(JSON.stringify(t.key))}</b> ` +
    `(${ops} operations) as a timeline: one lane per client, time to the right, in red the ` +
    `${t.minimal === 1 ? 'operation' : `${t.minimal} operations`} with no linearization; hover a bar for its times.</p>` +
    `<div class="timeline" data-key="${esc(t.key)}">${t.svg}</div>`
  );
}

/** The timeline block as a card of its own (the run report), or ''. */
function timelineSection(trace: readonly TraceEvent[], verdicts: readonly Verdict[]): string {
  const block = timelineBlock(trace, verdicts);
  return block === '' ? '' : `<section class="card"><h2>Client history</h2>${block}</section>`;
}

function diagramFor(
  trace: readonly TraceEvent[],
  highlight: DiagramHighlight | undefined,
  idPrefix: string,
  extra: DiagramOptions = {},
): { svg: string; nodes: readonly string[]; stats: RunStats } {
  const model = buildModel(trace, extra.identity);
  const opts: DiagramOptions = {
    ...extra,
    idPrefix,
    ...(highlight === undefined ? {} : { highlight }),
  };
  const svg = renderModel(trace, model, opts);
  return { svg, nodes: extra.nodes ?? model.nodes, stats: computeStats(trace, model) };
}

// ------------------------------------------------------------------------------ reports

/** A report of one run: verdicts, statistics and the diagram (first violation in red). */
export function renderRunReport(run: RunReportInput): string {
  const bad = firstViolation(run.verdicts);
  const highlight = run.diagram?.highlight ?? (bad === undefined ? undefined : highlightOf(bad));
  const { svg, nodes, stats } = diagramFor(run.trace, highlight, 'run', run.diagram);
  const s = run.stats ?? stats;
  const safe = !run.verdicts.some((v) => !v.holds && v.kind === 'safety');
  const live = !run.verdicts.some((v) => !v.holds && v.kind === 'liveness');
  const form = toleranceForm(safe, live);
  const body =
    `<header><h1>${esc(run.title)}</h1>` +
    (run.subtitle === undefined ? '' : `<p class="sub">${esc(run.subtitle)}</p>`) +
    `</header><main>` +
    `<section class="card"><div class="cx-head"><h2>Verdicts</h2><span class="badge f-${form}">${form}</span>` +
    `<span class="kv">${esc(FORM_TEXT[form])}</span></div>${verdictList(run.verdicts, run.trace)}</section>` +
    `<section class="card"><h2>Statistics</h2>${statsBlock(s)}</section>` +
    timelineSection(run.trace, run.verdicts) +
    `<section class="card"><h2>Space-time diagram</h2>` +
    `<p class="kv">${run.trace.length} trace events, ${nodes.length} nodes.${bad === undefined ? '' : ` In red: the events that violate <b>${esc(bad.property)}</b>.`}</p>` +
    viewer(svg, nodes) +
    `</section></main>`;
  return page(run.title, body);
}

function formSwatches(vacuous: boolean): string {
  const shown: Shown[] = ['masking', 'fail-safe', 'non-masking', 'none'];
  if (vacuous) shown.push('vacuous');
  return (
    `<div class="forms">` +
    shown
      .map((f) => `<span><i class="sw f-${f}"></i><b>${f}</b> ${esc(shownText(f))}</span>`)
      .join('') +
    `</div>`
  );
}

/** A cell's runs, safe runs and live runs: "20 / 17 / 20" (compact, for the matrix). */
function runCounts(cell: MatrixCell): string {
  const safe = cell.safeRuns ?? cell.runs - (cell.unsafeRuns ?? 0);
  const live = cell.liveRuns ?? cell.runs - (cell.unliveRuns ?? 0);
  return (
    `<span class="n" data-runs="${cell.runs}" data-safe="${safe}" data-live="${live}" ` +
    `title="${cell.runs} runs, ${safe} safe, ${live} live">${cell.runs} / ${safe} / ${live}</span>`
  );
}

/** The same in words, for a cell's detail. */
function runCountsText(cell: MatrixCell): string {
  const safe = cell.safeRuns ?? cell.runs - (cell.unsafeRuns ?? 0);
  const live = cell.liveRuns ?? cell.runs - (cell.unliveRuns ?? 0);
  return `${cell.runs} runs: ${safe} safe, ${live} live.`;
}

/** The matrix report: coloured cells, counterexamples on click, scenarios below. */
export function renderMatrixReport(matrix: MatrixReport): string {
  const title = matrix.title ?? 'Fault-tolerance matrix';
  const cellAt = new Map<string, { cell: MatrixCell; i: number }>();
  matrix.cells.forEach((cell, i) =>
    cellAt.set(`${cell.protocol}\u0000${cell.faultModel}`, { cell, i }),
  );
  // Column heads may break after a hyphen (byzantine-noauth), row heads never break: the row
  // head column is as wide as the longest protocol name, the fault columns share the rest.
  const head = matrix.faultModels
    .map((f) => `<th scope="col">${esc(f).replaceAll('-', '-<wbr>')}</th>`)
    .join('');
  const rowHeadCh = Math.max(10, ...matrix.protocols.map((p) => p.length));
  const cxs: string[] = [];
  const rows = matrix.protocols.map((p) => {
    const tds = matrix.faultModels.map((f) => {
      const found = cellAt.get(`${p}\u0000${f}`);
      if (found === undefined) return `<td class="cell empty">–</td>`;
      const { cell, i } = found;
      const shown = shownForm(cell);
      const clickable = cell.counterexample !== undefined || cell.explanation !== undefined;
      const prop =
        cell.violated === undefined
          ? ''
          : `<div class="prop">✗ ${esc(cell.violated.property)}${cell.seed === undefined ? '' : `<br>seed ${cell.seed}`}</div>`;
      if (clickable) cxs.push(cellDetail(cell, i));
      return (
        `<td class="cell f-${shown}${clickable ? ' clickable' : ''}" data-form="${cell.form}"${shown === 'vacuous' ? ' data-vacuous="true"' : ''} data-protocol="${esc(p)}" data-fault="${esc(f)}"` +
        (clickable
          ? ` data-cx="cx-${i}" tabindex="0" role="button" title="${cell.counterexample === undefined ? 'why this form' : 'show the counterexample'}"`
          : '') +
        `><div class="form">${shown}</div><div class="meta">${runCounts(cell)}</div>${prop}</td>`
      );
    });
    return `<tr><th scope="row">${esc(p)}</th>${tds.join('')}</tr>`;
  });
  const table =
    `<div class="matrix-wrap"><table class="matrix"><colgroup><col style="width:calc(${rowHeadCh}ch + 18px)"></colgroup>` +
    `<thead><tr><th>protocol \\ faults</th>${head}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
  const scenarios = (matrix.scenarios ?? []).map((s, k) => scenarioBlock(s, k)).join('');
  const body =
    `<header><h1>${esc(title)}</h1>` +
    (matrix.subtitle === undefined ? '' : `<p class="sub">${esc(matrix.subtitle)}</p>`) +
    `</header><main>` +
    `<section class="card matrix-card"><h2>Forms of fault tolerance</h2>${formSwatches(matrix.cells.some((c) => shownForm(c) === 'vacuous'))}${table}` +
    `<p class="hint">Each cell: its form; runs / safe runs / live runs; the first violated property and the seed of its counterexample. Click a cell that is not masking to see its counterexample as a space-time diagram.</p></section>` +
    `<section class="card" id="detail" hidden></section>` +
    `<div id="cx-store" hidden>${cxs.join('')}</div>` +
    (matrix.tables ?? []).map(reportTable).join('') +
    (scenarios === '' ? '' : `<h2 style="margin:26px 0 12px">Scenarios</h2>${scenarios}`) +
    `</main>`;
  return page(title, body);
}

/** A cell's detail, shown on click: why it has its form, and its counterexample if it has one. */
function cellDetail(cell: MatrixCell, i: number): string {
  const shown = shownForm(cell);
  const head =
    `<div class="cx-head"><h2>${esc(cell.protocol)} × ${esc(cell.faultModel)}</h2>` +
    `<span class="badge f-${shown}">${shown}</span><span class="kv">${esc(shownText(shown))}</span></div>` +
    `<p class="kv counts">${esc(runCountsText(cell))}</p>`;
  const why =
    cell.explanation === undefined ? '' : `<p class="explain why">${esc(cell.explanation)}</p>`;
  const cx = cell.counterexample;
  if (cx === undefined) {
    return `<div class="cx" id="cx-${i}" data-form="${cell.form}" hidden>${head}${why}</div>`;
  }
  const highlight: DiagramHighlight = {
    property: cell.violated?.property ?? 'violation',
    indices: cx.indices,
    ...(cell.violated === undefined ? {} : { message: cell.violated.message }),
  };
  const { svg, nodes, stats } = diagramFor(cx.trace, highlight, `cx${i}`);
  return (
    `<div class="cx" id="cx-${i}" data-form="${cell.form}" hidden>` +
    head +
    `<p class="kv">Counterexample: seed <b>${cell.seed === undefined ? '?' : String(cell.seed)}</b> of ${cell.runs} runs; ` +
    `first violated property <b>${esc(cell.violated?.property ?? '?')}</b>: ${esc(cell.violated?.message ?? '')}</p>` +
    why +
    (cx.verdicts === undefined ? '' : verdictList(cx.verdicts, cx.trace)) +
    statsBlock(stats) +
    timelineBlock(cx.trace, cx.verdicts) +
    viewer(svg, nodes) +
    `</div>`
  );
}

function scenarioBlock(s: Scenario, k: number): string {
  const bad = firstViolation(s.verdicts);
  const { svg, nodes, stats } = diagramFor(
    s.trace,
    bad === undefined ? undefined : highlightOf(bad),
    `sc${k}`,
  );
  const safe = !s.verdicts.some((v) => !v.holds && v.kind === 'safety');
  const live = !s.verdicts.some((v) => !v.holds && v.kind === 'liveness');
  const form = toleranceForm(safe, live);
  return (
    `<section class="card scenario" data-scenario="${k}"><div class="cx-head"><h3>${esc(s.name)}</h3>` +
    `<span class="badge f-${form}">${form}</span></div>` +
    `<p>${esc(s.description)}</p><p class="explain">${esc(s.explanation)}</p>` +
    verdictList(s.verdicts, s.trace) +
    statsBlock(stats) +
    timelineBlock(s.trace, s.verdicts) +
    viewer(svg, nodes) +
    `</section>`
  );
}
