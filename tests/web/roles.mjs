// roles.mjs - a release request in headless Chromium: the recipient asks for the
// release of a virus with a reason, the domain administrator approves it in the queue.
//
// Started by test_roles.py with a running opesd, clamd, Dovecot and opes-web:
// BASE (portal URL), RECIPIENT_LINK and APPROVER_LINK (login links), ITEM (the
// recipient's held virus), ARTIFACTS (directory for screenshots). Every check throws on
// failure; the exit status tells the Python side.
import assert from 'node:assert/strict';
import { env, launch, step } from './browser.mjs';

const BASE = env('BASE');
const ITEM = env('ITEM');
const { context, page, shot, close } = await launch(env('ARTIFACTS'), 'roles-');

async function login(link) {
  await context.clearCookies();
  await page.goto(link);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/login/'));
}

try {
  step('the recipient sees no Release for a virus, only a request with a reason');
  await login(env('RECIPIENT_LINK'));
  await page.goto(`${BASE}/quarantine/${ITEM}`);
  assert.equal(await page.getByRole('button', { name: 'Release', exact: true }).count(), 0);
  await page.getByLabel('Why do you need it? (optional)').fill('the supplier resent it');
  await shot('ask');
  await page.getByRole('button', { name: 'Ask for release' }).click();
  await page.getByText('Your request was sent to your administrator').waitFor();
  await page.getByText('Release request: waiting for a decision').waitFor();
  await shot('asked');

  step('the approver finds it in the queue and approves it with a comment');
  await login(env('APPROVER_LINK'));
  await page.goto(`${BASE}/admin/requests`);
  const row = page.locator('tr', { hasText: 'the supplier resent it' });
  await row.getByLabel('Comment').fill('checked by phone');
  await shot('queue');
  await row.getByRole('button', { name: 'Approve and release' }).click();
  await page.getByText('Approved: the message is being delivered').waitFor();
  await shot('approved');
  console.log('all browser checks passed');
} finally {
  await close();
}
