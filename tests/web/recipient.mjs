// recipient.mjs - the recipient's quarantine at 1280 and 390 px, in English and German.
//
// Started by test_portal.py (PortalRecipientTest) with opesd, Dovecot, clamd, spamd and
// opes-web running and 20 messages held for alice: BASE, LOGIN_LINK, ARTIFACTS, CATALOGS
// (store/base/i18n), ITEM (an HTML message with links), TRACE (its trace id), DELETE_ID,
// RELEASE_IDS, ALLOW_IDS, BLOCK_IDS (comma-separated). On every page at both widths:
// axe-core without serious or critical violations, no horizontal scrolling; in German no
// English sentence of the catalogs. Then a keyboard-only delete and its restore, and the
// bulk actions. Screenshots go to ARTIFACTS with stable names. Throws on failure.
import { chromium } from 'playwright-core';
import AxeBuilder from '@axe-core/playwright';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const BASE = env('BASE');
const ARTIFACTS = env('ARTIFACTS');
const ITEM = env('ITEM');
const DELETE_ID = env('DELETE_ID');
const ids = (name) => env(name).split(',');
const started = Date.now();
const step = (name) => console.log(`-- ${((Date.now() - started) / 1000).toFixed(1)}s ${name}`);

// catalog - the texts of a catalog file, by key
function catalog(file) {
  const out = new Map();
  for (const line of fs.readFileSync(path.join(env('CATALOGS'), file), 'utf8').split('\n')) {
    const m = line.match(/^([A-Za-z0-9_.-]+) = (.*)$/);
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

// the English sentences a German page must not contain: the parts between the {arguments}
// of every English text that German writes differently, of two words or more
const english = [];
for (const domain of ['web', 'reason', 'common']) {
  const en = catalog(`${domain}.en`);
  const de = catalog(`${domain}.de`);
  for (const [key, text] of en) {
    if (de.get(key) === text) continue;
    for (const part of text.split(/\{[a-z_]+\}/)) {
      const p = part.trim();
      if (p.includes(' ') && p.length >= 8) english.push(p);
    }
  }
}

fs.mkdirSync(ARTIFACTS, { recursive: true });
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
const shot = (name) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });

// check - what every page must be: axe-clean (when axe), no sideways scrolling, all in lang
async function check(what, lang, axe = true) {
  if (axe) {
    const results = await new AxeBuilder({ page }).analyze();
    const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(
      bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target).join(' ')})`), [],
      `${what}: axe-core`);
  }
  const [sw, iw] = await page.evaluate(() => [document.scrollingElement.scrollWidth, innerWidth]);
  assert.ok(sw <= iw, `${what}: scrolls sideways (${sw} > ${iw})`);
  assert.equal(await page.getAttribute('html', 'lang'), lang, `${what}: html lang`);
  const shown = await page.evaluate(() => document.body.innerText);
  assert.doesNotMatch(shown, /<\/?(tbody|tr|td|div|p|span)>/, `${what}: markup shown as text`);
  if (lang === 'de') {
    const found = english.filter((s) => shown.includes(s));
    assert.deepEqual(found, [], `${what}: English on the German page`);
  }
}

// contrast - the WCAG contrast ratio of two "rgb(r, g, b)" colours
function contrast(a, b) {
  const lum = (c) => {
    const [r, g, bl] = c.match(/\d+/g).slice(0, 3).map((v) => {
      const s = Number(v) / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

// tabTo - press Tab until the focused element's text matches re; false after max presses
async function tabTo(re, max = 200) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const t = await page.evaluate(() => document.activeElement?.textContent ?? '');
    if (re.test(t)) return true;
  }
  return false;
}

try {
  step('log in with the link');
  await page.goto(env('LOGIN_LINK'));
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await page.waitForURL(`${BASE}/quarantine`);

  step('the list: 20 held, grouped by day, names, sizes and reasons in words');
  assert.match(await page.locator('#total').textContent(), /^20 messages$/);
  assert.ok(await page.locator('tr.day').count() >= 2, 'not grouped by day');
  const body = await page.locator('#items').textContent();
  assert.match(body, /J\u00fcrgen M\u00fcller/);
  assert.match(body, /Likely spam \(score [\d.]+ of [\d.]+\)/);
  assert.match(body, /Virus found: Eicar/);
  assert.match(body, /Sender is on your block list/);
  assert.match(body, /\d+ (bytes|KB)/);
  assert.doesNotMatch(body, /rule \d+ matched|whitelist/i);

  const pages = [
    ['list', '/quarantine'],
    ['item', `/quarantine/${ITEM}`],
    ['deleted', '/quarantine?status=deleted'],
    ['sorted', '/quarantine?sort=size&status=any'],
    ['lists', '/lists'],
    ['prefs', '/prefs'],
    ['trace', `/trace/${env('TRACE')}`],
    ['opes', '/opes'],
    ['privacy', '/privacy'],
    ['login', '/login'],
  ];
  for (const lang of ['en', 'de']) {
    await page.setExtraHTTPHeaders({ 'Accept-Language': lang === 'de' ? 'de-DE,de;q=0.9' : 'en' });
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
      for (const [name, url] of pages) {
        step(`${name} at ${width} px (${lang})`);
        const resp = await page.goto(`${BASE}${url}`);
        assert.equal(resp.status(), 200, url);
        if (['list', 'item', 'prefs', 'lists'].includes(name))
          await shot(`${name}-${width}${lang === 'de' ? '-de' : ''}`);
        if (name === 'item')
          await page.locator('details.tech summary').click(); // and checked open too
        // axe on every page in English; in German where the words differ most in length
        await check(`${url} ${width} ${lang}`, lang, lang === 'en' || name === 'list' || name === 'item');
      }
      // the delete confirmation, a page of its own
      await page.goto(`${BASE}/quarantine`);
      await page.locator(`button[name="one"][value="delete ${DELETE_ID}"]`).click();
      await page.waitForURL(`${BASE}/quarantine/bulk`);
      await check(`delete confirmation ${width} ${lang}`, lang);
    }
  }
  await page.setExtraHTTPHeaders({ 'Accept-Language': 'en' });

  step('at 390 px the list is cards, the subject first');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${BASE}/quarantine`);
  const card = page.locator('tr.row').first();
  const subj = await card.locator('.c-subj').boundingBox();
  const from = await card.locator('.c-from').boundingBox();
  assert.ok(subj.y < from.y, 'the subject is not first on a card');
  assert.ok((await card.boundingBox()).width <= 390, 'a card is wider than the screen');

  step('the item: preview and actions first, entities decoded, links as text, details folded');
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`${BASE}/quarantine/${ITEM}`);
  const preview = await page.locator('#preview').textContent();
  assert.match(preview, /Weiter \u00bb/);
  assert.doesNotMatch(preview, /&raquo;/);
  assert.match(preview, /Sign in \[https:\/\/phish\.example\/login\]/);
  assert.equal(await page.locator('main a[href*="phish.example"]').count(), 0);
  assert.equal(await page.locator('img').count(), 0);
  assert.equal(await page.locator('details.tech').getAttribute('open'), null);
  const y = async (sel) => (await page.locator(sel).first().boundingBox()).y;
  assert.ok(await y('button:text-is("Release")') < await y('#preview'), 'actions below the preview');
  assert.ok(await y('#preview') < await y('details.tech'), 'details above the preview');
  assert.ok(Math.abs(await y('button:text-is("Block sender")') - await y('button:text-is("Release")')) < 5,
            'Block sender is not beside Release');
  assert.match(await page.locator('details.tech').textContent(), /OPES trace/);
  assert.equal(await page.locator('details.tech a[href="/opes"]').count(), 1);

  step('focus is visible with 3:1 contrast, and Delete is reached and confirmed by keyboard');
  await page.goto(`${BASE}/quarantine`);
  await page.locator('#q').focus();
  assert.ok(await tabTo(/^Delete: /), 'Tab never reached a row\'s Delete');
  const ring = await page.evaluate(() => {
    const s = getComputedStyle(document.activeElement);
    return [s.outlineStyle, s.outlineWidth, s.outlineColor];
  });
  assert.notEqual(ring[0], 'none', 'no focus ring');
  assert.ok(parseFloat(ring[1]) >= 2, `focus ring ${ring[1]}`);
  assert.ok(contrast(ring[2], 'rgb(255, 255, 255)') >= 3, `focus ring ${ring[2]} on white`);
  await page.keyboard.press('Enter');
  await page.waitForURL(`${BASE}/quarantine/bulk`);
  await page.getByText('Delete this message?').waitFor();
  const before = await page.evaluate(
    () => document.querySelector('ul.confirm-list li').firstChild.textContent.trim());
  assert.ok(await tabTo(/^Yes, delete$/), 'Tab never reached the confirmation');
  await page.keyboard.press(' ');
  await page.waitForURL(/done=delete&n=1/);
  await page.getByText('1 message deleted.').waitFor();
  assert.match(await page.locator('#total').textContent(), /^19 messages$/);
  await shot('deleted-notice');

  step('Restore undoes the delete');
  await page.getByRole('link', { name: /Deleted messages can be restored/ }).click();
  const gone = page.locator('tr.row', { hasText: before });
  assert.equal(await page.locator('tr.row').count(), 1);
  await gone.getByRole('button', { name: /^Restore/ }).click();
  await page.getByText('1 message restored').waitFor();
  assert.match(await page.locator('#total').textContent(), /^20 messages$/);

  step('select all on the page, then clear it');
  await page.getByRole('link', { name: 'Select all on this page' }).click();
  assert.equal(await page.locator('input[name="id"]:checked').count(), 20);
  await page.getByRole('link', { name: 'Clear the selection' }).click();
  assert.equal(await page.locator('input[name="id"]:checked').count(), 0);

  step('release, allow and block three each at once from the list');
  for (const [list, button, done, left] of [
    ['RELEASE_IDS', 'Release', '3 messages released', 17],
    ['ALLOW_IDS', 'Release and allow sender', '3 messages released, and their senders', 14],
    ['BLOCK_IDS', 'Block sender', '3 senders blocked', 11]]) {
    await page.goto(`${BASE}/quarantine`);
    for (const id of ids(list)) await page.locator(`#sel-${id}`).check();
    await page.locator('.bulk').getByRole('button', { name: button, exact: true }).click();
    await page.getByText(done).waitFor();
    // a release stays "held" until opesd has delivered it
    let total = '';
    for (let i = 0; i < 60 && total !== `${left} messages`; i++) {
      await page.waitForTimeout(500);
      await page.goto(`${BASE}/quarantine`);
      total = (await page.locator('#total').textContent()).trim();
    }
    assert.equal(total, `${left} messages`, `after ${button}`);
  }
  await shot('list-after');

  step('after release, Release is not offered; the allow and block lists say so');
  await page.goto(`${BASE}/quarantine/${ids('RELEASE_IDS')[0]}`);
  assert.equal(await page.locator('#status').getAttribute('data-status'), 'released');
  assert.equal(await page.getByRole('button', { name: 'Release', exact: true }).count(), 0);
  await page.goto(`${BASE}/lists`);
  const lists = await page.locator('#lists tbody').textContent();
  assert.equal((lists.match(/Allow list/g) ?? []).length, 3, lists);
  assert.equal((lists.match(/Block list/g) ?? []).length, 4, lists); // and the one set up before
  console.log('recipient: all browser checks passed');
} catch (e) {
  await shot('recipient-failure').catch(() => {});
  console.error(e);
  process.exitCode = 1;
} finally {
  await browser.close();
}
