/**
 * `steadfast scenario [NAME] [--html out.html] [--svg out.svg] [--json]`: the lecture's cases.
 *
 * Without NAME it lists the scenarios, one line each. With NAME it runs that scenario (fixed seed,
 * explicit fault schedule), prints its verdicts against the expected ones and the explanation
 * computed from the run, and writes its space-time diagram (`--svg`) or HTML report (`--html`);
 * `--json` prints verdicts and explanation as JSON (schema steadfast.scenario/1) instead.
 *
 * Guarantees: an unknown NAME, or a file flag without NAME, is a one-line usage error (exit 2).
 * Exit code 0 when every verdict matched its expectation and the schedule landed as intended,
 * 1 otherwise (the run does not show what the scenario is meant to show).
 */

import type { Command } from 'commander';
import { scenarioNames, SCENARIOS, runNamedScenario } from '../scenarios/catalog.ts';
import type { ScenarioResult } from '../scenarios/model.ts';
import { scenarioHtml, scenarioJson, scenarioSvg } from '../scenarios/render.ts';
import { checkOutputFile, UsageError, writeOutput } from './args.ts';
import { formatVerdicts, paint, useColor } from './format.ts';

type Write = (s: string) => void;

/** Greedy word wrap at `width` columns, each line indented by `indent`. */
export function wrap(text: string, width = 100, indent = '  '): string {
  const out: string[] = [];
  for (const para of text.split('\n')) {
    if (para.trim() === '') {
      out.push('');
      continue;
    }
    let line = '';
    for (const word of para.split(/\s+/)) {
      if (word === '') continue;
      if (line !== '' && indent.length + line.length + 1 + word.length > width) {
        out.push(indent + line);
        line = word;
      } else {
        line = line === '' ? word : `${line} ${word}`;
      }
    }
    if (line !== '') out.push(indent + line);
  }
  return out.join('\n') + '\n';
}

/** The list: one line per scenario. */
export function formatScenarioList(): string {
  const w = Math.max(...SCENARIOS.map((s) => s.name.length)) + 2;
  return (
    'scenarios (run one with: steadfast scenario NAME [--html out.html] [--svg out.svg] [--json]):\n' +
    SCENARIOS.map((s) => `  ${s.name.padEnd(w)}${s.description}`).join('\n') +
    '\n'
  );
}

/** A scenario's result for the terminal. */
export function formatScenario(r: ScenarioResult, color: boolean): string {
  const p = paint(color);
  const lines: string[] = [];
  lines.push(`${p('bold', `scenario ${r.name}`)}: ${r.description}`);
  lines.push(`  fault schedule: ${r.faults}`);
  for (const v of r.variants) {
    lines.push('');
    lines.push(`${p('bold', v.label)}: ${v.form} (seed ${v.seed}, ${v.trace.length} trace events)`);
    lines.push(formatVerdicts(v.verdicts, color).trimEnd());
    const expected = v.verdicts
      .map((x) => {
        const want = v.expect[x.property];
        return `${x.property} ${want === undefined ? '?' : want ? 'holds' : 'violated'}`;
      })
      .join(', ');
    lines.push(`  expected: ${expected}`);
    for (const m of v.mismatches) lines.push(`  ${p('red', 'UNEXPECTED')} ${m}`);
    for (const m of v.problems) lines.push(`  ${p('red', 'SCHEDULE MISSED')} ${m}`);
  }
  lines.push('');
  lines.push(p('bold', 'what happened and why:'));
  lines.push(wrap(r.explanation).trimEnd());
  lines.push('');
  lines.push(
    r.ok
      ? 'every verdict is as expected, and the fault schedule hit exactly what it aimed at.'
      : p('red', 'this run does NOT show what the scenario expects (see above).'),
  );
  return lines.join('\n') + '\n';
}

export function registerScenarioCommand(program: Command, write: Write, writeErr: Write): void {
  program
    .command('scenario')
    .description(
      "run one of the lecture's cases deterministically, explain it and draw it (no NAME: list them)",
    )
    .argument('[name]', `scenario to run: ${scenarioNames().join(', ')}`)
    .option('--html <file>', 'write an HTML report (verdicts, explanation, interactive diagram)')
    .option('--svg <file>', 'write the space-time diagram as SVG')
    .option('--json', 'print the verdicts and the explanation as JSON (steadfast.scenario/1)')
    .action((name: string | undefined, o: { html?: string; svg?: string; json?: boolean }) => {
      if (name === undefined) {
        if (o.html !== undefined || o.svg !== undefined || o.json === true) {
          throw new UsageError(
            `--html, --svg and --json need a scenario NAME; accepted: ${scenarioNames().join(', ')}.`,
          );
        }
        write(formatScenarioList());
        process.exitCode = 0;
        return;
      }
      if (!scenarioNames().includes(name)) {
        throw new UsageError(
          `scenario: unknown "${name}"; accepted: ${scenarioNames().join(', ')}.`,
        );
      }
      if (o.svg !== undefined) checkOutputFile('--svg', o.svg);
      if (o.html !== undefined) checkOutputFile('--html', o.html);
      const r = runNamedScenario(name);
      const written: string[] = [];
      if (o.svg !== undefined) {
        writeOutput('--svg', o.svg, scenarioSvg(r));
        written.push(`diagram: ${o.svg}`);
      }
      if (o.html !== undefined) {
        writeOutput('--html', o.html, scenarioHtml(r));
        written.push(`report: ${o.html}`);
      }
      if (o.json === true) {
        write(JSON.stringify(scenarioJson(r), null, 2) + '\n');
      } else {
        write(formatScenario(r, useColor(process.stdout)));
        for (const w of written) write(`${w}\n`);
      }
      if (!r.ok) writeErr(`scenario ${name}: the run does not match its expected verdicts\n`);
      process.exitCode = r.ok ? 0 : 1;
    });
}
