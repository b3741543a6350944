// Seed 000 (H68 재고관리) in a real browser: two admin tablets and a
// customer screen, 768 × 1024. Run by tests/ui.rs (browser_table_order_flow)
// against a fresh server with 강남점 (gangnam) and an untracked menu of
// KIMCHI 김치찌개, BIBIM 비빔밥, WATER 생수; users owner@gangnam (owner) and
// table7 (staff).
'use strict';
const assert = require('node:assert/strict');
const { BASE, shot, tablet, waitFor, sees, checked, valueIs, textHas, main } = require('./lib');

const ADMIN = '/table-order/gangnam';
const CUSTOMER = '/table-order/gangnam/customer?table=7';

async function setCount(page, id, value) {
  await page.focus('#' + id);
  await page.keyboard.press('Control+A');
  await page.keyboard.type(String(value));
  await page.keyboard.press('Enter');
  await waitFor(page, ([i, v]) => document.getElementById(i).defaultValue === v, [id, String(value)]);
}

main('table order flow', async (browser) => {
  const a = await tablet(browser, 'owner@gangnam', ADMIN, 'login');
  const b = await tablet(browser, 'owner@gangnam', ADMIN);
  const c = await tablet(browser, 'table7', CUSTOMER);
  // Every page shows the admin tablet by default in Korean.
  assert.ok((await a.textContent('h1')).includes('재고관리'));

  console.log('tracking per item, then for all:');
  let t = Date.now();
  await a.click('label.switch:has(#item-KIMCHI-tracked)');
  await sees(b, 'second tablet sees KIMCHI tracked', t, checked, 'item-KIMCHI-tracked');
  t = Date.now();
  await a.click('#track-all');
  await sees(b, 'second tablet sees all tracked', t, () =>
    ['BIBIM', 'KIMCHI', 'WATER'].every((s) => document.getElementById(`item-${s}-tracked`).checked));

  console.log('counts edited in place (keyboard only):');
  t = Date.now();
  await setCount(a, 'item-BIBIM-initial', 3);
  await setCount(a, 'item-BIBIM-current', 2);
  await setCount(a, 'item-KIMCHI-initial', 5);
  await setCount(a, 'item-KIMCHI-current', 1);
  await sees(b, 'second tablet sees the counts', t, (ids) => ids.every(([i, v]) => document.getElementById(i).value === v),
    [['item-BIBIM-initial', '3'], ['item-BIBIM-current', '2'], ['item-KIMCHI-initial', '5'], ['item-KIMCHI-current', '1']]);
  t = Date.now();
  await setCount(b, 'item-WATER-initial', 4);
  await sees(a, 'first tablet sees the second one\'s count', t, valueIs, ['item-WATER-initial', '4']);

  console.log('options: reset to the initial count daily at 04:00, show remaining:');
  await a.check('input[name="reset_mode"][value="to_initial"]');
  await a.check('input[name="schedule"][value="daily"]');
  await a.fill('#reset-time', '04:00');
  await a.check('#show-remaining');
  t = Date.now();
  await a.click('#settings-form button[type="submit"]');
  await sees(c, 'customer screen shows the remaining counts', t, textHas, ['#menu-BIBIM', '남은 수량 2']);
  await sees(b, 'second tablet sees the schedule', t, textHas, ['#settings-summary', '04:00']);
  assert.ok(await c.isDisabled('#menu-WATER'), 'WATER at 0 is sold out');
  assert.ok((await c.textContent('#menu-WATER')).includes('품절'));

  console.log('the customer orders:');
  await c.click('#menu-BIBIM');
  t = Date.now();
  await c.click('#place-order');
  await waitFor(c, textHas, ['#order-message', '주문했습니다']);
  await sees(a, 'admin tablet sees the sale', t, valueIs, ['item-BIBIM-current', '1']);
  await sees(c, 'customer screen shows 1 left', t, textHas, ['#menu-BIBIM', '남은 수량 1']);

  // Two 김치찌개 with one left: refused, naming the dish.
  await c.click('#menu-KIMCHI');
  await c.click('#menu-KIMCHI');
  await c.click('#place-order');
  await waitFor(c, textHas, ['#order-message', '김치찌개']);
  const message = (await c.textContent('#order-message')).trim();
  assert.equal(message, '재고가 부족합니다: 김치찌개 (남은 수량 1개)');
  console.log('  refused: ' + message);
  await shot(c, 'customer-screen');
  // One is fine, and sells it out everywhere.
  await c.click('[data-dec="KIMCHI"]');
  t = Date.now();
  await c.click('#place-order');
  await sees(c, 'customer screen shows KIMCHI sold out', t, () => document.getElementById('menu-KIMCHI').disabled);
  await sees(a, 'admin tablet shows KIMCHI at 0, sold out', t, ([i, v]) =>
    document.getElementById(i).value === v && document.getElementById('item-KIMCHI').classList.contains('sold-out'),
  ['item-KIMCHI-current', '0']);

  // The last 비빔밥 goes while another customer still has it in the cart.
  await c.click('#menu-BIBIM');
  await setCount(a, 'item-BIBIM-current', 0);
  await sees(c, 'customer screen shows BIBIM sold out', t, () => document.getElementById('menu-BIBIM').disabled);
  await c.click('#place-order');
  await waitFor(c, textHas, ['#order-message', '비빔밥']);
  assert.equal((await c.textContent('#order-message')).trim(), '재고가 부족합니다: 비빔밥 (남은 수량 0개)');
  await c.click('[data-dec="BIBIM"]');
  await shot(c, 'customer-sold-out');

  console.log('reset now:');
  t = Date.now();
  await a.click('#reset-now');
  await sees(b, 'second tablet sees the initial counts', t, (ids) => ids.every(([i, v]) => document.getElementById(i).value === v),
    [['item-BIBIM-current', '3'], ['item-KIMCHI-current', '5'], ['item-WATER-current', '4']]);
  await sees(c, 'customer screen can order again', t, () =>
    !document.getElementById('menu-KIMCHI').disabled && document.getElementById('menu-KIMCHI').textContent.includes('남은 수량 5'));
  await shot(a, 'admin-tablet');

  console.log('a set short of one of its parts:');
  await sees(c, 'customer screen shows the set from its parts', t, textHas, ['#menu-SET', '남은 수량 2']);
  // 4 김치찌개 and a set of 2 김치찌개 + 1 비빔밥 need 6 of 5: refused,
  // naming the set the customer chose and the part that is short.
  for (let i = 0; i < 4; i++) await c.click('#menu-KIMCHI');
  await c.click('#menu-SET');
  await c.click('#place-order');
  await waitFor(c, textHas, ['#order-message', '세트']);
  const setMessage = (await c.textContent('#order-message')).trim();
  assert.equal(setMessage, '재고가 부족합니다: 점심 세트의 김치찌개 (남은 수량 5개)');
  console.log('  refused: ' + setMessage);
  for (let i = 0; i < 4; i++) await c.click('[data-dec="KIMCHI"]');
  await c.click('[data-dec="SET"]');

  console.log('search and filters:');
  await a.fill('#q', '비빔');
  await a.press('#q', 'Enter');
  await a.waitForURL(/q=/);
  assert.deepEqual(await a.$$eval('#menu-items tbody tr', (rows) => rows.map((r) => r.dataset.sku)), ['BIBIM']);
  await a.goto(BASE + ADMIN + '?show=untracked');
  assert.equal(await a.$$eval('#menu-items tbody tr', (rows) => rows.length), 0);
  await a.waitForSelector('#live[data-state="open"]');

  console.log('English:');
  await a.click('a.lang[lang="en"]');
  await a.waitForSelector('text=Turn on for all');
  assert.ok((await a.textContent('h1')).includes('Stock menu'));
  await a.goto(BASE + ADMIN);
  await shot(a, 'admin-tablet-en');
  await a.click('a.lang[lang="ko"]');
  await a.waitForSelector('text=전체사용');

  console.log('integrated stock:');
  await a.goto(BASE + '/stock');
  assert.ok((await a.textContent('#sku-KIMCHI')).includes('김치찌개'));

  console.log('sign out:');
  await a.click('.signout button');
  await a.waitForURL(/\/login/);
  await a.goto(BASE + ADMIN);
  assert.match(a.url(), /\/login\?next=/);

});
