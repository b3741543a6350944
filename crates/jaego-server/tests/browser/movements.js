// Movements in a real browser: a receipt, a count and a transfer from the
// forms, the ledger filtered, and the CSV export. Run by tests/ui.rs
// (browser_movements_flow) against a server with wh1 and st1, TEE-M (5 at
// wh1) and a custom type SAMPLE (out); users kim (staff), park (manager).
'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { BASE, shot, tablet, waitFor, sees, textHas, main } = require('./lib');

main('movements flow', async (browser) => {
  const a = await tablet(browser, 'kim', '/movements');
  // A manager: product status needs catalog:write, which staff lack.
  const b = await tablet(browser, 'park', '/stock');

  console.log('a receipt from the form:');
  await a.click('#movement-form-panel summary');
  await a.selectOption('#mv-kind', 'receipt');
  await a.fill('#mv-sku', 'TEE-M');
  await a.selectOption('#mv-location', 'wh1');
  await a.fill('#mv-qty', '7');
  await a.fill('#mv-ref', 'PO-1');
  let t = Date.now();
  await a.click('#movement-form button[type="submit"]');
  await waitFor(a, textHas, ['#ledger', 'PO-1']);
  await sees(b, 'integrated stock shows 12 on hand', t, textHas, ['#sku-TEE-M .sku-row', '12']);

  console.log('a custom movement type and a count:');
  await a.selectOption('#mv-kind', 'custom:SAMPLE');
  await a.fill('#mv-sku', 'TEE-M');
  await a.selectOption('#mv-location', 'wh1');
  await a.fill('#mv-qty', '2');
  await a.fill('#mv-ref', 'showroom');
  await a.click('#movement-form button[type="submit"]');
  await waitFor(a, textHas, ['#ledger', 'custom_out:SAMPLE']);
  await a.selectOption('#mv-kind', 'count');
  await a.fill('#mv-sku', 'TEE-M');
  await a.selectOption('#mv-location', 'wh1');
  await a.fill('#mv-qty', '9');
  await a.fill('#mv-ref', 'stocktake');
  await a.click('#movement-form button[type="submit"]');
  await waitFor(a, textHas, ['#ledger', 'stocktake']);

  console.log('a transfer:');
  await a.click('#transfer-form-panel summary');
  await a.fill('#tr-sku', 'TEE-M');
  await a.selectOption('#tr-from', 'wh1');
  await a.selectOption('#tr-to', 'st1');
  await a.fill('#tr-qty', '4');
  t = Date.now();
  await a.click('#transfer-form button[type="submit"]');
  await sees(b, 'integrated stock shows 4 in transit', t, () => {
    const rows = Array.from(document.querySelectorAll('#sku-TEE-M .loc-row'));
    return rows.some((r) => r.querySelectorAll('td')[6].textContent.trim() === '4');
  });
  // Bad input is refused with the API's words and changes nothing.
  await a.fill('#tr-sku', 'NOPE');
  await a.fill('#tr-qty', '1');
  await a.click('#transfer-form button[type="submit"]');
  await waitFor(a, () => !document.getElementById('alert').hidden && document.getElementById('alert').textContent !== '');
  const refused = await a.textContent('#alert');
  console.log('  a transfer of an unknown SKU: ' + refused);
  assert.ok(refused.includes('sku NOPE not found'), refused);
  await shot(a, 'movements');

  console.log('product status from the integrated stock:');
  await b.click('#sku-TEE-M details.status-edit summary');
  await b.check('#sku-TEE-M input[name="reorder"]');
  await b.fill('#sku-TEE-M input[name="reorder_on"]', '2026-12-01');
  await b.fill('#sku-TEE-M input[name="limited_stock"]', '3');
  await b.click('#sku-TEE-M details.status-edit button[type="submit"]');
  await waitFor(b, textHas, ['#sku-TEE-M .flags', '리오더 2026-12-01']);
  await waitFor(b, textHas, ['#sku-TEE-M .flags', '재고한정 3']);
  await shot(b, 'integrated-stock');

  console.log('filters and CSV:');
  await a.goto(BASE + '/movements?kind=count');
  const kinds = await a.$$eval('#ledger tbody tr', (rows) => rows.map((r) => r.dataset.kind));
  assert.deepEqual(kinds, ['count']);
  const [download] = await Promise.all([a.waitForEvent('download'), a.click('#csv-export')]);
  const csv = fs.readFileSync(await download.path(), 'utf8');
  const lines = csv.trim().split('\n');
  assert.equal(lines.length, 2, csv);
  assert.ok(lines[0].startsWith('created_at,kind,type,sku,location,quantity'));
  assert.ok(lines[1].includes(',count,,TEE-M,wh1,-1,-1,') && lines[1].includes('stocktake'), csv);

  console.log('labels:');
  await a.goto(BASE + '/labels');
  await a.selectOption('#template', 'shelf');
  await a.fill('#skus', 'TEE-M');
  await a.fill('#copies', '3');
  await a.click('form.filters button[type="submit"]');
  await a.waitForSelector('button[data-print]');
  await waitFor(a, () => {
    const imgs = Array.from(document.querySelectorAll('#labels img.label'));
    return imgs.length === 3 && imgs.every((i) => i.complete && i.naturalWidth > 0);
  });
  await shot(a, 'labels');
  const pdfHref = await a.getAttribute('#labels-pdf', 'href');
  assert.equal(pdfHref, '/labels.pdf?template=shelf&skus=TEE-M&copies=3&skip=0');
  const pdf = await a.request.get(BASE + pdfHref);
  assert.equal(pdf.status(), 200);
  assert.equal(pdf.headers()['content-type'], 'application/pdf');
  assert.equal((await pdf.body()).subarray(0, 4).toString(), '%PDF');
});
