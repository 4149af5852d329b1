// password.mjs - a recipient logs in to the portal with the password of her mailbox.
//
// Started by test_passauth.py with opesd, opes-web ([web] password_auth) and a Dovecot
// that knows alice's password: BASE, ADDRESS, PASSWORD, ARTIFACTS. A wrong password
// leaves her on the login page with a plain sentence; the right one opens her quarantine.
import assert from 'node:assert/strict';
import { env, launch, step } from './browser.mjs';

const BASE = env('BASE');
const { page, shot, close } = await launch(env('ARTIFACTS'), 'password-');

try {
  step('the login page offers the mail password first, the login link after it');
  await page.goto(`${BASE}/login`);
  await page.getByLabel('Mail address').first().fill(env('ADDRESS'));
  await page.getByLabel('Password (the one of your mailbox)').fill('not-the-password');
  await shot('login');
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await page.getByText('The address or the password is not right.').waitFor();
  assert.equal(new URL(page.url()).pathname, '/login/password');

  step('the right password opens the quarantine');
  await page.getByLabel('Mail address').first().fill(env('ADDRESS'));
  await page.getByLabel('Password (the one of your mailbox)').fill(env('PASSWORD'));
  await page.keyboard.press('Enter');
  await page.waitForURL(`${BASE}/quarantine`);
  await page.getByRole('heading', { level: 1 }).first().waitFor();
  await shot('quarantine');
} catch (e) {
  await shot('failure');
  console.error(e);
  process.exitCode = 1;
} finally {
  await close();
}
