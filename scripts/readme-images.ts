/**
 * Generates the README's pictures from simulated runs:
 *   docs/images/diagram.png  a space-time diagram (at-least-once under loss, duplication,
 *                            corruption, a partition and a crash; the PL2 violation in red)
 *   docs/images/report.png   the matrix report with a non-masking cell opened
 *
 *   node --import tsx scripts/readme-images.ts
 *
 * Guarantees: deterministic inputs (seeded simulations, the same runs as test/viz); screenshots
 * are taken by Debian's chromium (/usr/bin/chromium) through playwright-core, never by a
 * downloaded browser; each PNG is checked to stay under 300 KB.
 * Assumes: chromium is installed (apt-get install chromium); run from anywhere in the repo.
 */

import { CHROMIUM, CHROMIUM_ARGS } from '../test/viz/chromium.ts';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { firstViolation, highlightOf, renderMatrixReport } from '../src/viz/html.ts';
import { renderSvg } from '../src/viz/svg.ts';
import { faultyRun, smallMatrix } from '../test/viz/scenarios.ts';

const MAX_BYTES = 300 * 1024;

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'docs', 'images');

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) {
    console.error(`chromium not installed: ${CHROMIUM} is missing (apt-get install chromium)`);
    process.exitCode = 1;
    return;
  }
  mkdirSync(outDir, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'steadfast-readme-'));
  const ctx = await chromium.launchPersistentContext(join(work, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 1400 },
    deviceScaleFactor: 1,
  });
  try {
    const page = await ctx.newPage();

    // 1. A diagram on its own.
    const run = faultyRun();
    const bad = firstViolation(run.verdicts);
    const hl = bad === undefined ? undefined : highlightOf(bad);
    const svg = renderSvg(run.trace, {
      title:
        'at-least-once: loss, duplication, corruption, a partition and a crash (n1 sends to n2, n3)',
      window: { to: 560 },
      ...(hl === undefined ? {} : { highlight: hl }),
    });
    const diagramHtml = join(work, 'diagram.html');
    writeFileSync(
      diagramHtml,
      `<!doctype html><html><head><meta charset="utf-8"></head><body style="margin:0;background:#fff">${svg}</body></html>`,
    );
    await page.goto(pathToFileURL(diagramHtml).href);
    await page.locator('svg.sf-diagram').screenshot({ path: join(outDir, 'diagram.png') });

    // 2. The matrix report with the at-least-once × loss counterexample open, its diagram
    //    narrowed (with the page's own time-window control) to the stretch that shows the
    //    violation.
    const matrix = smallMatrix(6);
    const cell = matrix.cells.find(
      (c) => c.protocol === 'at-least-once' && c.faultModel === 'loss 30%',
    );
    const times = (cell?.counterexample?.indices ?? []).map(
      (i) => cell?.counterexample?.trace[i]?.t ?? 0,
    );
    const reportHtml = join(work, 'report.html');
    writeFileSync(reportHtml, renderMatrixReport(matrix));
    await page.setViewportSize({ width: 1280, height: 1300 });
    await page.goto(pathToFileURL(reportHtml).href);
    await page.click('td.cell[data-protocol="at-least-once"][data-fault="loss 30%"]');
    const detail = page.locator('#detail');
    await detail.locator('svg.sf-diagram').waitFor({ state: 'visible' });
    if (times.length > 0) {
      await detail
        .locator('input[data-role="from"]')
        .fill(String(Math.max(0, Math.min(...times) - 70)));
      await detail.locator('input[data-role="to"]').fill(String(Math.max(...times) + 30));
      await detail.locator('button[data-act="window"]').click();
    }
    await page.evaluate('window.scrollTo(0, 0)');
    const box = await detail.boundingBox();
    const height = Math.ceil((box?.y ?? 1500) + (box?.height ?? 0) + 24);
    await page.screenshot({
      path: join(outDir, 'report.png'),
      fullPage: true,
      clip: { x: 0, y: 0, width: 1280, height },
    });
  } finally {
    await ctx.close();
    rmSync(work, { recursive: true, force: true });
  }
  for (const name of ['diagram.png', 'report.png']) {
    const size = statSync(join(outDir, name)).size;
    console.log(`${join('docs', 'images', name)}: ${(size / 1024).toFixed(0)} KB`);
    if (size > MAX_BYTES) {
      console.error(`${name} is over ${MAX_BYTES / 1024} KB`);
      process.exitCode = 1;
    }
  }
}

await main();
