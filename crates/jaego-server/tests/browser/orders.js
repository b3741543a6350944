// Orders in a real browser: link an unmatched line, preview an allocation
// run (nothing changes), run it, then work one order (flags, note, stock
// by location) and cancel another. Run by tests/ui.rs (browser_orders_flow)
// against a server with warehouse wh1 (TEE-M 5, CAP 3), channel MALL and
// orders A-1 (TEE-M 2), A-2 (MYSTERY 1, unmatched), A-3 (TEE-M 9); user
// ops (manager).
'use strict';
const assert = require('node:assert/strict');
const { BASE, shot, tablet, waitFor, sees, textHas, ready, main } = require('./lib');

const statusOf = (page, no) =>
  page.$eval(`tr[data-order-no="${no}"] .badge.status`, (el) => el.className.match(/st-(\w+)/)[1]);

main('orders flow', async (browser) => {
  const a = await tablet(browser, 'ops', '/orders');
  const b = await tablet(browser, 'ops', '/orders');
  assert.equal(await statusOf(a, 'A-1'), 'open');
  assert.ok((await a.textContent('#unmatched')).includes('MYSTERY'));

  console.log('link the unmatched line:');
  let t = Date.now();
  await a.fill('#link-0', 'CAP');
  await a.press('#link-0', 'Enter');
  await sees(b, 'second screen sees the queue empty', t, textHas, ['#unmatched', '연결을 기다리는 상품이 없습니다']);

  console.log('preview, then run:');
  await a.selectOption('#run-mode', 'complete');
  await a.click('#preview-run');
  await waitFor(a, textHas, ['#run-result', '미리보기']);
  const preview = await a.textContent('#run-result');
  console.log('  ' + preview.replace(/\s+/g, ' '));
  assert.ok(preview.includes('A-1: 할당 완료'), preview);
  assert.ok(preview.includes('A-3: 건너뜀'), preview);
  assert.equal(await statusOf(a, 'A-1'), 'open', 'a preview changes nothing');
  t = Date.now();
  await a.click('#start-run');
  await waitFor(a, textHas, ['#run-result', '실행 완료']);
  await sees(b, 'second screen sees A-1 and A-2 allocated', t, () =>
    ['A-1', 'A-2'].every((no) => document.querySelector(`tr[data-order-no="${no}"] .st-allocated`)));
  assert.equal(await statusOf(a, 'A-3'), 'open');
  await shot(a, 'orders');

  console.log('one order:');
  await a.click('tr[data-order-no="A-1"] th a');
  await ready(a, '#order-hold');
  assert.ok((await a.textContent('#order')).includes('wh1'), 'stock by location');
  await a.click('label.switch:has(#order-flag)');
  await a.fill('#order-note', '선물 포장');
  await a.press('#order-note', 'Enter');
  await waitFor(a, () => document.getElementById('order-note').defaultValue === '선물 포장');
  await shot(a, 'order');

  console.log('cancel A-3:');
  await a.goto(BASE + '/orders?order_no=A-3');
  await a.click('tr[data-order-no="A-3"] th a');
  await ready(a, '#order-hold');
  t = Date.now();
  await a.click('button.danger[data-url$="/cancel"]');
  await waitFor(a, textHas, ['#order', '취소']);
  await sees(b, 'list shows A-3 cancelled and A-1 flagged', t, () =>
    document.querySelector('tr[data-order-no="A-3"] .st-cancelled') &&
    document.querySelector('tr[data-order-no="A-1"]').textContent.includes('깃발') &&
    document.querySelector('tr[data-order-no="A-1"]').textContent.includes('선물 포장'));

  console.log('channels:');
  await a.goto(BASE + '/channels');
  await a.waitForSelector('#live[data-state="open"]');
  await a.click('label.switch:has(#sharing-enabled)');
  await waitFor(a, () => document.getElementById('sharing-enabled').defaultChecked);
  await a.click('#channels a[href="/channels/MALL"]');
  await a.waitForSelector('#sharing-form');
  await a.check('#sharing-form input[name="enabled"]');
  await a.selectOption('#basis', 'fixed');
  await a.fill('#fixed', '9999');
  await a.click('#sharing-form button[type="submit"]');
  await waitFor(a, () => document.getElementById('fixed').defaultValue === '9999');
  await a.fill('#ex-sku', 'CAP');
  await a.press('#ex-sku', 'Enter');
  await waitFor(a, textHas, ['#channel', '다시 포함']);
  await waitFor(a, textHas, ['#channel', '9999'], 10000);
  await shot(a, 'channel');

  console.log('webhooks:');
  await a.goto(BASE + '/webhooks');
  await a.click('details.panel summary');
  await a.fill('#wh-url', 'http://127.0.0.1:9/hook');
  await a.fill('#wh-kinds', 'order.*, channel.stock');
  await a.click('form[data-url="/api/v1/webhooks"] button[type="submit"]');
  await waitFor(a, () => /^whsec_|^[0-9a-f]{16,}/.test(document.getElementById('webhook-secret').textContent));
  await waitFor(a, textHas, ['#webhooks', 'http://127.0.0.1:9/hook']);
  await shot(a, 'webhooks');
});
