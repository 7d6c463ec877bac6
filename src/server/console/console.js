// The web console of `reco serve` (docs/console.md). Plain JavaScript, no
// library: every figure comes from the public API of the server it is
// served by. Guarantees: an ID (user, product, category) is only ever put
// on the page as text (textContent, text nodes, attribute values), never
// parsed as markup; reads send no token; writes send the token the user
// typed, which stays in this tab (sessionStorage).
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const state = {
    model: null,        // GET /v1/model
    variants: [],       // names, the control first (GET /v1/experiments)
    user: null,         // the user shown
    lastRecs: null,     // item IDs of the last list, to mark what changed
    item: null,
    charts: null,
    timer: null,
  };

  // ---- building the page: text only ----

  // el('td', {class: 'num'}, 'text', node, ...): strings become text nodes.
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'dataset') Object.assign(e.dataset, v);
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const kid of kids) {
      if (kid === undefined || kid === null) continue;
      e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return e;
  }
  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }
  function fmt(x, digits) {
    if (x === null || x === undefined) return '–';
    if (typeof x !== 'number') return String(x);
    return Number.isInteger(x) && digits === undefined ? x.toLocaleString('en')
      : x.toLocaleString('en', { maximumFractionDigits: digits === undefined ? 4 : digits });
  }
  function when(ts) {
    if (ts === null || ts === undefined) return 'in training data';
    return new Date(ts * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  }
  function userLink(id) {
    return el('button', { type: 'button', class: 'link', dataset: { user: id },
      onclick: () => go('user', id) }, id);
  }
  function itemLink(id) {
    return el('button', { type: 'button', class: 'link', dataset: { item: id },
      onclick: () => go('item', id) }, id);
  }

  // ---- the API ----

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }
  async function api(path, opts) {
    const r = await fetch(path, opts);
    const text = await r.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
    if (!r.ok) {
      const msg = body && body.error ? body.error.message : (r.status + ' ' + r.statusText);
      throw new ApiError(r.status, msg);
    }
    return body;
  }
  const enc = encodeURIComponent;
  function showError(msg) {
    const e = $('error');
    e.textContent = msg || '';
    e.hidden = !msg;
  }

  // ---- views and the address (#/user/ID, #/item/ID, #/model) ----

  function go(view, id) {
    const h = '#/' + view + (id !== undefined && id !== null ? '/' + enc(id) : '');
    if (location.hash === h) route(); else location.hash = h;
  }
  function route() {
    const m = /^#\/(user|item|model)(?:\/(.*))?$/.exec(location.hash);
    const view = m ? m[1] : 'user';
    let id = null;
    try { id = m && m[2] !== undefined ? decodeURIComponent(m[2]) : null; } catch (e) { id = null; }
    for (const v of ['user', 'item', 'model']) {
      $('view-' + v).hidden = v !== view;
      const a = $('nav-' + v);
      if (v === view) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    }
    showError('');
    if (view !== 'model') stopCharts();
    if (view === 'user') {
      if (id) { $('user-search').value = id; showUser(id); }
    } else if (view === 'item') {
      if (id) { $('item-search').value = id; showItem(id); }
    } else {
      showModel();
    }
  }

  // ---- the customer view ----

  let suggestSeq = 0, suggestTimer = null;
  function hideSuggest() {
    $('user-suggest').hidden = true;
    $('user-search').setAttribute('aria-expanded', 'false');
    $('user-search').removeAttribute('aria-activedescendant');
  }
  async function suggest() {
    const prefix = $('user-search').value;
    const seq = ++suggestSeq;
    if (!prefix) { hideSuggest(); return; }
    let r;
    try { r = await api('/v1/users?limit=8&prefix=' + enc(prefix)); } catch (e) { hideSuggest(); return; }
    if (seq !== suggestSeq) return; // a later keystroke has asked again
    const list = clear($('user-suggest'));
    r.users.forEach((u, k) => {
      const n = u.training_ratings + u.live_ratings;
      list.append(el('li', { role: 'option', id: 'sugg-' + k, 'aria-selected': 'false',
        dataset: { user: u.user }, onmousedown: (ev) => { ev.preventDefault(); pick(u.user); } },
        u.user, ' ', el('span', { class: 'count' }, fmt(n) + (n === 1 ? ' rating' : ' ratings'))));
    });
    if (r.more) list.append(el('li', { class: 'meta', role: 'presentation' }, 'more match: type on'));
    list.hidden = r.users.length === 0;
    $('user-search').setAttribute('aria-expanded', String(!list.hidden));
  }
  function pick(id) { hideSuggest(); go('user', id); }
  function moveSuggest(delta) {
    const opts = [...$('user-suggest').querySelectorAll('[role="option"]')];
    if ($('user-suggest').hidden || !opts.length) return false;
    let k = opts.findIndex((o) => o.getAttribute('aria-selected') === 'true');
    k = k < 0 ? (delta > 0 ? 0 : opts.length - 1) : (k + delta + opts.length) % opts.length;
    opts.forEach((o, j) => o.setAttribute('aria-selected', String(j === k)));
    $('user-search').setAttribute('aria-activedescendant', opts[k].id);
    opts[k].scrollIntoView({ block: 'nearest' });
    return true;
  }

  function rulesQuery() {
    const q = [];
    const n = parseInt($('rule-n').value, 10);
    q.push('n=' + (n >= 1 && n <= 1000 ? n : 10));
    const cat = $('rule-category').value.trim();
    if (cat) q.push('category=' + enc(cat));
    // One exclude parameter, each ID encoded (a comma inside an ID too).
    const ex = $('rule-exclude').value.split(',').map((s) => s.trim()).filter(Boolean);
    if (ex.length) q.push('exclude=' + ex.map(enc).join(','));
    if ($('rule-unavailable').checked) q.push('include_unavailable=true');
    return q.join('&');
  }

  async function showUser(id) {
    state.user = id;
    $('user-body').hidden = false;
    $('user-title').textContent = id;
    $('rate-state').textContent = '';
    await Promise.all([loadRatings(id), loadRecs(id, false)]);
  }

  async function loadRatings(id) {
    const tb = clear($('rated').tBodies[0]);
    let r = null;
    try { r = await api('/v1/users/' + enc(id) + '/ratings'); } catch (e) {
      if (e.status !== 404) showError(e.message);
    }
    if (state.user !== id) return;
    const ratings = r ? r.ratings.slice() : [];
    // Newest first; training ratings (no time in the model) after them.
    ratings.sort((a, b) => (b.timestamp || 0) - (a.timestamp || 0));
    for (const x of ratings)
      tb.append(el('tr', { dataset: { item: x.item } },
        el('td', { class: 'id' }, itemLink(x.item)),
        el('td', { class: 'num' }, fmt(x.rating)),
        el('td', {}, x.source, x.known_item ? null : el('span', { class: 'badge' }, 'unknown to the model')),
        el('td', {}, when(x.timestamp))));
    $('rated-empty').hidden = ratings.length > 0;
    $('user-meta').textContent = r ? fmt(ratings.length) + ' rated products' +
      (r.known_user ? '' : ' (unknown to the model)') : 'No ratings: a new customer gets the popular products.';
  }

  function recsTable(r, changedFrom) {
    const rows = r.items.map((it, k) => {
      const why = it.because && it.because.length ? 'because you rated ' + it.because.join(', ') : '';
      const changed = changedFrom && !changedFrom.includes(it.item);
      return el('tr', { class: changed ? 'changed' : null, dataset: { item: it.item } },
        el('td', { class: 'num' }, k + 1),
        el('td', { class: 'id' }, itemLink(it.item),
          it.title ? el('div', { class: 'meta' }, it.title) : null,
          it.available === false ? el('span', { class: 'badge' }, 'unavailable') : null,
          changed ? el('span', { class: 'badge' }, 'new') : null),
        el('td', { class: 'num', 'data-label': 'score' }, fmt(it.score)),
        el('td', { class: 'num', 'data-label': 'predicted' },
          it.predicted_rating === undefined ? '–' : fmt(it.predicted_rating)),
        el('td', { class: 'why' }, why),
        el('td', { class: 'act' }, el('button', { type: 'button', class: 'link action', 'aria-label': 'Rate ' + it.item,
          onclick: () => { $('rate-item').value = it.item; $('rate-value').focus(); } }, 'rate')));
    });
    return el('div', { class: 'scroll' }, el('table', { class: 'recs', dataset: { variant: r.variant || '' } },
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, '#'), el('th', { scope: 'col' }, 'Product'),
        el('th', { scope: 'col' }, 'Score'), el('th', { scope: 'col' }, 'Predicted'),
        el('th', { scope: 'col' }, 'Why'), el('th', { scope: 'col' }, el('span', { class: 'meta' }, 'Try')))),
      el('tbody', {}, ...rows)));
  }

  async function loadRecs(id, markChanges) {
    const q = rulesQuery();
    const other = $('rule-compare').value;
    const base = '/v1/users/' + enc(id) + '/recommendations?' + q;
    let main, cmp = null;
    try {
      const reqs = [api(base)];
      if (other) reqs.push(api(base + '&variant=' + enc(other)));
      [main, cmp] = await Promise.all(reqs);
    } catch (e) { showError(e.message); return; }
    if (state.user !== id) return;
    const before = markChanges ? state.lastRecs : null;
    state.lastRecs = main.items.map((x) => x.item);
    const box = clear($('recs'));
    box.className = cmp ? 'lists two' : 'lists';
    $('user-body').classList.toggle('comparing', !!cmp);
    const head = (r, label) => el('h4', {}, label, ' ', el('span', { class: 'badge' },
      r.algorithm + (r.variant ? ' · variant ' + r.variant : '')));
    if (cmp) {
      box.append(el('div', {}, head(main, 'Served to this user'), recsTable(main, before)),
                 el('div', {}, head(cmp, 'Variant ' + other), recsTable(cmp, null)));
    } else {
      box.append(el('div', {}, head(main, ''), recsTable(main, before)));
    }
    const parts = [fmt(main.items.length) + ' products', 'score: ' + main.score_kind];
    if (main.cold_start) parts.push('cold start: the popular products');
    if (main.unknown_categories) parts.push('unknown categories: ' + main.unknown_categories.join(', '));
    if (main.reason) parts.push(main.reason);
    $('recs-meta').textContent = parts.join(' · ');
  }

  async function rate(ev) {
    ev.preventDefault();
    const user = state.user;
    const item = $('rate-item').value.trim();
    const rating = Number($('rate-value').value);
    if (!user || !item) return;
    const headers = { 'Content-Type': 'application/json' };
    const tok = sessionStorage.getItem('reco-token');
    if (tok) headers.Authorization = 'Bearer ' + tok;
    $('rate-state').textContent = 'sending…';
    try {
      await api('/v1/ratings', { method: 'POST', headers, body: JSON.stringify({ user, item, rating }) });
    } catch (e) {
      if (e.status === 401) { // ask for the token where it is typed
        document.querySelector('details.token').open = true;
        $('token').focus();
      }
      $('rate-state').textContent = e.status === 401 ? 'the server wants its token: type it under "Token for writes" above'
        : e.status === 403 ? 'this server is read-only (started without --ratings-log)' : e.message;
      return;
    }
    $('rate-state').textContent = 'rated ' + item + ' ' + rating + ': the lists below are fresh';
    await Promise.all([loadRatings(user), loadRecs(user, true)]);
  }

  // ---- the product view ----

  async function showItem(id) {
    state.item = id;
    $('item-body').hidden = false;
    $('item-title').textContent = id;
    let info = null, sum = null, sim = null;
    const done = await Promise.allSettled([
      api('/v1/items/' + enc(id)).then((r) => { info = r; }),
      api('/v1/items/' + enc(id) + '/ratings?recent=10').then((r) => { sum = r; }),
      api('/v1/items/' + enc(id) + '/similar?n=10').then((r) => { sim = r; }),
    ]);
    if (state.item !== id) return;
    const failed = done.filter((d) => d.status === 'rejected');
    if (failed.length === done.length) showError(failed[0].reason.message);
    const meta = [];
    if (info && info.title) meta.push(info.title);
    if (info && info.category) meta.push(info.category);
    if (info && info.available === false) meta.push('unavailable');
    if (info && !info.in_catalogue) meta.push('not in the catalogue');
    $('item-meta').textContent = meta.join(' · ');

    const hist = clear($('histogram')), raters = clear($('raters').tBodies[0]);
    if (sum) {
      $('summary-text').textContent = fmt(sum.count) + ' ratings' +
        (sum.mean === null ? '' : ', mean ' + fmt(sum.mean, 2)) +
        (sum.live_ratings ? ' (' + fmt(sum.live_ratings) + ' since training)' : '');
      const max = Math.max(1, ...sum.histogram.map((b) => b.count));
      hist.setAttribute('aria-label', 'Ratings histogram: ' + sum.histogram.map((b) =>
        (b.rating !== undefined ? b.rating : fmt(b.from, 2) + '–' + fmt(b.to, 2)) + ': ' + b.count).join(', '));
      for (const b of sum.histogram.slice().reverse()) {
        const fill = el('span', { class: 'fill' });
        fill.style.width = (100 * b.count / max) + '%';
        hist.append(el('div', { class: 'bar' },
          el('span', {}, b.rating !== undefined ? fmt(b.rating) : fmt(b.from, 2) + '–' + fmt(b.to, 2)),
          el('span', { class: 'track' }, fill), el('span', { class: 'count' }, fmt(b.count))));
      }
      for (const x of sum.recent)
        raters.append(el('tr', {}, el('td', { class: 'id' }, userLink(x.user)),
          el('td', { class: 'num' }, fmt(x.rating)), el('td', {}, when(x.timestamp))));
    } else {
      $('summary-text').textContent = 'No ratings.';
    }
    const tb = clear($('similar').tBodies[0]);
    if (sim) {
      $('similar-meta').textContent = sim.algorithm + ' · sources in order: ' + sim.chain.join(', ') +
        (sim.fallback ? ' (co-ratings did not fill the list)' : '');
      sim.items.forEach((it, k) => tb.append(el('tr', { dataset: { item: it.item } },
        el('td', { class: 'num' }, k + 1),
        el('td', { class: 'id' }, itemLink(it.item), it.title ? el('div', { class: 'meta' }, it.title) : null),
        el('td', { class: 'num' }, fmt(it.score)),
        el('td', {}, it.source, el('div', { class: 'meta' }, it.score_kind)))));
    } else {
      $('similar-meta').textContent = 'No similar products.';
    }
  }

  // ---- model and health ----

  async function showModel() {
    try {
      const [m, h] = await Promise.all([api('/v1/model'), fetch('/healthz').then((r) => r.json())]);
      state.model = m;
      const dl = clear($('model-info'));
      const fact = (k, v) => dl.append(el('dt', {}, k), el('dd', {}, v));
      fact('Algorithm', m.algorithm);
      fact('Parameters', Object.entries(m.params || {}).map(([k, v]) => k + '=' + v).join(', ') || '–');
      fact('Users', fmt(m.users));
      fact('Products', fmt(m.items));
      fact('Ratings', fmt(m.ratings));
      fact('Trained', when(m.trained_at));
      fact('Loaded', when(m.loaded_at));
      fact('File', m.file + ' (' + fmt(m.file_bytes) + ' bytes)');
      fact('Rating range', fmt(m.rating_min) + ' to ' + fmt(m.rating_max));
      fact('Since training', fmt(m.live_ratings) + ' ratings from ' + fmt(m.live_users) + ' users');
      if (m.catalogue) fact('Catalogue', fmt(m.catalogue.products) + ' products, ' +
        fmt(m.catalogue.categories) + ' categories, ' + fmt(m.catalogue.unavailable) + ' unavailable');
      if (state.variants.length > 1) fact('Variants', state.variants.join(', '));
      const hp = $('health');
      hp.className = 'health ' + (h.status === 'ok' ? 'ok' : 'bad');
      hp.textContent = h.status === 'ok' ? 'Healthy: new ratings are taken'
        : 'Degraded: ' + (h.problems || []).map((p) => p.check + ': ' + p.message).join('; ');
    } catch (e) { showError(e.message); }
    startCharts();
  }

  // Prometheus text: {name: [{labels, value}]}.
  function parseMetrics(text) {
    const out = {};
    for (const line of text.split('\n')) {
      if (!line || line[0] === '#') continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      const labels = {};
      if (m[3]) for (const p of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[p[1]] = p[2];
      (out[m[1]] = out[m[1]] || []).push({ labels, value: parseFloat(m[4]) });
    }
    return out;
  }
  const isApi = (l) => l.route && l.route.startsWith('/v1/');
  function sum(ms, name, pred) {
    return (ms[name] || []).filter((s) => !pred || pred(s.labels)).reduce((a, s) => a + s.value, 0);
  }
  // Latency quantile q over the buckets' increase between two polls.
  function quantile(prev, cur, q) {
    const by = (ms) => {
      const b = {};
      for (const s of ms.reco_http_request_duration_seconds_bucket || [])
        if (isApi(s.labels)) b[s.labels.le] = (b[s.labels.le] || 0) + s.value;
      return b;
    };
    const a = by(prev), b = by(cur);
    const les = Object.keys(b).sort((x, y) => (x === '+Inf') - (y === '+Inf') || parseFloat(x) - parseFloat(y));
    const inc = les.map((le) => (b[le] || 0) - (a[le] || 0));
    const total = inc[inc.length - 1];
    if (!total) return null;
    const want = q * total;
    let lo = 0;
    for (let k = 0; k < les.length; k++) {
      if (inc[k] >= want) {
        const hi = les[k] === '+Inf' ? lo : parseFloat(les[k]);
        const below = k ? inc[k - 1] : 0;
        const f = inc[k] > below ? (want - below) / (inc[k] - below) : 1;
        return (lo + (hi - lo) * f) * 1000;
      }
      lo = parseFloat(les[k]);
    }
    return null;
  }

  const CHARTS = [
    { key: 'rps', title: 'API requests/s', series: ['requests/s'] },
    { key: 'lat', title: 'API latency (ms)', series: ['p50', 'p95', 'p99'] },
    { key: 'ratings', title: 'Ratings taken in /s', series: ['ratings/s'] },
    { key: 'errors', title: 'Errors/s', series: ['4xx', '5xx'] },
  ];
  const POINTS = 60, EVERY_MS = 3000;

  function startCharts() {
    if (state.timer) return;
    const box = clear($('charts'));
    state.charts = { prev: null, prevAt: 0, data: {}, nodes: {} };
    for (const c of CHARTS) {
      const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
      svg.setAttribute('viewBox', '0 0 ' + (POINTS - 1) + ' 100');
      svg.setAttribute('preserveAspectRatio', 'none');
      svg.setAttribute('aria-hidden', 'true');
      const base = document.createElementNS('http://www.w3.org/2000/svg', 'line');
      base.setAttribute('class', 'axis');
      for (const [a, v] of [['x1', 0], ['x2', POINTS - 1], ['y1', 96], ['y2', 96]]) base.setAttribute(a, v);
      svg.append(base);
      const lines = c.series.map((s, k) => {
        const p = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
        p.setAttribute('class', 's' + k);
        svg.append(p);
        return p;
      });
      const now = el('div', { class: 'now', role: 'status' }, 'waiting for the next poll');
      const legend = el('div', { class: 'legend' }, ...c.series.map((s, k) => el('span', { class: 's' + k }, '— ' + s)),
        el('span', {}, 'last ' + (POINTS * EVERY_MS / 60000) + ' min'));
      box.append(el('div', { class: 'chart', dataset: { chart: c.key } }, el('h4', {}, c.title), svg, legend, now));
      state.charts.data[c.key] = c.series.map(() => []);
      state.charts.nodes[c.key] = { lines, now };
    }
    poll();
    state.timer = setInterval(poll, EVERY_MS);
  }
  function stopCharts() {
    if (state.timer) clearInterval(state.timer);
    state.timer = null;
  }
  async function poll() {
    let text;
    try { text = await (await fetch('/metrics')).text(); } catch (e) { return; }
    const ch = state.charts;
    if (!ch) return;
    const cur = parseMetrics(text), at = performance.now();
    if (ch.prev) {
      const dt = (at - ch.prevAt) / 1000, p = ch.prev;
      const rate = (name, pred) => Math.max(0, (sum(cur, name, pred) - sum(p, name, pred)) / dt);
      const st = (lo) => (l) => isApi(l) && l.status !== 'other' && +l.status >= lo && +l.status < lo + 100;
      push('rps', [rate('reco_http_requests_total', isApi)]);
      push('lat', [quantile(p, cur, 0.5), quantile(p, cur, 0.95), quantile(p, cur, 0.99)]);
      push('ratings', [rate('reco_ratings_logged_total')]);
      push('errors', [rate('reco_http_requests_total', st(400)), rate('reco_http_requests_total', st(500))]);
    }
    ch.prev = cur;
    ch.prevAt = at;
  }
  function push(key, values) {
    const ch = state.charts, data = ch.data[key], nodes = ch.nodes[key];
    values.forEach((v, k) => { data[k].push(v); if (data[k].length > POINTS) data[k].shift(); });
    const max = Math.max(1e-9, ...data.flat().filter((v) => v !== null));
    data.forEach((series, k) => {
      const off = POINTS - series.length;
      nodes.lines[k].setAttribute('points', series.map((v, j) => v === null ? null
        : (off + j) + ',' + (96 - 90 * v / max).toFixed(2)).filter(Boolean).join(' '));
    });
    const spec = CHARTS.find((c) => c.key === key);
    nodes.now.textContent = 'now: ' + values.map((v, k) => spec.series[k] + ' ' +
      (v === null ? '–' : fmt(v, 2))).join(', ') + ' · peak ' + fmt(max, 2);
  }

  // ---- start ----

  async function start() {
    $('user-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const v = $('user-search').value.trim();
      const sel = $('user-suggest').querySelector('[aria-selected="true"]');
      if (sel && !$('user-suggest').hidden) pick(sel.dataset.user);
      else if (v) pick(v);
    });
    $('user-search').addEventListener('input', () => {
      clearTimeout(suggestTimer);
      suggestTimer = setTimeout(suggest, 120);
    });
    $('user-search').addEventListener('keydown', (ev) => {
      if (ev.key === 'ArrowDown' && moveSuggest(1)) ev.preventDefault();
      else if (ev.key === 'ArrowUp' && moveSuggest(-1)) ev.preventDefault();
      else if (ev.key === 'Escape') hideSuggest();
    });
    $('user-search').addEventListener('blur', () => setTimeout(hideSuggest, 150));
    $('item-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const v = $('item-search').value.trim();
      if (v) go('item', v);
    });
    for (const id of ['rule-n', 'rule-category', 'rule-exclude', 'rule-unavailable', 'rule-compare'])
      $(id).addEventListener('change', () => { if (state.user) loadRecs(state.user, false); });
    $('rate-form').addEventListener('submit', rate);
    $('token').value = sessionStorage.getItem('reco-token') || '';
    $('token-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const t = $('token').value.trim();
      if (t) sessionStorage.setItem('reco-token', t); else sessionStorage.removeItem('reco-token');
      $('token-state').textContent = t ? 'kept for this tab' : 'no token';
    });
    window.addEventListener('hashchange', route);
    route();
    // What the server has: variants to compare, the rating range, a report.
    try {
      const [m, ex] = await Promise.all([api('/v1/model'), api('/v1/experiments')]);
      state.model = m;
      $('rate-value').min = m.rating_min;
      $('rate-value').max = m.rating_max;
      $('rate-value').placeholder = m.rating_min + ' to ' + m.rating_max;
      state.variants = ex.variants.map((v) => v.name);
      if (state.variants.length > 1) {
        for (const v of state.variants)
          $('rule-compare').append(el('option', { value: v }, 'variant ' + v));
        $('compare-label').hidden = false;
      }
    } catch (e) { showError(e.message); }
    fetch('/report/', { method: 'HEAD' }).then((r) => {
      if (r.ok) { $('nav-report').hidden = false; $('report-link').hidden = false; }
    }).catch(() => {});
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
