/**
 * The matrix page's layout in a real browser (Debian's chromium through playwright-core): the full
 * matrix, 10 fault columns and 17 protocol rows (more than today's 12), fits a 1,400 px wide
 * window without horizontal scrolling, and no row name wraps. Skips, saying why, when
 * /usr/bin/chromium is missing.
 */

import { CHROMIUM, CHROMIUM_ARGS } from './chromium.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { FAULT_MODELS } from '../../src/matrix/spec.ts';
import { renderMatrixReport, type MatrixCell, type ToleranceForm } from '../../src/viz/html.ts';

const ARTIFACTS = resolve('artifacts', 'viz');

/** What the page measures of itself. */
interface Layout {
  viewport: number;
  client: number;
  scrollWidth: number;
  tableRight: number;
  wrapScroll: number;
  rows: { name: string; lines: number; clipped: boolean }[];
  cells: string[];
  columns: number;
}

const FAULTS: readonly string[] = FAULT_MODELS;

const PROTOCOLS = [
  'fair-loss',
  'perfect',
  'at-most-once',
  'at-least-once',
  'exactly-once',
  'beb',
  'eager-rb',
  'urb',
  'fifo-rb',
  'causal',
  'gossip-rb',
  'bracha',
  // Rows still to come, with long names.
  'fifo-perfect',
  'stubborn',
  'exactly-once-idem',
  'uniform-causal-rb',
  'bracha-authenticated',
];

const FORMS: readonly ToleranceForm[] = ['masking', 'fail-safe', 'non-masking', 'none'];
const PROPS = ['uniform-agreement', 'reliable-delivery', 'no-duplication', 'brb-consistency'];

/** Every cell of a full matrix, every form and text length present. */
function fullMatrix(): MatrixCell[] {
  const cells: MatrixCell[] = [];
  PROTOCOLS.forEach((protocol, r) => {
    FAULTS.forEach((faultModel, c) => {
      const form = FORMS[(r + c) % FORMS.length] ?? 'masking';
      const runs = 2000;
      const cell: MatrixCell = {
        protocol,
        faultModel,
        form,
        runs,
        safeRuns: form === 'masking' || form === 'fail-safe' ? runs : 1234,
        liveRuns: form === 'masking' || form === 'non-masking' ? runs : 1987,
        ...(form === 'masking' && c === 0 ? { vacuous: true } : {}),
        ...(form === 'masking'
          ? {}
          : {
              seed: 123_456,
              violated: { property: PROPS[(r * 3 + c) % PROPS.length] ?? '', message: 'x' },
              explanation: '2 of 5 crashed; Bracha is configured for f = 1 and needs 4 echoes',
            }),
      };
      cells.push(cell);
    });
  });
  return cells;
}

test(
  'browser: the full matrix fits 1,400 px without horizontal scrolling, row names on one line',
  { timeout: 120_000 },
  async (t) => {
    if (!existsSync(CHROMIUM)) {
      t.skip(`chromium not installed: ${CHROMIUM} is missing (apt-get install chromium)`);
      return;
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = join(ARTIFACTS, 'matrix-layout.html');
    writeFileSync(
      file,
      renderMatrixReport({
        title: 'steadfast fault-tolerance matrix',
        subtitle: '5 nodes, 2000 seeds per cell',
        protocols: PROTOCOLS,
        faultModels: FAULTS,
        cells: fullMatrix(),
      }),
    );
    const profile = mkdtempSync(join(tmpdir(), 'steadfast-chromium-'));
    const ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1400, height: 900 },
    });
    try {
      const page = await ctx.newPage();
      await page.goto(pathToFileURL(file).href);
      const m = await page.evaluate<Layout>(`(() => {
        const table = document.querySelector('table.matrix');
        const lines = (el) => {
          const r = document.createRange();
          r.selectNodeContents(el);
          return new Set([...r.getClientRects()].map((x) => Math.round(x.top))).size;
        };
        const rows = [...document.querySelectorAll('table.matrix tbody th')].map((th) => ({
          name: th.textContent,
          lines: lines(th),
          clipped: th.scrollWidth > th.clientWidth,
        }));
        const cells = [...document.querySelectorAll('td.cell')].filter(
          (td) => td.scrollWidth > td.clientWidth,
        ).map((td) => td.dataset.protocol + ' × ' + td.dataset.fault);
        return {
          viewport: window.innerWidth,
          client: document.documentElement.clientWidth,
          scrollWidth: document.documentElement.scrollWidth,
          tableRight: table.getBoundingClientRect().right,
          wrapScroll: table.parentElement.scrollWidth - table.parentElement.clientWidth,
          rows,
          cells,
          columns: document.querySelectorAll('table.matrix thead th').length,
        };
      })()`);
      await page.screenshot({ path: join(ARTIFACTS, 'matrix-layout.png'), fullPage: true });
      assert.equal(m.viewport, 1400);
      assert.equal(m.columns, FAULTS.length + 1);
      assert.equal(m.rows.length, PROTOCOLS.length);
      assert.ok(m.scrollWidth <= m.viewport, `page is ${m.scrollWidth} px wide at ${m.viewport}`);
      assert.ok(m.tableRight <= m.client, `table ends at ${m.tableRight} px of ${m.client}`);
      assert.equal(m.wrapScroll, 0, 'the matrix does not scroll sideways in its box');
      for (const r of m.rows) {
        assert.equal(r.lines, 1, `row name "${r.name}" wraps`);
        assert.equal(r.clipped, false, `row name "${r.name}" is cut off`);
      }
      assert.deepEqual(m.cells, [], 'no cell content overflows its cell');
    } finally {
      await ctx.close();
      rmSync(profile, { recursive: true, force: true });
    }
  },
);
