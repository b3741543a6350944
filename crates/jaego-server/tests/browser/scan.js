// The scan station in a real browser (seed 001 송장스캐닝), typed as a
// keyboard-wedge scanner types (the code, then Enter): open a parcel by its
// tracking number, a wrong item, an unknown code, every unit, too many,
// confirm; a second device follows the progress live. Then a second parcel
// by its packing-slip code: staff cannot confirm it half scanned, a manager
// confirms it with a reason. Run by tests/ui.rs (browser_scan_flow) against
// a server with order A-1 (TEE-M 2, CAP 1) packed at wh1 with CJ tracking
// number 612345678901, order A-2 (SOCK 2) packed as slip $SLIP; users
// packer (staff) and boss (manager).
'use strict';
const assert = require('node:assert/strict');
const { BASE, shot, tablet, waitFor, sees, textHas, ready, scanner, main } = require('./lib');

async function scanItem(page, code, expect) {
  const before = await page.$eval('#scan-feedback', (el) => el.textContent + '|' + (el.dataset.n || ''));
  // The feedback may repeat itself: count the scans so each one shows.
  await page.$eval('#scan-feedback', (el) => { el.dataset.n = String(Number(el.dataset.n || 0) + 1); el.textContent = ''; });
  await scanner(page, code);
  await waitFor(page, () => document.getElementById('scan-feedback').textContent !== '');
  const text = await page.textContent('#scan-feedback');
  const result = await page.$eval('#scan-feedback', (el) => el.dataset.result);
  console.log(`  ${code}: ${result}: ${text.replace(/\s+/g, ' ')}`);
  assert.equal(result, expect, text + ' (before: ' + before + ')');
  return text;
}

main('scan station flow', async (browser) => {
  const slip = process.env.SLIP;
  const a = await tablet(browser, 'packer', '/scan');
  const b = await tablet(browser, 'boss', '/scan?code=612345678901');
  assert.equal(await a.evaluate(() => document.activeElement.id), 'scan-code', 'the parcel field has the focus');
  await scanner(a, '612345678901');
  await ready(a, '#scan-item');
  assert.ok((await a.textContent('#shipment')).includes('A-1'));
  assert.ok(await a.evaluate(() => document.activeElement.id === 'scan-item'), 'the item field has the focus');
  assert.equal(await a.$('#override'), null, 'staff get no override');
  assert.ok((await a.getAttribute('a[href^="/api/v1/print/shipments.pdf?shipments="]', 'href')).length > 0, 'a print link');

  console.log('scans:');
  assert.ok((await scanItem(a, 'SOCK', 'wrong_item')).includes('다른 상품입니다: SOCK'));
  assert.ok((await scanItem(a, 'NOPE-404', 'unknown_barcode')).includes('모르는 바코드입니다: NOPE-404'));
  assert.equal(await a.textContent('#progress'), '0 / 3', 'refused scans count nothing');
  let t = Date.now();
  assert.ok((await scanItem(a, 'TEE-M', 'accepted')).includes('TEE-M (이 상품 남은 수량 1)'));
  await sees(b, 'second device sees 1 / 3', t, textHas, ['#progress', '1 / 3']);
  await scanItem(a, '8801234567893', 'accepted');
  assert.ok((await scanItem(a, '8801234567893', 'too_many')).includes('이미 모두 스캔했습니다: TEE-M'));
  assert.equal(await a.$eval('#scan-feedback', (el) => el.className), 'scan-feedback warn');
  await waitFor(a, textHas, ['#progress', '2 / 3']);
  await shot(a, 'scan-station');
  t = Date.now();
  const last = await scanItem(a, 'CAP', 'accepted');
  assert.ok(last.includes('모두 스캔했습니다. 출고를 확정하세요.'), last);
  await sees(b, 'second device sees 3 / 3', t, textHas, ['#progress', '3 / 3']);
  await waitFor(a, () => document.querySelectorAll('.scan-lines tr.done').length === 2);

  console.log('confirm:');
  t = Date.now();
  await a.click('#confirm');
  await a.waitForURL(BASE + '/scan?confirmed=*');
  assert.ok((await a.textContent('p.scan-feedback.ok')).includes('출고 확정'));
  await sees(b, 'second device sees it confirmed', t, () => document.getElementById('shipment').dataset.state === 'confirmed');

  console.log('override:');
  await a.focus('#scan-code');
  await scanner(a, slip);
  await ready(a, '#scan-item');
  assert.ok((await a.textContent('#shipment')).includes('A-2'));
  await scanItem(a, 'SOCK', 'accepted');
  await a.click('#confirm');
  await waitFor(a, () => !document.getElementById('alert').hidden && document.getElementById('alert').textContent !== '');
  const refused = await a.textContent('#alert');
  console.log('  staff confirming half scanned: ' + refused);
  // The API's scan_incomplete detail: "1 of 2 units of shipment … are scanned; …".
  assert.ok(refused.includes('1 of 2 units of shipment'), refused);
  assert.equal(await a.$eval('#shipment', (el) => el.dataset.state), 'open');
  await b.goto(BASE + '/scan');
  await b.focus('#scan-code');
  await scanner(b, slip);
  await ready(b, '#override');
  assert.equal(await b.textContent('#progress'), '1 / 2', 'the count is saved, not per device');
  await b.click('#override summary');
  await b.fill('#override-reason', '스캐너 고장, 수량 직접 확인');
  await b.press('#override-reason', 'Enter');
  await b.waitForURL(BASE + '/scan?confirmed=*');
  await waitFor(a, () => document.getElementById('shipment').dataset.state === 'confirmed');
});
