// browser.mjs - what the portal's browser scripts share: their settings from the
// environment, and Debian's Chromium started headless through playwright-core with a
// fresh profile (TESTING.md: never a downloaded browser).
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// env - a setting the Python side must have given.
export const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

// launch - Chromium with its first page; shot(name) saves a screenshot into artifacts,
// close() ends the browser and removes the profile.
export async function launch(artifacts, prefix = '') {
  fs.mkdirSync(artifacts, { recursive: true });
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opes-chromium-'));
  const context = await chromium.launchPersistentContext(userDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? await context.newPage();
  const shot = (name) => page.screenshot({ path: path.join(artifacts, `${prefix}${name}.png`), fullPage: true });
  const close = async () => {
    await context.close();
    fs.rmSync(userDir, { recursive: true, force: true });
  };
  return { context, page, shot, close };
}

export const step = (name) => console.log(`-- ${name}`);
