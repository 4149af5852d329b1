// mails.mjs - notices and digests as a mail reader shows them, in headless Chromium.
//
// Started by test_mails.py with ARTIFACTS, the directory that holds the HTML
// parts opesd wrote (notice.html, notice-de.html, digest.html,
// digest-de.html). Each is shown at 390 px (a phone) and 1280 px (a desktop):
// no horizontal scrolling, every button at least 44 px high and inside the
// view, the text at least 12 px; screenshots NAME-390.png and NAME-1280.png
// go next to them. Every check throws on failure; the exit status tells the
// Python side.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const ARTIFACTS = process.env.ARTIFACTS;
if (!ARTIFACTS) throw new Error('ARTIFACTS is not set');
const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opes-chromium-'));
const context = await chromium.launchPersistentContext(userDir, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  // a mail reader loads nothing from the network: neither do we
  offline: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = context.pages()[0] ?? await context.newPage();

try {
  for (const name of ['notice', 'notice-de', 'digest', 'digest-de']) {
    for (const width of [390, 1280]) {
      console.log(`-- ${name} at ${width} px`);
      await page.setViewportSize({ width, height: 900 });
      await page.goto(pathToFileURL(path.join(ARTIFACTS, `${name}.html`)).href);
      const m = await page.evaluate(() => {
        const doc = document.documentElement;
        const buttons = [...document.querySelectorAll('a[href*="/action/"], a[href*="/login/"]')]
          .map((a) => { const r = a.getBoundingClientRect(); return { h: r.height, right: r.right, text: a.textContent }; });
        const small = [...document.querySelectorAll('p, a, strong, h1')]
          .filter((e) => parseFloat(getComputedStyle(e).fontSize) < 12).length;
        return { scroll: doc.scrollWidth, width: window.innerWidth, buttons, small };
      });
      assert.ok(m.scroll <= m.width, `${name} at ${width}: scrolls sideways (${m.scroll} > ${m.width})`);
      assert.ok(m.buttons.length >= 4, `${name}: buttons missing`);
      for (const b of m.buttons) {
        assert.ok(b.h >= 44, `${name} at ${width}: button "${b.text}" is ${b.h} px high`);
        assert.ok(b.right <= m.width, `${name} at ${width}: button "${b.text}" leaves the view`);
      }
      assert.equal(m.small, 0, `${name} at ${width}: text under 12 px`);
      await page.screenshot({ path: path.join(ARTIFACTS, `${name}-${width}.png`), fullPage: true });
    }
  }
  console.log('all mail checks passed');
} finally {
  await context.close();
  fs.rmSync(userDir, { recursive: true, force: true });
}
