/**
 * A scenario's result as a diagram (SVG), a report (HTML) and data (JSON), using src/viz.
 *
 * Guarantees: the diagrams are src/viz's space-time diagrams (`renderSvg`), one per variant, each
 * with the variant's first violation highlighted; several variants are stacked in one standalone
 * SVG document, each keeping its own element ids (`idPrefix`). The HTML report is src/viz's matrix
 * report: one row per variant coloured by its form of fault tolerance on this scenario's fault
 * schedule, then each variant's explanation, verdicts and interactive diagram.
 */

import { formOf } from '../check/classify.ts';
import { cellFromRuns, firstViolation, highlightOf, renderMatrixReport } from '../viz/html.ts';
import type { Message } from '../viz/model.ts';
import { esc, renderSvg } from '../viz/svg.ts';
import { liveOf, safeOf } from './facts.ts';
import type { ScenarioResult, VariantResult } from './model.ts';
import { scenarioRunsOf } from './catalog.ts';

const GAP_PX = 24;

function idPrefix(name: string, key: string): string {
  return `sc-${name}-${key}`.replace(/[^A-Za-z0-9_-]/g, '-');
}

/**
 * The messages a variant's diagram leaves out (link acks, routine messages every copy of which
 * arrived) and their names for the title; undefined when it draws them all.
 */
function omitted(
  r: ScenarioResult,
  v: VariantResult,
): { keep: (m: Message) => boolean; what: string[] } | undefined {
  const acks = r.diagram?.hideAcks === true;
  const routine = r.diagram?.routine;
  if (!acks && routine === undefined) return undefined;
  const isRoutine = routine?.test(v.trace);
  return {
    keep: (m) =>
      !(acks && m.kind === 'ack') &&
      !(
        isRoutine !== undefined &&
        m.copies.every((c) => c.fate.kind === 'receive') &&
        isRoutine(m)
      ),
    what: [...(acks ? ['link acks'] : []), ...(routine === undefined ? [] : [routine.what])],
  };
}

/** The diagram of one variant (its first violation in red). */
export function variantSvg(r: ScenarioResult, v: VariantResult): string {
  const bad = firstViolation(v.verdicts);
  const highlight = bad === undefined ? undefined : highlightOf(bad);
  const omit = omitted(r, v);
  return renderSvg(v.trace, {
    title: `${r.name}${r.variants.length > 1 ? ` · ${v.label}` : ''}: ${v.form}${omit === undefined ? '' : ` (${omit.what.join(' and ')} not drawn)`}`,
    idPrefix: idPrefix(r.name, v.key),
    ...(omit === undefined ? {} : { messageFilter: omit.keep }),
    ...(highlight === undefined ? {} : { highlight }),
  });
}

function sizeOf(svg: string): { width: number; height: number } {
  const root = /<svg\b[^>]*>/.exec(svg)?.[0] ?? '';
  const width = Number(/\swidth="([\d.]+)"/.exec(root)?.[1] ?? 0);
  const height = Number(/\sheight="([\d.]+)"/.exec(root)?.[1] ?? 0);
  return { width, height };
}

/** One SVG document: the variants' diagrams stacked top to bottom. */
export function scenarioSvg(r: ScenarioResult): string {
  const parts = r.variants.map((v) => ({ v, svg: variantSvg(r, v) }));
  const only = parts[0];
  if (parts.length === 1 && only !== undefined) return only.svg;
  let y = 0;
  let width = 0;
  const body: string[] = [];
  for (const { v, svg } of parts) {
    const size = sizeOf(svg);
    body.push(
      `<g class="variant" data-variant="${esc(v.key)}" data-form="${v.form}" transform="translate(0 ${y})">${svg}</g>`,
    );
    y += size.height + GAP_PX;
    width = Math.max(width, size.width);
  }
  const height = Math.max(0, y - GAP_PX);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="sf-scenario" data-scenario="${esc(r.name)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>` +
    body.join('') +
    `</svg>`
  );
}

/** The HTML report: the variants as rows of a form table, then each one's diagram. */
export function scenarioHtml(r: ScenarioResult): string {
  const runs = scenarioRunsOf(r);
  return renderMatrixReport({
    title: `steadfast scenario ${r.name}`,
    subtitle: `${r.description} Fault schedule: ${r.faults}.`,
    protocols: r.variants.map((v) => v.label),
    faultModels: [r.faults],
    cells: r.variants.map((v) => cellFromRuns(v.label, r.faults, [v])),
    scenarios: runs,
  });
}

/** The result as plain data (schema `steadfast.scenario/1`). */
export function scenarioJson(r: ScenarioResult): unknown {
  return {
    schema: 'steadfast.scenario/1',
    name: r.name,
    description: r.description,
    faults: r.faults,
    ok: r.ok,
    explanation: r.explanation,
    variants: r.variants.map((v) => ({
      key: v.key,
      label: v.label,
      seed: v.seed,
      form: formOf(safeOf(v.verdicts), liveOf(v.verdicts)),
      ok: v.mismatches.length === 0 && v.problems.length === 0,
      explanation: v.explanation,
      verdicts: v.verdicts.map((x) => ({
        property: x.property,
        kind: x.kind,
        holds: x.holds,
        expected: v.expect[x.property] ?? null,
        checked: x.checked,
        ...(x.violation === undefined
          ? {}
          : {
              message: x.violation.message,
              events: x.violation.events.map((e) => e.index),
            }),
      })),
      mismatches: v.mismatches,
      problems: v.problems,
      marks: v.marks,
      traceEvents: v.trace.length,
    })),
  };
}
