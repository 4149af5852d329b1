// spam.mjs - a recipient chooses a spam level on /prefs/spam in headless Chromium.
//
// Started by test_spam_portal.py with a running opesd and opes-web: BASE (portal URL),
// LOGIN_LINK (a login link for alice), ARTIFACTS (directory for screenshots). Every check
// throws on failure; the exit status tells the Python side, which then reads the store.
import assert from 'node:assert/strict';
import { env, launch, step } from './browser.mjs';

const BASE = env('BASE');
const { page, shot, close } = await launch(env('ARTIFACTS'), 'spam-');

try {
  step('log in with the link, then from the preferences to the spam page');
  await page.goto(env('LOGIN_LINK'));
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await page.waitForLoadState();
  await page.goto(`${BASE}/prefs`);
  await page.getByRole('link', { name: 'Spam: where it goes, and from which score' }).click();
  await page.waitForURL(`${BASE}/prefs/spam`);

  step('each level is explained in one sentence; normal is chosen until one chooses');
  for (const [label, sentence] of [
    ['Lenient', 'Less mail is treated as spam'],
    ['Normal', 'The thresholds the operator chose for everyone'],
    ['Strict', 'More mail goes to your Junk folder or is held'],
    ['My own scores', 'Your own scores, which the operator keeps within limits'],
  ]) {
    const text = await page.locator('label', { hasText: label }).first().textContent();
    assert.ok(text.includes(sentence), `${label}: ${text}`);
    assert.equal(text.split('. ').length, 1, `${label}: more than one sentence: ${text}`);
  }
  assert.equal(await page.locator('#level-normal').isChecked(), true);
  await shot('page');

  step('strict, saved and shown as chosen');
  await page.locator('#level-strict').check();
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByText('Your spam level is saved.').waitFor();
  assert.equal(await page.locator('#level-strict').isChecked(), true);

  step('own scores that fall are refused, with the reason; the stored level stays');
  await page.locator('#level-custom').check();
  await page.locator('#tag').fill('9');
  await page.locator('#junk').fill('4');
  await page.locator('#quarantine').fill('12');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByText('own scores are 0 to 1000 and rise').waitFor();
  assert.equal(await page.locator('#level-strict').isChecked(), true);

  step('own scores that rise are kept, the Junk folder left empty: never');
  await page.locator('#level-custom').check();
  await page.locator('#tag').fill('4');
  await page.locator('#junk').fill('');
  await page.locator('#quarantine').fill('15.5');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByText('Your spam level is saved.').waitFor();
  assert.equal(await page.locator('#quarantine').inputValue(), '15.5');
  assert.equal(await page.locator('#junk').inputValue(), '');
  await shot('custom');
} catch (e) {
  await shot('failure').catch(() => {});
  console.error(e);
  process.exitCode = 1;
} finally {
  await close();
}
