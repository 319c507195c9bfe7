/**
 * Terminal rendering for the CLI: the colored matrix table, verdict lists, legends.
 * Colors only when the stream is a terminal (or FORCE_COLOR is set), never with NO_COLOR.
 */

import { FORM_MEANING, FORMS, type Form } from '../check/classify.ts';
import type { Verdict } from '../check/verdict.ts';
import { capPlain, type CapTable } from '../matrix/cap.ts';
import { describeSeeds, type Cell, type MatrixResult } from '../matrix/matrix.ts';
import { FAULT_DESCRIPTIONS } from '../matrix/spec.ts';
import { findProtocol } from '../matrix/registry.ts';

export function useColor(stream: { isTTY?: boolean }): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false;
  if (process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== '0') return true;
  return stream.isTTY === true;
}

const CODES = {
  green: 32,
  yellow: 33,
  magenta: 35,
  red: 31,
  cyan: 36,
  dim: 2,
  bold: 1,
} as const;
export type Color = keyof typeof CODES;

export function paint(color: boolean) {
  return (c: Color, s: string) => (color ? `\u001b[${CODES[c]}m${s}\u001b[0m` : s);
}

/** What a cell shows: its form, or "vacuous" for a masking cell that no fault reached. */
type Shown = Form | 'vacuous';

const FORM_COLOR: Record<Shown, Color> = {
  masking: 'green',
  'fail-safe': 'yellow',
  'non-masking': 'magenta',
  none: 'red',
  vacuous: 'cyan',
};

/** The form as the table writes it: at most 9 characters, so 10 columns fit 120. */
const SHORT_FORM: Record<Shown, string> = {
  masking: 'masking',
  'fail-safe': 'fail-safe',
  'non-masking': 'non-mask',
  none: 'none',
  vacuous: 'vacuous',
};

const VACUOUS_MEANING =
  'masking, but no fault of the column reached a judged property in any run: nothing was tested';

const SHORT_FAULT: Record<string, string> = {
  'crash-recover': 'crash-rec',
  'corrupt-nocrc': 'no-crc',
  byzantine: 'byz',
  'byzantine-noauth': 'byz-noau',
  'byzantine-over': 'byz-over',
};

/** Fields the matrix adds to a cell, read as optional (this compiles with and without them). */
interface CellExtras {
  readonly vacuous?: boolean;
  readonly explanation?: string;
}

function shown(c: Cell): Shown {
  const x: CellExtras = c;
  return c.form === 'masking' && x.vacuous === true ? 'vacuous' : c.form;
}

/**
 * The matrix for a terminal, readable in 120 columns with 10 fault columns: one table of forms
 * (10 characters a column; "non-mask" stands for non-masking), then one of runs/safe/live per
 * cell ("20/17/20": 20 runs, 17 without a safety violation, 20 without a liveness one), then the
 * counterexamples, each with the sentence that explains its form, and the legends.
 */
export function formatMatrix(m: MatrixResult, color: boolean): string {
  const p = paint(color);
  const rowW = Math.max('runs/safe/live'.length, ...m.protocols.map((x) => x.length)) + 2;
  const colW = Math.max(10, ...m.faults.map((f) => (SHORT_FAULT[f] ?? f).length + 1));
  const cellAt = (proto: string, f: string) =>
    m.cells.find((c) => c.protocol === proto && c.faults === f);
  const table = (title: string, text: (c: Cell) => string, colorOf: (c: Cell) => Color) => {
    const out = [
      (
        p('bold', title.padEnd(rowW)) +
        m.faults.map((f) => (SHORT_FAULT[f] ?? f).padEnd(colW)).join('')
      ).trimEnd(),
    ];
    for (const proto of m.protocols) {
      let row = proto.padEnd(rowW);
      for (const f of m.faults) {
        const cell = cellAt(proto, f);
        row += cell === undefined ? '-'.padEnd(colW) : p(colorOf(cell), text(cell).padEnd(colW));
      }
      out.push(row.trimEnd());
    }
    return out;
  };
  const lines: string[] = [];
  lines.push(
    p('bold', 'steadfast fault-tolerance matrix') +
      `: ${m.nodes} nodes, ${describeSeeds(m)}, ${m.messages} messages per node, ${m.runs} runs in ${(m.wallMs / 1000).toFixed(1)} s`,
  );
  lines.push('');
  lines.push(
    ...table(
      'form',
      (c) => SHORT_FORM[shown(c)],
      (c) => FORM_COLOR[shown(c)],
    ),
  );
  lines.push('');
  lines.push(
    ...table(
      'runs/safe/live',
      (c) => `${c.runs}/${c.safeRuns}/${c.liveRuns}`,
      (c) => (c.safeRuns === c.runs && c.liveRuns === c.runs ? 'dim' : FORM_COLOR[shown(c)]),
    ),
  );
  lines.push('');
  const forms: Shown[] = [...FORMS];
  if (m.cells.some((c) => shown(c) === 'vacuous')) forms.push('vacuous');
  lines.push('forms:');
  for (const f of forms) {
    const name = f === 'non-masking' ? 'non-masking (non-mask)' : f;
    lines.push(
      `  ${p(FORM_COLOR[f], name)} = ${f === 'vacuous' ? VACUOUS_MEANING : FORM_MEANING[f]}`,
    );
  }
  lines.push(
    '  runs/safe/live: runs of the cell, runs where every safety property held, runs where every liveness property held',
  );
  const examples = m.cells.filter((c) => c.example !== undefined);
  if (examples.length > 0) {
    lines.push('');
    lines.push(
      p('bold', 'counterexamples') + ' (every cell short of masking, with the run that shows it):',
    );
    for (const c of examples) {
      const e = c.example;
      if (e === undefined) continue;
      lines.push(
        `  ${c.protocol} × ${c.faults}: ${p(FORM_COLOR[c.form], c.form)}: ${e.property} (${e.kind}) violated at seed ${e.seed}: ${e.message}`,
      );
      const why = (c as CellExtras).explanation;
      if (why !== undefined) lines.push(`      why: ${why}`);
      lines.push(`      reproduce: ${e.reproduce}`);
      if (e.shrunk !== undefined) {
        lines.push(
          `      shrunk ${e.shrunk.fromSize} → ${e.shrunk.toSize} (nodes ${e.shrunk.spec.nodes}, ${e.shrunk.spec.workload.length} commands, ${e.shrunk.spec.nemesis.length} fault actions)` +
            (e.shrunk.replay === undefined ? '' : `: ${e.shrunk.replay}`),
        );
      }
    }
  }
  const explained = m.cells.filter(
    (c) => c.example === undefined && (c as CellExtras).explanation !== undefined,
  );
  if (explained.length > 0) {
    lines.push('');
    lines.push(p('bold', 'why') + ' (cells without a counterexample):');
    for (const c of explained) {
      const s = shown(c);
      lines.push(
        `  ${c.protocol} × ${c.faults}: ${p(FORM_COLOR[s], s)}: ${(c as CellExtras).explanation ?? ''}`,
      );
    }
  }
  lines.push('');
  lines.push(p('bold', 'fault models') + ':');
  for (const f of m.faults) {
    const short = SHORT_FAULT[f];
    lines.push(
      `  ${(short ?? f).padEnd(12)} ${short === undefined ? '' : `(${f}) `}${FAULT_DESCRIPTIONS[f]}`,
    );
  }
  lines.push(p('bold', 'protocols') + ':');
  for (const name of m.protocols)
    lines.push(`  ${name.padEnd(rowW)}${findProtocol(name).description}`);
  return lines.join('\n') + '\n';
}

export function formatVerdicts(verdicts: readonly Verdict[], color: boolean): string {
  const p = paint(color);
  return (
    verdicts
      .map((v) => {
        const mark = v.holds ? p('green', 'holds   ') : p('red', 'VIOLATED');
        const line = `  ${mark} ${v.property} (${v.kind}, ${v.checked} checked)`;
        return v.violation === undefined ? line : `${line}\n           ${v.violation.message}`;
      })
      .join('\n') + '\n'
  );
}

/** The CAP table for a terminal: a title, the caption, aligned columns, then what each row says. */
export function formatCap(t: CapTable, color: boolean): string {
  const p = paint(color);
  const { caption, head, rows } = capPlain(t);
  // The last column (what the row says) goes under the table, one line per store.
  const cols = head.length - 1;
  const all = [head, ...rows].map((r) => r.slice(0, cols));
  const widths = all[0]?.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length))) ?? [];
  const line = (r: readonly string[]): string =>
    r
      .map((x, i) => x.padEnd((widths[i] ?? 0) + 2))
      .join('')
      .trimEnd();
  return [
    p('bold', 'the CAP trade-off, computed'),
    ...wrapText(caption, 100).map((l) => `  ${l}`),
    '',
    p('bold', line(head.slice(0, cols))),
    ...rows.map((r) => line(r.slice(0, cols))),
    '',
    ...rows.map((r) => `  ${r[0] ?? ''}: ${r[cols] ?? ''}`),
    '',
  ].join('\n');
}

/** Breaks `text` at spaces into lines of at most `width` characters (longer words stand alone). */
export function wrapText(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}
