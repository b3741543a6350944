// jaego's web UI script: no build step, no libraries.
//
// - Changes go to the JSON API (/api/v1) with the session cookie and the
//   page's CSRF token (X-CSRF-Token); errors are the API's problem+json.
//   * button[data-url]            sends data-method to data-url (optional
//                                 data-body JSON, data-confirm question)
//   * input[data-field]           sends {field: value} on change / Enter
//   * form[data-api]              sends its fields as JSON ({name} in
//                                 data-url is filled from a data-path field)
//   * scan forms (data-scan)      a keyboard-wedge scanner types a code
//                                 and Enter; see scan() below
// - Live: follows /api/v1/events/stream for the kinds in
//   <body data-live-events>, and on an event fetches the page again and
//   brings every [data-live-region] (by id) up to date in place (a small
//   DOM morph), so focus survives and a field being edited keeps its text.
// - The customer screen's cart (#cart).
(function () {
  'use strict';

  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const strings = () => ($('#strings') || { dataset: {} }).dataset;
  const csrf = () => {
    const meta = $('meta[name="csrf-token"]');
    return meta ? meta.content : '';
  };
  // Fills {name} and {a.b} placeholders from `vars`.
  const fmt = (text, vars) =>
    String(text).replace(/\{([\w.]+)\}/g, (m, k) => {
      const v = k.split('.').reduce((o, key) => (o == null ? undefined : o[key]), vars);
      return v === undefined ? m : String(v);
    });
  const newKey = () =>
    window.crypto && crypto.randomUUID
      ? crypto.randomUUID()
      : Date.now().toString(36) + Math.random().toString(36).slice(2);

  // ---- messages -------------------------------------------------------

  function toast(text) {
    const el = $('#toast');
    if (!el) return;
    el.textContent = text;
    el.classList.add('show');
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => el.classList.remove('show'), 2500);
  }

  function showAlert(text) {
    const el = $('#alert');
    if (!el) return;
    el.textContent = text || '';
    el.hidden = !text;
  }

  // A problem+json answer as one sentence a person can act on. `asked`:
  // the names of the request's lines, in order, when the caller has them:
  // a shortage names the SKU that is short, which for a set (bundle) is
  // one of its parts, so the message names the set the customer chose too.
  function problemText(problem, asked) {
    const s = strings();
    if (!problem) return s.tFailed;
    if (problem.code === 'insufficient_stock' && problem.shortages && problem.shortages.length) {
      return problem.shortages
        .map((x) => {
          const part = x.sku_name || x.sku_code || x.sku_id;
          const item = asked && asked[x.line];
          const n = Math.max(0, x.available);
          return item && item !== part ? fmt(s.tShortPart, { item, part, n }) : fmt(s.tShort, { item: part, n });
        })
        .join('\n');
    }
    let text = problem.detail || problem.title || s.tFailed;
    if (problem.errors && problem.errors.length) {
      text += ' (' + problem.errors.map((e) => e.field + ': ' + e.reason).join('; ') + ')';
    }
    return text;
  }

  // ---- the API --------------------------------------------------------

  async function api(method, url, body, extraHeaders) {
    const headers = Object.assign({ 'X-CSRF-Token': csrf(), Accept: 'application/json' }, extraHeaders || {});
    const init = { method, headers, credentials: 'same-origin' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(url, init);
    } catch (e) {
      return { ok: false, problem: { detail: strings().tNetwork } };
    }
    if (res.status === 401) {
      location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search);
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (e) {
        data = null;
      }
    }
    return res.ok ? { ok: true, status: res.status, data } : { ok: false, status: res.status, problem: data };
  }

  async function run(method, url, body, okText) {
    document.body.classList.add('busy');
    const r = await api(method, url, body);
    document.body.classList.remove('busy');
    if (r.ok) {
      showAlert('');
      toast(okText || strings().tSaved);
      refresh();
    } else {
      showAlert(problemText(r.problem));
    }
    return r;
  }

  // ---- actions --------------------------------------------------------

  document.addEventListener('click', (event) => {
    if (event.target.closest('button[data-print]')) window.print();
  });

  document.addEventListener('click', async (event) => {
    const button = event.target.closest('button[data-url]');
    if (!button || button.disabled) return;
    event.preventDefault();
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    const body = button.dataset.body ? JSON.parse(button.dataset.body) : undefined;
    button.disabled = true;
    try {
      const r = await run(button.dataset.method || 'POST', button.dataset.url, body, button.dataset.ok);
      if (r.ok && button.dataset.then) location.href = button.dataset.then;
      if (r.ok && button.dataset.show && r.data) showResult(button.dataset.show, r.data, button.dataset.showField);
    } finally {
      button.disabled = false;
    }
  });

  function fieldValue(el) {
    if (el.type === 'checkbox') return el.checked;
    const raw = el.value.trim();
    if (el.dataset.type === 'int') return raw === '' ? null : Number.parseInt(raw, 10);
    if (el.dataset.type === 'nullable') return raw === '' ? null : raw;
    return raw;
  }

  function isDirty(el) {
    if (!el || !(el.tagName === 'INPUT' || el.tagName === 'TEXTAREA')) return false;
    if (el.type === 'checkbox' || el.type === 'radio') return false;
    return el.value !== el.defaultValue;
  }

  async function commitField(el) {
    if (el.type !== 'checkbox' && !isDirty(el)) return;
    const value = fieldValue(el);
    if (el.dataset.type === 'int' && (value === null || Number.isNaN(value))) {
      el.value = el.defaultValue;
      return;
    }
    const r = await run(el.dataset.method || 'PUT', el.dataset.url, { [el.dataset.field]: value });
    if (r.ok) {
      if (el.type === 'checkbox') el.defaultChecked = el.checked;
      else el.defaultValue = el.value;
    } else if (el.type === 'checkbox') {
      el.checked = el.defaultChecked;
    } else {
      el.value = el.defaultValue;
    }
  }

  document.addEventListener('change', (event) => {
    const el = event.target.closest('[data-field][data-url]');
    if (el) commitField(el);
  });

  document.addEventListener('keydown', (event) => {
    const el = event.target.closest && event.target.closest('input[data-field][data-url]');
    if (!el) return;
    if (event.key === 'Enter') {
      event.preventDefault();
      commitField(el);
    } else if (event.key === 'Escape') {
      el.value = el.defaultValue;
    }
  });

  function formBody(form) {
    if (form.dataset.kind === 'table-settings') {
      const schedule = $('input[name="schedule"]:checked', form);
      const time = $('input[name="reset_time"]', form).value;
      return {
        reset_mode: $('input[name="reset_mode"]:checked', form).value,
        show_remaining: $('input[name="show_remaining"]', form).checked,
        reset_schedule: schedule && schedule.value === 'daily' ? 'daily ' + time : null,
      };
    }
    const field = (name) => {
      const el = $('[name="' + name + '"]', form);
      return el ? fieldValue(el) : null;
    };
    if (form.dataset.kind === 'pickup-settings') {
      const minutes = $$('input[name="minute"]:checked', form).map((el) => Number.parseInt(el.value, 10));
      return {
        print_minutes: minutes.length ? minutes : null,
        print_whole_on_cancel: $('input[name="print_whole_on_cancel"]', form).checked,
        deadline_hours: field('deadline_hours'),
      };
    }
    if (form.dataset.kind === 'movement') {
      const kind = field('kind');
      const body = { sku: field('sku'), location: field('location'), quantity: field('quantity'), reason: field('reason'), reference: field('reference') };
      if (kind.startsWith('custom:')) {
        body.kind = 'custom';
        body.type = kind.slice(7);
      } else {
        body.kind = kind;
      }
      return body;
    }
    if (form.dataset.kind === 'lines') {
      const line = { line: field('line') };
      if (field('quantity') !== null) line.quantity = field('quantity');
      return { lines: [line], reason: field('reason') || '' };
    }
    if (form.dataset.kind === 'exchange') {
      const body = { lines: [{ line: field('line'), quantity: field('quantity'), sku: field('sku') }], reason: field('reason') || '' };
      if (field('fee') !== null) body.fee = field('fee');
      return body;
    }
    if (form.dataset.kind === 'split') {
      return { lines: String(field('lines')).split(',').map((x) => x.trim()).filter(Boolean).map((x) => ({ line: Number.parseInt(x, 10) })) };
    }
    const body = {};
    for (const el of $$('input[name], select[name], textarea[name]', form)) {
      if (el.dataset.path !== undefined || el.name === 'csrf_token') continue;
      if (el.type === 'radio' && !el.checked) continue;
      const value = fieldValue(el);
      if (value === null && el.dataset.type === 'int') continue;
      if (value === '' && el.dataset.optional !== undefined) continue;
      if (el.dataset.list !== undefined) {
        body[el.name] = String(value).split(',').map((s) => s.trim()).filter(Boolean);
      } else {
        body[el.name] = value;
      }
    }
    return body;
  }

  document.addEventListener('submit', async (event) => {
    const form = event.target.closest('form[data-api]');
    if (!form) return;
    event.preventDefault();
    let url = form.dataset.url;
    for (const el of $$('[data-path]', form)) {
      url = url.replace('{' + el.name + '}', encodeURIComponent(el.value.trim()));
    }
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    const r = await run(form.dataset.method || 'POST', url, formBody(form), form.dataset.ok);
    if (r.ok) {
      if (form.dataset.reset !== undefined) form.reset();
      if (form.dataset.show && r.data) showResult(form.dataset.show, r.data, form.dataset.showField);
      if (form.dataset.then) location.href = fmt(form.dataset.then, r.data || {});
    }
  });

  // Shows an answer the page asked to see (a preview, a created secret).
  function showResult(id, data, field) {
    const el = document.getElementById(id);
    if (!el) return;
    el.hidden = false;
    el.textContent = field ? String(data[field]) : JSON.stringify(data, null, 2);
  }

  // ---- live regions ---------------------------------------------------

  let timer = null;
  let busy = false;
  let again = false;

  function refresh() {
    clearTimeout(timer);
    timer = setTimeout(refreshNow, 60);
  }

  async function refreshNow() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      const res = await fetch(location.href, { credentials: 'same-origin', headers: { Accept: 'text/html' } });
      if (res.redirected && new URL(res.url).pathname === '/login') {
        location.href = res.url;
        return;
      }
      if (!res.ok) return;
      const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
      for (const region of $$('[data-live-region]')) {
        const fresh = doc.getElementById(region.id);
        if (fresh) morph(region, fresh);
      }
      document.dispatchEvent(new CustomEvent('jaego:refreshed'));
    } catch (e) {
      // The next event or reconnect refreshes again.
    } finally {
      busy = false;
      if (again) {
        again = false;
        refresh();
      }
    }
  }

  // Makes `from` (in the page) look like `to` (from a fresh copy of the
  // page), changing only what differs, so focus, selection and what
  // someone is typing survive: a field being edited keeps its text.
  function morph(from, to) {
    if (from.nodeType !== to.nodeType || from.nodeName !== to.nodeName || (from.id || '') !== (to.id || '')) {
      from.replaceWith(document.importNode(to, true));
      return;
    }
    if (from.nodeType !== 1) {
      if (from.nodeValue !== to.nodeValue) from.nodeValue = to.nodeValue;
      return;
    }
    const editing = from === document.activeElement && isDirty(from);
    // Whether a <details> is open is the user's choice, not the server's.
    const keep = (name) => (name === 'value' && editing) || (name === 'open' && from.tagName === 'DETAILS');
    for (const a of Array.from(from.attributes)) {
      if (!to.hasAttribute(a.name) && !keep(a.name)) from.removeAttribute(a.name);
    }
    for (const a of Array.from(to.attributes)) {
      if (keep(a.name)) continue;
      if (from.getAttribute(a.name) !== a.value) from.setAttribute(a.name, a.value);
    }
    if (from.tagName === 'INPUT') {
      if (from.type === 'checkbox' || from.type === 'radio') {
        from.checked = to.hasAttribute('checked');
      } else if (!editing) {
        const value = to.getAttribute('value') || '';
        if (from.value !== value) from.value = value;
      }
    }
    const a = Array.from(from.childNodes);
    const b = Array.from(to.childNodes);
    for (let i = 0; i < b.length; i++) {
      if (i < a.length) morph(a[i], b[i]);
      else from.appendChild(document.importNode(b[i], true));
    }
    for (let i = b.length; i < a.length; i++) a[i].remove();
  }

  function live() {
    const kinds = document.body.dataset.liveEvents;
    if (!kinds || !window.EventSource) return;
    const params = new URLSearchParams({ kinds });
    if (document.body.dataset.liveLocation) params.set('location', document.body.dataset.liveLocation);
    const light = $('#live');
    const set = (state) => {
      if (!light) return;
      light.dataset.state = state;
      const s = strings();
      $('.live-text', light).textContent = state === 'open' ? s.tLiveOpen : s.tLiveClosed;
      light.title = state === 'open' ? s.tLiveOpen : s.tLiveClosed;
    };
    const source = new EventSource('/api/v1/events/stream?' + params.toString());
    let wasOpen = false;
    source.addEventListener('ready', () => {
      set('open');
      // Anything may have changed while the stream was down.
      if (wasOpen) refresh();
      wasOpen = true;
    });
    source.addEventListener('resync', refresh);
    source.onerror = () => set('closed');
    for (const kind of kinds.split(',')) source.addEventListener(kind, refresh);
  }

  // ---- the customer's cart --------------------------------------------

  function cart() {
    const box = $('#cart');
    if (!box) return;
    const lines = new Map();
    const list = $('#cart-lines');
    const order = $('#place-order');
    const message = $('#order-message');

    function draw() {
      list.textContent = '';
      for (const [code, line] of lines) {
        const li = document.createElement('li');
        li.className = 'cart-line';
        li.dataset.sku = code;
        const name = document.createElement('span');
        name.className = 'cart-name';
        name.textContent = line.name;
        const minus = document.createElement('button');
        minus.type = 'button';
        minus.className = 'button qty';
        minus.dataset.dec = code;
        minus.textContent = '−';
        minus.setAttribute('aria-label', '− ' + line.name);
        const qty = document.createElement('output');
        qty.className = 'cart-qty';
        qty.textContent = String(line.qty);
        const plus = document.createElement('button');
        plus.type = 'button';
        plus.className = 'button qty';
        plus.dataset.inc = code;
        plus.textContent = '+';
        plus.setAttribute('aria-label', '+ ' + line.name);
        li.append(name, minus, qty, plus);
        list.append(li);
      }
      $('#cart-empty').hidden = lines.size > 0;
      order.disabled = lines.size === 0;
    }

    document.addEventListener('click', (event) => {
      const add = event.target.closest('[data-add]');
      const inc = event.target.closest('[data-inc]');
      const dec = event.target.closest('[data-dec]');
      const code = add ? add.dataset.add : inc ? inc.dataset.inc : dec ? dec.dataset.dec : null;
      if (!code || (add && add.disabled)) return;
      const line = lines.get(code) || { name: add ? add.dataset.name : code, qty: 0 };
      line.qty += dec ? -1 : 1;
      if (line.qty <= 0) lines.delete(code);
      else lines.set(code, line);
      message.textContent = '';
      message.className = 'order-message';
      draw();
    });

    order.addEventListener('click', async () => {
      if (lines.size === 0) return;
      const asked = Array.from(lines.values(), (line) => line.name);
      const body = {
        lines: Array.from(lines, ([sku, line]) => ({ sku, quantity: line.qty })),
        reference: box.dataset.reference || 'table',
      };
      order.disabled = true;
      const r = await api('POST', box.dataset.orderUrl, body, { 'Idempotency-Key': newKey() });
      if (r.ok) {
        lines.clear();
        draw();
        message.className = 'order-message ok';
        message.textContent = strings().tOrdered;
        refresh();
      } else {
        message.className = 'order-message bad';
        message.textContent = problemText(r.problem, asked);
        order.disabled = false;
      }
    });
    draw();
  }

  // ---- scanning: a keyboard-wedge scanner types a code and Enter --------
  //
  // form[data-scan] posts {<input name>: code} to data-url and shows the
  // answer in #scan-feedback: the API's `result` (scan station) or
  // `scanned` (pickup counter) picks the message from data-t-<result>.

  const camel = (s) => s.replace(/[-_](\w)/g, (m, c) => c.toUpperCase());

  document.addEventListener('submit', async (event) => {
    const form = event.target.closest('form[data-scan]');
    if (!form) return;
    event.preventDefault();
    const input = $('input[name]', form);
    const code = input.value.trim();
    input.value = '';
    input.focus();
    if (!code) return;
    const out = $('#scan-feedback');
    const d = out ? out.dataset : {};
    const r = await api('POST', form.dataset.url, { [input.name]: code });
    if (!out) return;
    if (r.ok) {
      const result = r.data.result || r.data.scanned || 'accepted';
      // A pickup scan that finishes its phase moves the request on (its
      // `remaining` then counts the next phase): the form names that status.
      const done = !!(r.data.pickup && form.dataset.doneStatus && r.data.pickup.status === form.dataset.doneStatus);
      const n = done ? 0 : r.data.line_remaining != null ? r.data.line_remaining : r.data.remaining;
      let text = fmt(d[camel('t-' + result)] || result, { sku: r.data.sku_code || code, code, n, remaining: r.data.remaining });
      if (done || r.data.complete || (r.data.remaining === 0 && result !== 'unknown_barcode')) text += '\n' + (d.tComplete || '');
      const good = ['accepted', 'item', 'receipt', 'slip'].includes(result);
      out.className = 'scan-feedback ' + (good ? 'ok' : result === 'too_many' ? 'warn' : 'bad');
      out.dataset.result = result;
      out.textContent = text;
      refresh();
    } else {
      out.className = 'scan-feedback bad';
      out.dataset.result = (r.problem && r.problem.code) || 'error';
      out.textContent = problemText(r.problem);
    }
  });

  // ---- allocation runs: preview, then run -----------------------------

  function allocation() {
    const panel = $('#allocation');
    if (!panel) return;
    const out = $('#run-result');
    const d = out.dataset;

    function draw(run, preview) {
      const orderNo = (id) => {
        const row = document.querySelector('tr[data-order-id="' + id + '"]');
        return row ? row.dataset.orderNo : id.slice(0, 8);
      };
      out.textContent = '';
      const head = document.createElement('p');
      head.className = 'run-summary';
      head.textContent = (preview ? d.tPreview : d.tDone) + ': ' + fmt(d.tSummary, run);
      out.append(head);
      if (!run.results || !run.results.length) return;
      const list = document.createElement('ul');
      list.className = 'run-results';
      for (const r of run.results) {
        const li = document.createElement('li');
        li.dataset.outcome = r.outcome;
        const label = d['tOutcome' + r.outcome.charAt(0).toUpperCase() + r.outcome.slice(1)] || r.outcome;
        li.textContent = orderNo(r.order_id) + ': ' + label + (r.units ? ' (' + r.units + ')' : '') + (r.reason ? ' · ' + r.reason : '');
        list.append(li);
      }
      out.append(list);
    }

    async function go(preview) {
      const mode = $('#run-mode').value;
      const body = { dry_run: preview };
      if (mode) body.mode = mode;
      if (!preview && !window.confirm($('#start-run').dataset.confirm)) return;
      const r = await api('POST', '/api/v1/allocation-runs', body, preview ? {} : { 'Idempotency-Key': newKey() });
      if (r.ok) {
        showAlert('');
        draw(r.data, preview);
        if (!preview) refresh();
      } else {
        showAlert(problemText(r.problem));
      }
    }
    $('#preview-run').addEventListener('click', () => go(true));
    $('#start-run').addEventListener('click', () => go(false));
  }

  document.addEventListener('DOMContentLoaded', () => {
    live();
    cart();
    allocation();
  });
})();
