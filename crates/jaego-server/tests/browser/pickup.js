// The pickup counter in a real browser (seed 001): the receipt and every
// unit scanned into the hanger (reception), then the customer's slip, the
// receipt and every unit scanned out (completion), complete, the history
// in its colours, the print schedule. Run by
// tests/ui.rs (browser_pickup_flow) against a server with store st1 (TEE-M
// 3) and order P-1 (TEE-M 2 for pickup at st1); user clerk (manager).
'use strict';
const assert = require('node:assert/strict');
const { BASE, shot, tablet, waitFor, textHas, ready, scanner, main } = require('./lib');

async function scan(page, code, expect) {
  const before = await page.$eval('#scan-feedback', (el) => el.textContent);
  await scanner(page, code);
  await waitFor(page, ([b]) => document.getElementById('scan-feedback').textContent !== b, [before]);
  const result = await page.$eval('#scan-feedback', (el) => el.dataset.result);
  console.log(`  ${code}: ${result}: ${(await page.textContent('#scan-feedback')).replace(/\s+/g, ' ')}`);
  assert.equal(result, expect);
}

main('pickup flow', async (browser) => {
  const receipt = process.env.RECEIPT;
  const a = await tablet(browser, 'clerk', '/pickup/st1?tab=reception');

  console.log('reception:');
  await a.focus('#pk-code');
  await scanner(a, receipt);
  await ready(a, '#scan-item');
  await scan(a, 'TEE-M', 'item');
  await scan(a, 'NOPE-404', 'unknown_barcode');
  await scan(a, 'TEE-M', 'item');
  assert.ok((await a.textContent('#scan-feedback')).includes('모두 접수했습니다'));
  await waitFor(a, () => document.getElementById('pickup').dataset.status === 'received');
  await shot(a, 'pickup-reception');

  console.log('completion:');
  await a.click('nav.tabs a[href$="tab=completion"]');
  await a.focus('#pk-code');
  await scanner(a, receipt);
  await ready(a, '#scan-item');
  await scan(a, 'P-1', 'slip');
  await scan(a, receipt, 'receipt');
  await scan(a, 'TEE-M', 'item');
  await scan(a, 'TEE-M', 'item');
  await a.click('#complete');
  await waitFor(a, () => document.getElementById('pickup').dataset.status === 'completed');

  console.log('history and print schedule:');
  await a.click('nav.tabs a[href$="tab=history"]');
  await a.waitForSelector(`tr[data-receipt="${receipt}"].pk-completed`);
  const colour = await a.$eval(`tr[data-receipt="${receipt}"] td`, (td) => getComputedStyle(td).color);
  assert.equal(colour, 'rgb(29, 78, 216)', 'completed is blue');
  await shot(a, 'pickup-history');
  await a.click('nav.tabs a[href$="tab=settings"]');
  await a.check('input[name="minute"][value="5"]');
  await a.check('input[name="minute"][value="35"]');
  await a.click('#print-settings button[type="submit"]');
  await waitFor(a, textHas, ['#toast', '저장했습니다']);
});
