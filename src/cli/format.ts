/**
 * Terminal rendering for the CLI: the colored matrix table, verdict lists, legends.
 * Colors only when the stream is a terminal (or FORCE_COLOR is set), never with NO_COLOR.
 */

import { FORM_MEANING, FORMS, type Form } from '../check/classify.ts';
import type { Verdict } from '../check/verdict.ts';
import type { MatrixResult } from '../matrix/matrix.ts';
import { FAULT_DESCRIPTIONS } from '../matrix/spec.ts';
import { findProtocol } from '../matrix/registry.ts';

export function useColor(stream: { isTTY?: boolean }): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false;
  if (process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== '0') return true;
  return stream.isTTY === true;
}

const CODES = { green: 32, yellow: 33, magenta: 35, red: 31, dim: 2, bold: 1 } as const;
export type Color = keyof typeof CODES;

export function paint(color: boolean) {
  return (c: Color, s: string) => (color ? `\u001b[${CODES[c]}m${s}\u001b[0m` : s);
}

const FORM_COLOR: Record<Form, Color> = {
  masking: 'green',
  'fail-safe': 'yellow',
  'non-masking': 'magenta',
  none: 'red',
};

const SHORT_FAULT: Record<string, string> = {
  'crash-recover': 'crash-rec',
  'corrupt-nocrc': 'no-crc',
  byzantine: 'byz',
  'byzantine-noauth': 'byz-noauth',
  'byzantine-over': 'byz-over',
};

export function formatMatrix(m: MatrixResult, color: boolean): string {
  const p = paint(color);
  const rowW = Math.max(10, ...m.protocols.map((x) => x.length)) + 2;
  const colW = Math.max(11, ...m.faults.map((f) => (SHORT_FAULT[f] ?? f).length + 2));
  const lines: string[] = [];
  lines.push(
    p('bold', 'steadfast fault-tolerance matrix') +
      `: ${m.nodes} nodes, ${m.seeds} seeds per cell (${m.firstSeed}..${m.firstSeed + m.seeds - 1}), ${m.messages} messages per node, ${m.runs} runs in ${(m.wallMs / 1000).toFixed(1)} s`,
  );
  lines.push('');
  lines.push(' '.repeat(rowW) + m.faults.map((f) => (SHORT_FAULT[f] ?? f).padEnd(colW)).join(''));
  for (const proto of m.protocols) {
    let row = proto.padEnd(rowW);
    for (const f of m.faults) {
      const cell = m.cells.find((c) => c.protocol === proto && c.faults === f);
      const text = cell === undefined ? '-' : cell.form;
      row += cell === undefined ? text.padEnd(colW) : p(FORM_COLOR[cell.form], text.padEnd(colW));
    }
    lines.push(row);
  }
  lines.push('');
  lines.push(
    'forms: ' + FORMS.map((f) => `${p(FORM_COLOR[f], f)} = ${FORM_MEANING[f]}`).join('; '),
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
      lines.push(`      reproduce: ${e.reproduce}`);
      if (e.shrunk !== undefined) {
        lines.push(
          `      shrunk ${e.shrunk.fromSize} → ${e.shrunk.toSize} (nodes ${e.shrunk.spec.nodes}, ${e.shrunk.spec.workload.length} commands, ${e.shrunk.spec.nemesis.length} fault actions)` +
            (e.shrunk.replay === undefined ? '' : `: ${e.shrunk.replay}`),
        );
      }
    }
  }
  lines.push('');
  lines.push(p('bold', 'fault models') + ':');
  for (const f of m.faults)
    lines.push(`  ${(SHORT_FAULT[f] ?? f).padEnd(12)} ${FAULT_DESCRIPTIONS[f]}`);
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
