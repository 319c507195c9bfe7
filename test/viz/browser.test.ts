/**
 * The matrix report in a real browser: Debian's chromium driven by playwright-core (never a
 * downloaded browser). Skips, saying why, when /usr/bin/chromium is missing.
 */

import { CHROMIUM, CHROMIUM_ARGS } from './chromium.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { buildModel } from '../../src/viz/model.ts';
import { renderMatrixReport } from '../../src/viz/html.ts';
import { smallMatrix } from './scenarios.ts';

const ARTIFACTS = resolve('artifacts', 'viz');

test(
  'browser: click a non-masking cell, see its counterexample with the violation',
  { timeout: 240_000 },
  async (t) => {
    if (!existsSync(CHROMIUM)) {
      t.skip(`chromium not installed: ${CHROMIUM} is missing (apt-get install chromium)`);
      return;
    }
    const matrix = smallMatrix(6);
    const cell = matrix.cells.find(
      (c) => c.protocol === 'at-least-once' && c.faultModel === 'loss 30%',
    );
    assert.equal(cell?.form, 'non-masking');
    const cx = cell.counterexample;
    assert.ok(cx !== undefined);
    const lanes = buildModel(cx.trace).nodes.length;
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = join(ARTIFACTS, 'matrix-report.html');
    writeFileSync(file, renderMatrixReport(matrix));

    const profile = mkdtempSync(join(tmpdir(), 'steadfast-chromium-'));
    const ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 900 },
    });
    try {
      const page = await ctx.newPage();
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(pathToFileURL(file).href);

      const detail = page.locator('#detail');
      assert.equal(await detail.isVisible(), false, 'no counterexample before a click');
      const td = page.locator('td.cell[data-protocol="at-least-once"][data-fault="loss 30%"]');
      assert.equal(await td.getAttribute('data-form'), 'non-masking');
      await td.click();
      await detail.locator('svg.sf-diagram').waitFor({ state: 'visible' });

      // The diagram: one lane per node of the counterexample, the violation in red, named.
      assert.equal(await detail.locator('svg g.lane').count(), lanes);
      assert.equal(await detail.locator('svg g.head').count(), lanes);
      assert.ok((await detail.locator('svg .hl').count()) >= cx.indices.length);
      const label = detail.locator('svg .violation-label');
      assert.ok(await label.isVisible());
      assert.match((await label.textContent()) ?? '', /no-duplication/);
      const stroke = await page.evaluate(
        'getComputedStyle(document.querySelector("#detail svg .ev.deliver.hl")).fill',
      );
      assert.equal(stroke, 'rgb(224, 49, 49)', 'highlighted deliveries are red');
      assert.match(
        (await detail.locator('.cx-head').textContent()) ?? '',
        /at-least-once × loss 30%/,
      );
      await page.screenshot({
        path: join(ARTIFACTS, 'matrix-report.png'),
        fullPage: true,
        timeout: 60_000,
      });
      await detail.screenshot({ path: join(ARTIFACTS, 'counterexample.png'), timeout: 60_000 });

      // The page's controls: node filter, time window, message filter, zoom.
      const svg = detail.locator('svg.sf-diagram');
      await detail.locator('input[data-node="n2"]').uncheck();
      assert.equal(await svg.getAttribute('data-visible-lanes'), String(lanes - 1));
      assert.equal(await detail.locator('svg g.lane[data-node="n2"]').isVisible(), false);
      await detail.locator('input[data-node="n2"]').check();
      assert.equal(await svg.getAttribute('data-visible-lanes'), String(lanes));
      const before = await svg.getAttribute('viewBox');
      await detail.locator('input[data-role="from"]').fill('0');
      await detail.locator('input[data-role="to"]').fill('40');
      await detail.locator('button[data-act="window"]').click();
      const after = await svg.getAttribute('viewBox');
      assert.notEqual(after, before);
      assert.ok(
        Number(after?.split(' ')[3]) < Number(before?.split(' ')[3]),
        'the window is shorter',
      );
      await detail.locator('input[data-role="msg"]').fill('#1');
      const shown = await detail.locator('svg g.msg[data-id]:visible').count();
      assert.ok(shown >= 1);
      for (const l of await detail.locator('svg g.msg[data-id]:visible').all())
        assert.equal(await l.getAttribute('data-id'), '1');
      await detail.locator('button[data-act="reset"]').click();
      assert.equal(await svg.getAttribute('viewBox'), before);
      await detail.locator('button[data-act="zoom-in"]').click();
      assert.equal(await detail.locator('.zoomv').textContent(), '125%');

      // Keyboard: another cell opens its own counterexample.
      const amo = page.locator('td.cell[data-protocol="at-most-once"][data-fault="loss 30%"]');
      await amo.focus();
      await page.keyboard.press('Enter');
      await page.waitForFunction(
        'document.querySelector("#detail .violation-label")?.getAttribute("data-property") === "reliable-delivery"',
      );
      assert.equal(await page.locator('#detail .cx').count(), 1);

      assert.deepEqual(errors, [], 'no script errors');
      assert.ok(
        requests.every((u) => u.startsWith('file:') || u.startsWith('data:')),
        `no network fetch: ${requests.join(' ')}`,
      );
      console.log(
        `screenshots: ${join(ARTIFACTS, 'matrix-report.png')}, ${join(ARTIFACTS, 'counterexample.png')}`,
      );
    } finally {
      await ctx.close();
      rmSync(profile, { recursive: true, force: true });
    }
  },
);
