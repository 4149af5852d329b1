// portal.mjs - the recipient's way through the portal in headless Chromium.
//
// Started by test_portal.py with a running opesd, Dovecot and opes-web:
// BASE (portal URL), LOGIN_LINK (the item link of alice's notification), ACTION_LINK (a one-time
// delete link for ACTION_ITEM), ITEM (alice's held message), OTHER_ITEM
// (bob's), SENDER, ADMIN and ADMIN_PASSWORD (an administrator), ARTIFACTS
// (directory for screenshots). Every check throws
// on failure; the exit status tells the Python side.
import assert from 'node:assert/strict';
import { env, launch, step } from './browser.mjs';

const BASE = env('BASE');
const ARTIFACTS = env('ARTIFACTS');
const ITEM = env('ITEM');
const OTHER_ITEM = env('OTHER_ITEM');
const SENDER = env('SENDER');

const { context, page, shot, close } = await launch(ARTIFACTS);
let dialogs = 0;
page.on('dialog', async (d) => { dialogs++; await d.dismiss(); });

async function noScriptRan() {
  assert.equal(dialogs, 0, 'a script in the message ran');
  assert.equal(await page.locator('script').count(), 0, 'the page has a script element');
}

try {
  step('public page /opes: the services and their URIs, and the security headers');
  let resp = await page.goto(`${BASE}/opes`);
  assert.equal(resp.status(), 200);
  const headers = resp.headers();
  assert.match(headers['content-security-policy'], /default-src 'none'/);
  assert.match(headers['content-security-policy'], /frame-ancestors 'none'/);
  assert.equal(headers['x-frame-options'], 'DENY');
  assert.equal(headers['x-content-type-options'], 'nosniff');
  assert.equal(headers['referrer-policy'], 'no-referrer');
  const services = await page.locator('section.card').allTextContents();
  assert.ok(services.some((t) => t.includes('http://opes.example.org/opes/service/rules')), services.join('|'));
  assert.ok(services.some((t) => t.includes('mandatory')));
  await shot('opes');

  step('"send me a login link" answers the same for a known and an unknown address');
  const known = await page.request.post(`${BASE}/login`, { form: { address: 'alice@example.org' } });
  const unknown = await page.request.post(`${BASE}/login`, { form: { address: 'nobody@nowhere.example' } });
  assert.equal(known.status(), 200);
  assert.equal(unknown.status(), 200);
  assert.equal(await known.text(), await unknown.text());

  step('without a session the quarantine is behind the login');
  await page.goto(`${BASE}/quarantine`);
  assert.equal(new URL(page.url()).pathname, '/login');

  step('the login link shows a confirmation first; the click logs in');
  resp = await page.goto(env('LOGIN_LINK'));
  assert.equal(resp.status(), 200);
  assert.equal(resp.headers()['cache-control'], 'no-store');
  await page.getByText('alice@example.org').first().waitFor();
  await shot('login-confirm');
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  // a notification's link opens the held item itself
  await page.waitForURL(`${BASE}/quarantine/${ITEM}`);
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'opes_session');
  assert.ok(session, 'no session cookie');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');

  step('the quarantine lists the held message, its subject as text');
  await page.goto(`${BASE}/quarantine`);
  const row = page.locator('tbody tr', { hasText: 'alert(1)' }).first();
  await row.waitFor();
  assert.match(await row.textContent(), /<script>alert\(1\)<\/script>/);
  assert.equal(await page.locator(`a[href="/quarantine/${OTHER_ITEM}"]`).count(), 0);
  await noScriptRan();
  await shot('quarantine');

  step('the item: escaped plain-text preview, attachment, trace');
  await page.locator(`a[href="/quarantine/${ITEM}"]`).click();
  await page.waitForURL(`${BASE}/quarantine/${ITEM}`);
  const preview = await page.locator('#preview').textContent();
  assert.match(preview, /<script>alert\('plain'\)<\/script>/);
  assert.match(preview, /PLAIN-PART-MARKER/);
  assert.doesNotMatch(preview, /HTML-PART-MARKER/);
  assert.match(await page.locator('ul.attachments').textContent(), /notes\.txt/);
  const trace = await page.locator('table.trace').textContent();
  assert.match(trace, /rules/);
  assert.match(trace, /quarantine/);
  await noScriptRan();
  await shot('item');

  step('a POST without the CSRF token is refused and changes nothing');
  const forged = await page.request.post(`${BASE}/quarantine/${ITEM}`, { form: { action: 'delete' } });
  assert.equal(forged.status(), 403);
  await page.reload();
  assert.equal(await page.locator('#status').getAttribute('data-status'), 'held');

  step("another recipient's item is not found");
  resp = await page.goto(`${BASE}/quarantine/${OTHER_ITEM}`);
  assert.equal(resp.status(), 404);
  assert.doesNotMatch(await page.content(), /for bob/);
  const api = await page.request.get(`${BASE}/api/v1/quarantine/${OTHER_ITEM}`);
  assert.equal(api.status(), 404);

  step('release and whitelist the sender');
  await page.goto(`${BASE}/quarantine/${ITEM}`);
  await page.getByLabel(SENDER, { exact: true }).check();
  await page.getByRole('button', { name: 'Release and allow sender' }).click();
  await page.waitForURL(/done=release-whitelist/);
  // the release is on its way: no action is offered twice
  assert.equal(await page.getByRole('button', { name: 'Release', exact: true }).count(), 0);
  let status = '';
  for (let i = 0; i < 60 && status !== 'released'; i++) {
    await page.waitForTimeout(500);
    await page.reload();
    status = await page.locator('#status').getAttribute('data-status');
  }
  assert.equal(status, 'released', 'opesd did not carry out the release');
  await shot('released');
  await page.goto(`${BASE}/lists`);
  const lists = await page.locator('#lists tbody').textContent();
  assert.match(lists, new RegExp(SENDER.replace('.', '\\.')));
  assert.match(lists, /Allow list/);
  await shot('lists');

  step('a one-time action link: confirm, then refused the second time');
  resp = await page.goto(env('ACTION_LINK'));
  assert.equal(resp.status(), 200);
  await page.getByText('delete this message').waitFor();
  await page.getByRole('button', { name: 'Confirm' }).click();
  await page.getByText('The message is deleted.').waitFor();
  resp = await page.goto(env('ACTION_LINK'));
  assert.equal(resp.status(), 410);
  await page.getByText('This link was already used').waitFor();
  const again = await page.request.post(env('ACTION_LINK'));
  assert.equal(again.status(), 410);
  await shot('link-used');

  step('the other pages render for the recipient');
  for (const p of ['/prefs', '/privacy']) {
    resp = await page.goto(`${BASE}${p}`);
    assert.equal(resp.status(), 200, p);
    await shot(p.slice(1));
  }

  step('log out');
  await page.getByRole('button', { name: /Log out/ }).click();
  await page.goto(`${BASE}/quarantine`);
  assert.equal(new URL(page.url()).pathname, '/login');

  step('an administrator logs in with a password and sees every recipient');
  await page.goto(`${BASE}/admin/login`);
  await page.getByLabel('Address').fill(env('ADMIN'));
  await page.getByLabel('Password').fill(env('ADMIN_PASSWORD'));
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(`${BASE}/admin`);
  assert.equal(await page.locator('svg.chart rect').count() > 0, true, 'no chart');
  assert.match(await page.locator('svg.chart title').first().textContent(), /Decisions of the checks per day/);
  await shot('admin');
  await page.goto(`${BASE}/quarantine`);
  assert.equal(await page.locator(`a[href="/quarantine/${OTHER_ITEM}"]`).count(), 1);
  assert.ok(await page.locator(`input[name="id"][value="${OTHER_ITEM}"]`).count() === 1);
  await noScriptRan();
  await shot('admin-quarantine');
  console.log('portal: all browser checks passed');
} catch (e) {
  await shot('failure').catch(() => {});
  console.error(e);
  process.exitCode = 1;
} finally {
  await close();
}
