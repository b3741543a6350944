// Helpers shared by the browser tests (run by tests/ui.rs).
'use strict';
const { chromium } = require('playwright-core');
const assert = require('node:assert/strict');
const path = require('node:path');

const BASE = process.env.BASE_URL;
const PASSWORD = process.env.PASSWORD;
const SHOTS = process.env.SCREENSHOTS;
const problems = [];

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, name + '.png') });
}

// Opens `target` in a new browser context (its own cookies: a separate
// tablet), is sent to the sign-in page, signs in with the keyboard only.
async function tablet(browser, login, target, loginShot) {
  const context = await browser.newContext({ viewport: { width: 768, height: 1024 }, locale: 'ko-KR' });
  const page = await context.newPage();
  page.on('dialog', (d) => d.accept());
  page.on('pageerror', (e) => problems.push(login + ': ' + e.message));
  // (Failed requests show as console errors too; refused orders are expected.)
  page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && problems.push(login + ': console: ' + m.text()));
  await page.goto(BASE + target);
  assert.match(page.url(), /\/login\?next=/, 'an anonymous visit goes to the sign-in page');
  if (loginShot) await shot(page, loginShot);
  await page.focus('#login');
  await page.keyboard.type(login);
  await page.keyboard.press('Tab');
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Enter');
  await page.waitForURL(BASE + target);
  await page.waitForSelector('#live[data-state="open"]');
  return page;
}

// Waits until `fn(arg)` holds in `page`, polling with page.evaluate (the
// pages' CSP forbids the eval that page.waitForFunction needs, and the
// test keeps the CSP on).
async function waitFor(page, fn, arg, timeout = 5000) {
  const end = Date.now() + timeout;
  for (;;) {
    if (await page.evaluate(fn, arg)) return;
    if (Date.now() > end) {
      const state = await page.evaluate(() => ({
        url: location.href,
        alert: (document.getElementById('alert') || {}).textContent,
        active: document.activeElement && document.activeElement.id,
        inputs: Array.from(document.querySelectorAll('input[data-field]')).map((i) => [i.id, i.value, i.defaultValue]),
      }));
      throw new Error('timed out waiting for ' + fn.toString() + ' ' + JSON.stringify(arg) + '\n' + JSON.stringify(state));
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

// Waits until `fn(arg)` holds on `page` without a reload; logs how long
// the change took to show, counted from `since`.
async function sees(page, what, since, fn, arg) {
  const url = page.url();
  await waitFor(page, fn, arg);
  assert.equal(page.url(), url, 'no navigation');
  console.log(`  ${what}: ${Date.now() - since} ms`);
}

const checked = (id) => document.getElementById(id) && document.getElementById(id).checked;
const valueIs = ([id, v]) => document.getElementById(id) && document.getElementById(id).value === v;
const textHas = ([sel, text]) => {
  const el = document.querySelector(sel);
  return !!el && el.textContent.includes(text);
};

// What a keyboard-wedge scanner does: types the code and presses Enter.
// After a navigation: the page has `selector` and its script has run (the
// live stream is open), so a scan or click at once goes to the script's
// handlers, not to a form's own submission. Under load the element can be
// there before the deferred script has bound the forms.
async function ready(page, selector) {
  await page.waitForSelector(selector);
  await page.waitForSelector('#live[data-state="open"]');
}

async function scanner(page, code) {
  await page.keyboard.type(code);
  await page.keyboard.press('Enter');
}

async function launch() {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
}

// Runs `body(browser)`, closes the browser, fails on any script error.
function main(name, body) {
  (async () => {
    const browser = await launch();
    try {
      await body(browser);
      assert.deepEqual(problems, [], 'no script errors');
      console.log(name + ': ok');
    } finally {
      await browser.close();
    }
  })().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}

module.exports = { BASE, PASSWORD, problems, shot, tablet, waitFor, sees, checked, valueIs, textHas, ready, scanner, main };
