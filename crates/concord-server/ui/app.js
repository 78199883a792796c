// Concord browser UI. Hash-routed single page in vanilla JS.
// Security: server data is only ever inserted with textContent / createElement, never innerHTML.

const state = { me: null, csrf: '', key: null, protocols: new Map(), helpOpen: false, flash: '' };
const SVGNS = 'http://www.w3.org/2000/svg';
const $ = (sel, root = document) => root.querySelector(sel);
const enc = encodeURIComponent;
const P = (p, rest = '') => `/api/projects/${enc(p)}${rest}`;

// ---------- DOM helpers ----------
const PROPS = new Set(['value', 'checked', 'disabled', 'hidden', 'required', 'selected', 'multiple']);
const mk = (el, props, kids) => { setProps(el, props); append(el, kids); return el; };
const h = (tag, props, ...kids) => mk(document.createElement(tag), props, kids);
const s = (tag, attrs, ...kids) => mk(document.createElementNS(SVGNS, tag), attrs, kids);
function setProps(el, props) {
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.setAttribute('class', v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (PROPS.has(k)) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}
function append(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k == null || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
}
function field(id, label, input, hint) {
  input.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), hint ? h('span', { class: 'muted' }, hint) : null, input);
}
function section(id, title, ...kids) {
  return h('section', { id, class: 'card', 'aria-labelledby': `${id}-h` }, h('h2', { id: `${id}-h` }, title), ...kids);
}
function table(caption, heads, rows, id) {
  return h('div', { class: 'table-wrap' }, h('table', { id },
    caption ? h('caption', {}, caption) : null,
    h('thead', {}, h('tr', {}, heads.map(([t, cls]) => h('th', { scope: 'col', class: cls }, t)))),
    h('tbody', {}, rows.map(r => h('tr', {}, r.map(([c, cls]) => h('td', { class: cls }, c)))))));
}

// ---------- formatting ----------
const ok = x => x != null && Number.isFinite(Number(x));
const pct = (x, d = 0) => (ok(x) ? `${(x * 100).toFixed(d)}%` : '—');
const num = (x, d = 2) => (ok(x) ? Number(x).toFixed(d) : '—');
const meanOf = a => (a == null ? null : typeof a === 'number' ? a : ok(a.mean) ? a.mean : null);
function fmtAcc(a) {
  if (!a || !a.total) return 'No data yet';
  const r = x => Math.round(x * 100);
  return `${r(a.mean)}% (95% interval ${r(a.low)}–${r(a.high)}%, ${a.right} of ${a.total})`;
}
function fmtValue(v) {
  if (v == null) return '—';
  if (typeof v !== 'object') return String(v);
  if (Array.isArray(v)) return v.length ? v.map(x => (Array.isArray(x) ? `[${x.join(', ')}]` : fmtValue(x))).join(', ') : '(none)';
  if (v.uncertain === true && Object.keys(v).length === 1) return 'uncertain';
  return Object.entries(v).map(([k, x]) => `${k}: ${fmtValue(x)}`).join('; ');
}
function fmtTime(t) {
  if (t == null) return '—';
  const d = new Date(typeof t === 'number' && t < 1e12 ? t * 1000 : t);
  return Number.isNaN(d.getTime()) ? String(t) : d.toLocaleString();
}

// ---------- messages ----------
const showError = e => { $('#alert').textContent = e instanceof Error ? e.message : String(e); };
const clearError = () => { $('#alert').textContent = ''; };
const setStatus = t => { $('#status').textContent = t; };

// ---------- API ----------
class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}
async function api(method, path, body, type) {
  const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (method !== 'GET') {
    opts.headers['X-CSRF-Token'] = state.csrf || '';
    opts.headers['Content-Type'] = type || 'application/json';
    opts.body = type ? body : JSON.stringify(body ?? {});
  }
  let res;
  try { res = await fetch(path, opts); } catch { throw new ApiError(0, 'The server could not be reached. Check your connection and try again.'); }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!res.ok) {
    const msg = (data && typeof data === 'object' && data.error) || `${res.status} ${res.statusText || 'request failed'}`;
    if (res.status === 401 && path !== '/api/login' && path !== '/api/me') {
      state.me = null; state.flash = 'Your session has ended. Please sign in again.'; go('#/login');
    }
    throw new ApiError(res.status, msg);
  }
  return data;
}
async function loadMe() {
  state.me = await api('GET', '/api/me');
  state.csrf = state.me.csrf_token;
}
async function getProtocol(p, version) {
  const c = state.protocols.get(p);
  if (c && (version == null || c.version === version)) return c;
  const r = await api('GET', P(p, '/protocol'));
  state.protocols.set(p, r); return r;
}
const tasksOf = pr => (pr && pr.protocol && pr.protocol.tasks) || [];
const categorical = t => ['single', 'ordinal', 'multi'].includes(t.type);

// ---------- routing ----------
const go = hash => { if (location.hash === hash) router(); else location.hash = hash; };
const ROUTES = [
  [/^#\/login$/, renderLogin, false],
  [/^#\/projects$/, renderProjects, true],
  [/^#\/p\/([^/]+)\/label$/, renderLabel, true],
  [/^#\/p\/([^/]+)\/me$/, renderMe, true],
  [/^#\/p\/([^/]+)\/adjudicate$/, renderAdjudicate, true],
  [/^#\/p\/([^/]+)\/manage$/, renderManage, true],
  [/^#\/p\/([^/]+)\/item\/([^/]+)$/, renderProvenance, true],
];
async function router() {
  const hash = location.hash || '#/projects';
  state.key = null; clearError(); setStatus('');
  const route = ROUTES.map(([re, fn, auth]) => [hash.match(re), fn, auth]).find(r => r[0]);
  if (!route) { go('#/projects'); return; }
  const [m, fn, auth] = route;
  if (auth && !state.me) {
    try { await loadMe(); } catch (e) {
      if (e.status !== 401) state.flash = e.message;
      go('#/login');
      return;
    }
  }
  const p = m[1] ? decodeURIComponent(m[1]) : null;
  renderHeader(auth ? p : null, hash);
  const view = h('div', { class: 'view' });
  $('#main').replaceChildren(view);
  try { await fn(view, p, ...m.slice(2).map(decodeURIComponent)); } catch (e) { if (view.isConnected) showError(e); }
  const h1 = $('h1', view);
  if (h1 && view.isConnected && !view.contains(document.activeElement)) h1.focus({ preventScroll: true });
}

function roleLinks(p, roles) {
  const has = r => roles.includes(r);
  const out = [];
  if (has('annotator')) out.push(['Label', 'label'], ['My performance', 'me']);
  if (has('adjudicator')) out.push(['Adjudicate', 'adjudicate']);
  if (has('manager') || has('admin') || has('auditor')) out.push(['Dashboard', 'manage']);
  return out.map(([text, r]) => ({ text, href: `#/p/${enc(p)}/${r}` }));
}
function renderHeader(p, hash) {
  const header = $('#app-header');
  if (!state.me || hash === '#/login') { header.hidden = true; return; }
  header.hidden = false;
  const me = state.me;
  $('#user-name').textContent = me.display_name && me.display_name !== me.name ? `${me.display_name} (${me.name})` : me.name;
  const cur = href => (href === hash ? 'page' : null);
  const nav = $('#nav');
  nav.replaceChildren(h('a', { href: '#/projects', 'aria-current': cur('#/projects') }, 'Projects'));
  if (p) {
    nav.append(h('span', { class: 'project' }, `Project: ${p}`));
    for (const l of roleLinks(p, me.roles || [])) nav.append(h('a', { href: l.href, 'aria-current': cur(l.href) }, l.text));
  }
}

// ---------- login / projects ----------
function renderLogin(view) {
  document.title = 'Sign in · Concord';
  state.me = null; state.csrf = '';
  if (state.flash) { showError(state.flash); state.flash = ''; }
  const user = h('input', { name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const btn = h('button', { id: 'login', type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'card login', 'aria-labelledby': 'login-h' },
    h('h1', { id: 'login-h', tabindex: -1 }, 'Sign in to Concord'),
    field('username', 'Username', user), field('password', 'Password', pass), btn);
  form.addEventListener('submit', async e => {
    e.preventDefault(); clearError(); btn.disabled = true;
    try {
      const r = await api('POST', '/api/login', { username: user.value.trim(), password: pass.value });
      state.me = { ...r.user, projects: [] };
      state.csrf = r.csrf_token;
      go('#/projects');
    } catch (err) { showError(err); pass.value = ''; pass.focus(); } finally { btn.disabled = false; }
  });
  view.append(form);
  user.focus();
}

async function logout() {
  try { await api('POST', '/api/logout', {}); } catch (e) { if (e.status !== 401) { showError(e); return; } }
  state.me = null; state.csrf = ''; state.protocols.clear();
  go('#/login');
  setStatus('Signed out');
}

async function renderProjects(view) {
  document.title = 'Projects · Concord';
  view.append(h('h1', { tabindex: -1 }, 'Projects'));
  const list = await api('GET', '/api/projects');
  if (!list || !list.length) {
    view.append(h('p', { class: 'card' }, 'You are not a member of any project yet. Ask a manager to add you.'));
    return;
  }
  view.append(h('ul', { class: 'project-list' }, list.map(pr => {
    const links = roleLinks(pr.name, pr.roles || []);
    return h('li', { class: 'card' },
      h('h2', {}, pr.name),
      h('p', { class: 'muted' }, `Your roles: ${(pr.roles || []).join(', ') || 'none'}`),
      links.length ? h('div', { class: 'links' }, links.map(l => h('a', { class: 'button', href: l.href }, l.text)))
        : h('p', {}, 'No screens for your roles in this project.'));
  })));
}

// ---------- protocol presentation ----------
function classBody(c, key) {
  return [
    key ? h('kbd', { 'aria-label': `key ${key}` }, String(key)) : null,
    h('strong', {}, c.id), c.absent ? h('span', { class: 'muted' }, ' (no finding)') : null,
    c.definition ? h('span', { class: 'def' }, c.definition) : null,
    c.examples && c.examples.length ? h('span', { class: 'examples' }, `Examples: ${c.examples.join('; ')}`) : null,
  ];
}
function rulesBlock(rules) {
  if (!rules || !rules.length) return null;
  return h('div', { class: 'rules' }, h('h3', {}, 'Decision rules'), h('ul', {}, rules.map(r => h('li', {}, r))));
}

// ---------- annotator: label ----------
const SHORTCUTS = [
  ['1–9', 'Choose the Nth class of the first choice task (toggles for multiple choice). With text selected in the item: add a span of the Nth class.'],
  ['u', 'Toggle “Uncertain”'],
  ['Enter', 'Submit the answer; after gold feedback, go to the next item'],
  ['n', 'Next item (after gold feedback)'],
  ['+ / −', 'Zoom the image in / out'],
  ['0', 'Reset zoom, pan, contrast and brightness'],
  ['Arrow keys', 'Pan the image while zoomed'],
  ['Drag', 'Draw a box on the image (box tasks); Shift+drag pans'],
  ['?', 'Show or hide this help'],
];

async function renderLabel(view, p) {
  document.title = `Label · ${p} · Concord`;
  const S = { busy: false, cur: null, feedback: null, qualification: '' };
  const body = h('div', {});
  const help = h('section', { id: 'shortcut-help', class: 'card help', 'aria-labelledby': 'help-h', hidden: !state.helpOpen },
    h('h2', { id: 'help-h' }, 'Keyboard shortcuts'),
    h('dl', {}, SHORTCUTS.map(([k, d]) => [h('dt', {}, h('kbd', {}, k)), h('dd', {}, d)])));
  const helpBtn = h('button', { type: 'button', class: 'secondary small', 'aria-expanded': String(state.helpOpen), 'aria-controls': 'shortcut-help' }, 'All shortcuts (?)');
  const toggleHelp = () => { state.helpOpen = help.hidden; help.hidden = !state.helpOpen; helpBtn.setAttribute('aria-expanded', String(state.helpOpen)); };
  helpBtn.addEventListener('click', toggleHelp);
  view.append(h('div', { class: 'title-row' }, h('h1', { tabindex: -1 }, `Label — ${p}`),
    h('p', { id: 'shortcuts', class: 'shortcuts' }, 'Keys: ', h('kbd', {}, '1–9'), 'choose · ', h('kbd', {}, 'u'), 'uncertain · ',
      h('kbd', {}, 'Enter'), 'submit · ', h('kbd', {}, 'n'), 'next after feedback ', helpBtn)), help, body);

  async function loadNext() {
    S.feedback = null;
    const task = await api('POST', P(p, '/next'), {});
    if (!view.isConnected) return;
    if (!task) {
      S.cur = null;
      body.replaceChildren(h('div', { class: 'card' },
        h('p', { id: 'empty' }, 'No items left for you in this project.'),
        h('a', { href: '#/projects' }, 'Back to projects')));
      return;
    }
    const proto = await getProtocol(p, task.protocol_version);
    if (!view.isConnected) return;
    showItem(task, proto);
    if (!document.activeElement || document.activeElement === document.body) $('#item-h').focus({ preventScroll: true });
  }

  function showItem(task, proto) {
    const tasks = tasksOf(proto);
    const protocol = proto.protocol || {};
    const firstCat = tasks.find(categorical);
    const spanTask = tasks.find(t => t.type === 'span');
    const boxTask = tasks.find(t => t.type === 'box');
    const itemPane = h('section', { class: 'card item-pane', 'aria-labelledby': 'item-h' });
    const redraw = { box: () => {}, span: () => {} };
    let textEl = null;

    // Item content
    itemPane.append(h('div', { class: 'item-head' },
      h('h2', { id: 'item-h', tabindex: -1 }, 'Item ', h('span', { id: 'item-id' }, task.item)),
      task.lease_expires_at ? h('span', { class: 'muted' }, `Lease expires ${fmtTime(task.lease_expires_at)}`) : null));
    let viewer = null;
    if (task.kind === 'image') {
      viewer = imageViewer(P(p, `/items/${enc(task.item)}/content`), task.item, boxTask, r => {
        const reg = ctls.find(c => c.t === boxTask).reg;
        reg.add([r[0], r[1], r[2], r[3], reg.newClass()]);
      });
      itemPane.append(viewer.el);
      redraw.box = () => viewer.draw(boxTask ? ctls.find(c => c.t === boxTask).reg.list : []);
    } else if (task.kind === 'uri') {
      const safe = /^https?:\/\//i.test(task.content || '');
      itemPane.append(h('p', { class: 'uri' }, safe ? h('a', { href: task.content, target: '_blank', rel: 'noopener noreferrer' }, task.content) : task.content));
    } else {
      textEl = h('div', { id: 'item-text', class: 'item-text', tabindex: 0, 'aria-label': `Text of item ${task.item}` });
      textEl.textContent = task.content || '';
      itemPane.append(textEl);
      redraw.span = () => renderSpans(textEl, task.content || '', spanTask ? ctls.find(c => c.t === spanTask).reg.list : []);
    }

    // Tasks
    const ctls = tasks.map((t, i) => taskControl(t, i, t === firstCat, () => redraw[t.type] && redraw[t.type](), textEl));
    const submitBtn = h('button', { id: 'submit', type: 'submit' }, 'Submit');
    const form = h('form', { id: 'label-form', 'aria-label': 'Answer' },
      h('fieldset', { class: 'plain' }, ctls.map(c => c.el)),
      h('div', { class: 'submit-row' }, submitBtn, h('span', { class: 'muted' }, h('kbd', {}, 'Enter'), 'submits')));
    form.addEventListener('submit', e => { e.preventDefault(); submit(); });
    const fbSlot = h('div', {});
    const qual = h('p', { id: 'qualification', class: 'note', hidden: !S.qualification }, S.qualification);
    const side = h('section', { class: 'card protocol-pane', 'aria-labelledby': 'proto-h' },
      h('h2', { id: 'proto-h' }, protocol.name || 'Protocol'),
      protocol.description ? h('p', { class: 'muted' }, protocol.description) : null,
      qual, fbSlot, form);
    body.replaceChildren(h('div', { class: 'label-layout' }, itemPane, side));
    redraw.span();
    S.cur = { task, shown: performance.now() };

    async function submit() {
      if (S.busy || S.feedback) return;
      clearError();
      const value = {};
      for (const c of ctls) {
        const v = c.value();
        if (v == null) {
          showError(`Answer “${c.t.prompt || c.t.id}” before submitting${c.uncertain ? ' (or mark it Uncertain)' : ''}.`);
          c.focus();
          return;
        }
        value[c.t.id] = v;
      }
      S.busy = true; submitBtn.disabled = true;
      try {
        const receipt = await api('POST', P(p, `/items/${enc(task.item)}/annotations`),
          { value, time_spent_ms: Math.max(0, Math.round(performance.now() - S.cur.shown)) });
        setStatus(`Submitted ${task.item}`);
        if (receipt && receipt.qualification) S.qualification = String(receipt.qualification);
        qual.textContent = S.qualification; qual.hidden = !S.qualification;
        if (receipt && receipt.gold) showFeedback(receipt.gold, value); else await loadNext();
      } catch (e) { showError(e); } finally { S.busy = false; submitBtn.disabled = false; }
    }

    function showFeedback(gold, value) {
      const right = !!gold.correct;
      const next = h('button', { id: 'next', type: 'button' }, 'Next item');
      S.feedback = async () => {
        if (S.busy) return;
        S.busy = true; next.disabled = true;
        try { await loadNext(); } catch (e) { showError(e); next.disabled = false; } finally { S.busy = false; }
      };
      next.addEventListener('click', () => S.feedback && S.feedback());
      form.querySelector('fieldset').disabled = submitBtn.disabled = true;
      fbSlot.replaceChildren(h('section', { id: 'gold-feedback', class: `feedback ${right ? 'ok' : 'bad'}`, 'aria-labelledby': 'fb-h' },
        h('h2', { id: 'fb-h' }, `${right ? '✓' : '✗'} Gold item: your answer was ${right ? 'correct' : 'incorrect'}`),
        h('dl', { class: 'facts' },
          h('dt', {}, 'Your answer'), h('dd', {}, fmtValue(value)),
          h('dt', {}, 'Reference answer'), h('dd', {}, fmtValue(gold.reference))),
        gold.definition ? h('p', {}, h('strong', {}, 'Definition: '), gold.definition) : null,
        h('div', { class: 'submit-row' }, next, h('span', { class: 'muted' }, h('kbd', {}, 'Enter'), 'or ', h('kbd', {}, 'n'), 'continues'))));
      next.focus();
    }

    state.key = e => {
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      const t = e.target;
      const tag = t.tagName || '';
      const typing = tag === 'TEXTAREA' || tag === 'SELECT' || t.isContentEditable ||
        (tag === 'INPUT' && !['radio', 'checkbox', 'range', 'button', 'submit'].includes(t.type));
      if (e.key === 'Enter') {
        if (tag === 'BUTTON' || tag === 'A' || tag === 'TEXTAREA') return; // native activation
        e.preventDefault();
        if (S.feedback) S.feedback(); else submit();
        return;
      }
      if (typing) return;
      if (e.key === '?') { e.preventDefault(); toggleHelp(); return; }
      if (S.feedback) {
        if (e.key === 'n' || e.key === 'N') { e.preventDefault(); S.feedback(); }
        return;
      }
      if (/^[1-9]$/.test(e.key)) {
        const n = Number(e.key) - 1;
        const sel = spanTask && textEl ? selectionOffsets(textEl) : null;
        if (sel) {
          const c = ctls.find(x => x.t === spanTask);
          if (c.t.classes[n]) { c.reg.add([sel[0], sel[1], c.t.classes[n].id]); getSelection().removeAllRanges(); }
        } else if (firstCat) ctls.find(x => x.t === firstCat).choose(n);
        else if (boxTask) ctls.find(x => x.t === boxTask).reg.setNewClass(n);
        e.preventDefault();
        return;
      }
      if (e.key === 'u' || e.key === 'U') {
        const c = ctls.find(x => x.uncertain && x.t === firstCat) || ctls.find(x => x.uncertain);
        if (c) { c.uncertain.checked = !c.uncertain.checked; e.preventDefault(); }
        return;
      }
      if (viewer && viewer.key(e, tag === 'INPUT')) e.preventDefault();
    };
  }

  await loadNext();
}

// One task's control: returns {t, el, value(), choose(n), focus(), uncertain, reg}.
function taskControl(t, i, keyed, changed, textEl) {
  const name = `t${i}`;
  const fs = h('fieldset', { class: 'task' }, h('legend', {}, t.prompt || t.id));
  const classes = t.classes || [];
  let get = () => null, choose = () => {}, first = null, reg = null, uncertain = null;
  if (categorical(t)) {
    const multi = t.type === 'multi';
    if (t.type === 'ordinal') fs.append(h('p', { class: 'muted' }, 'Ordered scale, lowest first.'));
    const inputs = classes.map((c, j) => {
      const id = `${name}-c${j}`;
      const input = h('input', { type: multi ? 'checkbox' : 'radio', name, id, value: c.id });
      input.addEventListener('change', () => { if (uncertain && input.checked) uncertain.checked = false; });
      fs.append(h('div', { class: 'choice' }, input, h('label', { for: id }, classBody(c, keyed && j < 9 ? j + 1 : null))));
      return input;
    });
    first = inputs[0];
    get = () => (multi ? inputs.filter(x => x.checked).map(x => x.value) : (inputs.find(x => x.checked) || {}).value ?? null);
    choose = j => { const x = inputs[j]; if (!x) return; x.checked = multi ? !x.checked : true; if (uncertain) uncertain.checked = false; };
  } else if (t.type === 'number') {
    const range = [ok(t.min) ? `min ${t.min}` : '', ok(t.max) ? `max ${t.max}` : ''].filter(Boolean).join(', ');
    first = h('input', { type: 'number', step: 'any', min: t.min, max: t.max, inputmode: 'decimal' });
    fs.append(field(`${name}-n`, `Value${t.unit ? ` (${t.unit})` : ''}`, first, range || null));
    get = () => (first.value === '' || !Number.isFinite(first.valueAsNumber) ? null : first.valueAsNumber);
  } else if (t.type === 'box' || t.type === 'span') {
    reg = regionList(t, name, changed, textEl);
    fs.append(reg.el);
    get = () => reg.list.map(r => r.slice());
    first = reg.el.querySelector('select, button');
  } else {
    fs.append(h('p', { class: 'error' }, `Task type “${t.type}” is not supported in the browser yet.`));
  }
  if (t.allow_uncertain) {
    const id = `${name}-u`;
    uncertain = h('input', { type: 'checkbox', id });
    fs.append(h('div', { class: 'choice uncertain' }, uncertain,
      h('label', { for: id }, keyed ? h('kbd', {}, 'u') : null, h('strong', {}, 'Uncertain'), h('span', { class: 'def' }, 'Cannot be determined from this item.'))));
  }
  fs.append(rulesBlock(t.rules));
  return {
    t, el: fs, choose, uncertain, reg,
    value: () => (uncertain && uncertain.checked ? { uncertain: true } : get()),
    focus: () => (first || uncertain) && (first || uncertain).focus(),
  };
}

// Editable list of boxes [x,y,w,h,class] or spans [start,end,class].
function regionList(t, name, changed, textEl) {
  const isBox = t.type === 'box';
  const fields = isBox ? ['x', 'y', 'w', 'h'] : ['start', 'end'];
  const noun = isBox ? 'Box' : 'Span';
  const classes = (t.classes || []).map(c => c.id);
  const list = [];
  const ul = h('ul', { class: 'regions', 'aria-label': `${noun}es` });
  const classSelect = (value, label) => h('select', { 'aria-label': label },
    classes.map(c => h('option', { value: c, selected: c === value }, c)));
  const newClass = classSelect(classes[0], `Class for new ${noun.toLowerCase()}es`);
  const render = () => {
    ul.replaceChildren(...list.map((r, k) => {
      const inputs = fields.map((f, j) => {
        const inp = h('input', { type: 'number', step: 1, min: 0, value: String(r[j]), 'aria-label': `${noun} ${k + 1} ${f}` });
        inp.addEventListener('change', () => { if (Number.isFinite(inp.valueAsNumber)) { r[j] = inp.valueAsNumber; changed(); } });
        return [h('span', { 'aria-hidden': 'true' }, f), inp];
      });
      const sel = classSelect(r[fields.length], `${noun} ${k + 1} class`);
      sel.addEventListener('change', () => { r[fields.length] = sel.value; changed(); });
      const del = h('button', { type: 'button', class: 'secondary small', 'aria-label': `Delete ${noun.toLowerCase()} ${k + 1}` }, 'Delete');
      del.addEventListener('click', () => { list.splice(k, 1); render(); changed(); });
      return h('li', {}, h('strong', {}, `${noun} ${k + 1}`), inputs, sel, del);
    }));
    if (!list.length) ul.append(h('li', { class: 'muted' }, `No ${noun.toLowerCase()}es yet.`));
  };
  const add = r => { list.push(r); render(); changed(); };
  const addBtn = h('button', { type: 'button', class: 'secondary small' }, `Add ${noun.toLowerCase()}`);
  addBtn.addEventListener('click', () => {
    if (isBox) {
      const img = $('#item-image'), W = (img && img.naturalWidth) || 100, H = (img && img.naturalHeight) || 100;
      add([Math.round(W / 4), Math.round(H / 4), Math.round(W / 2), Math.round(H / 2), newClass.value]);
    } else {
      const sel = textEl ? selectionOffsets(textEl) : null;
      add(sel ? [sel[0], sel[1], newClass.value] : [0, 1, newClass.value]);
    }
  });
  render();
  const hint = isBox ? 'Drag on the image to draw a box (Shift+drag pans), or add one and type its pixel coordinates.'
    : 'Select text in the item, then press the class number (1–9), or add a span and type its character offsets.';
  return {
    list, add,
    setNewClass: n => { if (classes[n]) newClass.value = classes[n]; },
    newClass: () => newClass.value,
    el: h('div', {}, h('p', { class: 'muted' }, hint),
      h('ol', { class: 'muted' }, classes.map((c, j) => h('li', {}, classBody(t.classes[j], null)))),
      h('div', { class: 'row-actions' }, h('label', {}, `New ${noun.toLowerCase()} class `, newClass), addBtn), ul),
  };
}

// Character (code point) offsets of the current selection inside root.
function selectionOffsets(root) {
  const sel = getSelection();
  if (!sel || !sel.rangeCount || sel.isCollapsed) return null;
  const r = sel.getRangeAt(0);
  if (!root.contains(r.startContainer) || !root.contains(r.endContainer)) return null;
  const pre = document.createRange();
  pre.selectNodeContents(root);
  pre.setEnd(r.startContainer, r.startOffset);
  const start = Array.from(pre.toString()).length;
  const len = Array.from(r.toString()).length;
  return len ? [start, start + len] : null;
}

// Rebuild the text with <mark> around span ranges; text nodes keep offsets intact.
function renderSpans(el, text, spans) {
  const chars = Array.from(text), cls = new Array(chars.length).fill(null);
  for (const [a, b, c] of spans) for (let k = Math.max(0, a); k < Math.min(b, chars.length); k++) cls[k] = c;
  const out = [];
  let k = 0;
  while (k < chars.length) {
    let e = k;
    while (e < chars.length && cls[e] === cls[k]) e++;
    const piece = chars.slice(k, e).join('');
    out.push(cls[k] == null ? document.createTextNode(piece) : h('mark', { 'data-class': cls[k], title: cls[k] }, piece));
    k = e;
  }
  el.replaceChildren(...out);
}

// Image viewer with zoom, pan, contrast/brightness and box drawing.
function imageViewer(src, item, boxTask, onBox) {
  const V = { z: 1, x: 0, y: 0 };
  const img = h('img', { id: 'item-image', src, alt: `Image of item ${item}`, draggable: 'false' });
  const overlay = s('svg', { class: 'overlay', 'aria-hidden': 'true', preserveAspectRatio: 'none' });
  const stage = h('div', { class: 'stage' }, img, overlay);
  const viewport = h('div', { class: `viewport${boxTask ? '' : ' pan'}`, tabindex: 0, role: 'group',
    'aria-label': 'Image viewer. Plus and minus zoom, arrow keys pan while zoomed, 0 resets.' }, stage);
  const zoomOut = h('button', { type: 'button', class: 'secondary small', 'aria-label': 'Zoom out (−)' }, '−');
  const zoomIn = h('button', { type: 'button', class: 'secondary small', 'aria-label': 'Zoom in (+)' }, '+');
  const reset = h('button', { type: 'button', class: 'secondary small' }, 'Reset (0)');
  const zoomText = h('span', { 'aria-live': 'polite', class: 'muted' }, '100%');
  const slider = label => h('label', {}, label, h('input', { type: 'range', min: 30, max: 250, value: '100', 'aria-label': `${label} (%)` }));
  const contrast = slider('Contrast'), bright = slider('Brightness');
  const apply = () => {
    stage.style.transform = `translate(${V.x}px, ${V.y}px) scale(${V.z})`;
    zoomText.textContent = `${Math.round(V.z * 100)}%`;
    img.style.filter = `contrast(${$('input', contrast).value}%) brightness(${$('input', bright).value}%)`;
  };
  const zoom = f => { V.z = Math.min(8, Math.max(1, V.z * f)); if (V.z === 1) { V.x = 0; V.y = 0; } apply(); };
  const pan = (dx, dy) => { if (V.z > 1) { V.x += dx; V.y += dy; apply(); } };
  const resetAll = () => { V.z = 1; V.x = 0; V.y = 0; $('input', contrast).value = '100'; $('input', bright).value = '100'; apply(); };
  zoomOut.addEventListener('click', () => zoom(1 / 1.25));
  zoomIn.addEventListener('click', () => zoom(1.25));
  reset.addEventListener('click', resetAll);
  contrast.addEventListener('input', apply);
  bright.addEventListener('input', apply);
  let boxes = [];
  const draw = (list, temp) => {
    if (list) boxes = list;
    const fs = Math.max(12, (img.naturalWidth || 500) / 45);
    overlay.replaceChildren(...boxes.map((b, k) => s('g', {},
      s('rect', { x: b[0], y: b[1], width: b[2], height: b[3], 'vector-effect': 'non-scaling-stroke' }),
      s('text', { x: b[0] + 3, y: b[1] + fs, 'font-size': fs }, `${k + 1} ${b[4]}`))));
    if (temp) overlay.append(s('rect', { class: 'temp', x: temp[0], y: temp[1], width: temp[2], height: temp[3], 'vector-effect': 'non-scaling-stroke' }));
  };
  img.addEventListener('load', () => { overlay.setAttribute('viewBox', `0 0 ${img.naturalWidth} ${img.naturalHeight}`); draw(); });
  img.addEventListener('error', () => showError(`The image of ${item} could not be loaded.`));
  const toImg = e => {
    const b = img.getBoundingClientRect(), cx = Math.min(Math.max(e.clientX, b.left), b.right), cy = Math.min(Math.max(e.clientY, b.top), b.bottom);
    return [((cx - b.left) / b.width) * img.naturalWidth, ((cy - b.top) / b.height) * img.naturalHeight];
  };
  const rectOf = (a, b) => [Math.round(Math.min(a[0], b[0])), Math.round(Math.min(a[1], b[1])),
    Math.round(Math.abs(a[0] - b[0])), Math.round(Math.abs(a[1] - b[1]))];
  let drag = null;
  viewport.addEventListener('pointerdown', e => {
    if (e.button !== 0 || !img.naturalWidth) return;
    drag = { pan: !boxTask || e.shiftKey, sx: e.clientX, sy: e.clientY, start: toImg(e), cur: null };
    viewport.setPointerCapture(e.pointerId); viewport.focus({ preventScroll: true }); e.preventDefault();
  });
  viewport.addEventListener('pointermove', e => {
    if (!drag) return;
    if (drag.pan) { pan(e.clientX - drag.sx, e.clientY - drag.sy); drag.sx = e.clientX; drag.sy = e.clientY; } else { drag.cur = toImg(e); draw(null, rectOf(drag.start, drag.cur)); }
  });
  const end = () => {
    if (drag && !drag.pan && drag.cur) {
      const r = rectOf(drag.start, drag.cur);
      if (r[2] >= 2 && r[3] >= 2) onBox([...r, null]);
    }
    drag = null; draw();
  };
  viewport.addEventListener('pointerup', end);
  viewport.addEventListener('pointercancel', () => { drag = null; draw(); });
  apply();
  const key = (e, inInput) => {
    const step = 40;
    if (e.key === '+' || e.key === '=') zoom(1.25);
    else if (e.key === '-' || e.key === '_') zoom(1 / 1.25);
    else if (e.key === '0') resetAll();
    else if (inInput || V.z === 1) return false;
    else if (e.key === 'ArrowLeft') pan(step, 0);
    else if (e.key === 'ArrowRight') pan(-step, 0);
    else if (e.key === 'ArrowUp') pan(0, step);
    else if (e.key === 'ArrowDown') pan(0, -step);
    else return false;
    return true;
  };
  const el = h('div', {},
    h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Image tools' }, zoomOut, zoomText, zoomIn, reset, contrast, bright),
    viewport);
  return { el, draw, key };
}

// ---------- charts (inline SVG) ----------
// Horizontal bars: rows [{label, value, text}], value in [0, max].
function barChart(rows, max, title) {
  const W = 540, rowH = 28, left = 170, right = 70;
  const H = rows.length * rowH + 8;
  const scale = v => (max > 0 ? (Math.max(0, v) / max) * (W - left - right) : 0);
  return s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img',
    'aria-label': `${title}: ${rows.map(r => `${r.label} ${r.text}`).join(', ')}` },
    s('title', {}, title),
    rows.map((r, k) => {
      const y = 4 + k * rowH;
      return s('g', {},
        s('text', { x: left - 8, y: y + 17, 'text-anchor': 'end' }, r.label),
        s('rect', { class: 'track', x: left, y: y + 4, width: W - left - right, height: rowH - 10 }),
        s('rect', { class: 'bar', x: left, y: y + 4, width: scale(r.value ?? 0), height: rowH - 10 }),
        s('text', { x: W - right + 6, y: y + 17 }, r.text));
    }));
}
// Lines of fractions in [0,1] per index: series [{name, cls, values:[num|null]}].
function lineChart(series, title, xLabel) {
  const W = 560, H = 220, L = 44, R = 12, T = 12, B = 34;
  const n = Math.max(0, ...series.map(x => x.values.length));
  const X = k => L + (n <= 1 ? (W - L - R) / 2 : (k / (n - 1)) * (W - L - R));
  const Y = v => T + (1 - v) * (H - T - B);
  const g = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label':
    `${title}. ${series.map(x => `${x.name}: ${x.values.map(v => pct(v)).join(', ') || 'no data'}`).join('. ')}` }, s('title', {}, title));
  for (const v of [0, 0.5, 1]) {
    g.append(s('line', { class: 'grid', x1: L, x2: W - R, y1: Y(v), y2: Y(v) }),
      s('text', { x: L - 6, y: Y(v) + 4, 'text-anchor': 'end' }, pct(v)));
  }
  g.append(s('line', { class: 'axis', x1: L, x2: W - R, y1: Y(0), y2: Y(0) }),
    s('text', { x: (L + W - R) / 2, y: H - 6, 'text-anchor': 'middle' }, xLabel));
  for (const ser of series) {
    let d = '';
    ser.values.forEach((v, k) => { if (ok(v)) d += `${d && ok(ser.values[k - 1]) ? 'L' : 'M'}${X(k).toFixed(1)} ${Y(v).toFixed(1)} `; });
    if (d) g.append(s('path', { class: `line ${ser.cls}`, d }));
    ser.values.forEach((v, k) => {
      if (ok(v)) g.append(s('circle', { class: ser.cls, cx: X(k), cy: Y(v), r: 3.5 }, s('title', {}, `${ser.name}, window ${k + 1}: ${pct(v)}`)));
    });
  }
  const legend = h('p', { class: 'legend' }, series.map(x => h('span', {}, h('span', { class: `sw ${x.cls}`, 'aria-hidden': 'true' }), x.name)));
  return n ? h('figure', {}, g, legend) : h('p', { class: 'muted' }, 'Not enough labels for a trend yet.');
}
// A tiny bar showing a 95% interval with its mean (decorative: the text gives the numbers).
function intervalBar(a) {
  if (!a || !a.total) return null;
  const W = 100;
  return s('svg', { class: 'ibar', width: W, height: 12, viewBox: `0 0 ${W} 12`, 'aria-hidden': 'true' },
    s('rect', { class: 'track', x: 0, y: 5, width: W, height: 2 }),
    s('rect', { class: 'range', x: a.low * W, y: 2, width: Math.max(1, (a.high - a.low) * W), height: 8 }),
    s('rect', { class: 'mean', x: a.mean * W - 1, y: 0, width: 2, height: 12 }));
}
const accCell = a => [h('span', {}, fmtAcc(a)), intervalBar(a)];

// ---------- annotator: my performance ----------
async function renderMe(view, p) {
  document.title = `My performance · ${p} · Concord`;
  view.append(h('h1', { tabindex: -1 }, `My performance — ${p}`));
  const arr = await api('GET', P(p, '/me'));
  const q = Array.isArray(arr) ? arr[0] : arr;
  if (!q) { view.append(h('p', { class: 'card' }, 'No labels yet. Your performance appears here after you label items.')); return; }
  view.append(section('me-summary', 'Summary', h('dl', { class: 'facts' },
    h('dt', {}, 'Gold accuracy'), h('dd', { id: 'me-gold' }, accCell(q.gold)),
    h('dt', {}, 'Agreement with consensus'), h('dd', { id: 'me-consensus' }, accCell(q.consensus)),
    h('dt', {}, 'Labels submitted'), h('dd', {}, String(q.labels ?? 0)),
    h('dt', {}, 'Expected accuracy'), h('dd', {}, pct(q.expected_accuracy)))));
  const pc = q.per_class || [];
  view.append(section('me-classes', 'Recall per class', pc.length
    ? table(null, [['Class'], ['Recall (share of the class you labelled so)'], ['Model estimate', 'num']],
      pc.map(c => [[c.class], [accCell(c.recall)], [pct(c.model_recall), 'num']]), 'per-class')
    : h('p', { class: 'muted' }, 'No per-class data yet.')));
  const tr = q.trend || [];
  view.append(section('me-trend', 'Trend', h('p', { class: 'muted' }, 'Each point is a window of consecutive labels, oldest first.'),
    lineChart([{ name: 'Gold accuracy', cls: 's-gold', values: tr.map(w => meanOf(w.gold)) },
      { name: 'Agreement with consensus', cls: 's-cons', values: tr.map(w => meanOf(w.consensus)) }], 'Accuracy by window', 'Window')));
  const cal = q.calibration;
  if (cal) {
    view.append(section('me-calibration', 'Calibration of your stated confidence',
      h('dl', { class: 'facts' },
        h('dt', {}, 'Answers with a confidence'), h('dd', {}, String(cal.n ?? '—')),
        h('dt', {}, 'Mean stated confidence'), h('dd', {}, pct(cal.confidence, 1)),
        h('dt', {}, 'Share right'), h('dd', {}, pct(cal.accuracy, 1)),
        h('dt', {}, 'Brier score (0 is perfect)'), h('dd', {}, num(cal.brier, 3)),
        h('dt', {}, 'Expected calibration error'), h('dd', {}, pct(cal.ece, 1))),
      (cal.bins || []).length ? table('Reliability by confidence bin', [['Bin'], ['Answers', 'num'], ['Mean confidence', 'num'], ['Share right', 'num']],
        cal.bins.map(b => [[`${pct(b.low)}–${pct(b.high)}`], [String(b.n), 'num'], [pct(b.confidence, 1), 'num'], [pct(b.accuracy, 1), 'num']])) : null));
  }
}

// ---------- adjudicator ----------
async function renderAdjudicate(view, p) {
  document.title = `Adjudicate · ${p} · Concord`;
  state.protocols.delete(p);
  view.append(h('h1', { tabindex: -1 }, `Adjudicate — ${p}`));
  const [proto, initial] = await Promise.all([getProtocol(p), api('GET', P(p, '/adjudication'))]);
  const tasks = tasksOf(proto);
  const cat = tasks.find(t => t.type === 'single' || t.type === 'ordinal');
  const queueNav = h('nav', { class: 'card queue', 'aria-label': 'Adjudication queue' });
  const detail = h('section', { class: 'card', 'aria-live': 'off', 'aria-label': 'Selected item' });
  view.append(h('div', { class: 'adj-layout' }, queueNav, detail));
  let queue = initial || [];
  let selected = null;

  function renderQueue() {
    queueNav.replaceChildren(h('h2', {}, `Queue (${queue.length})`),
      h('p', { class: 'muted' }, 'Least confident first.'));
    if (!queue.length) { queueNav.append(h('p', {}, 'The queue is empty.')); return; }
    queueNav.append(h('ul', {}, queue.map(entry => {
      const b = h('button', { type: 'button', 'aria-current': entry.item === selected ? 'true' : null },
        entry.item, h('span', { class: 'meta' }, `Confidence ${pct(entry.confidence)}${entry.reason ? ` · ${entry.reason}` : ''}`));
      b.addEventListener('click', () => { selected = entry.item; renderQueue(); show(entry); });
      return h('li', {}, b);
    })));
  }

  function show(entry) {
    clearError();
    const reads = entry.reads || [];
    const rationale = h('textarea', { rows: 3, required: true });
    const password = h('input', { type: 'password', autocomplete: 'current-password', required: true });
    const sign = h('button', { id: 'sign', type: 'submit' }, 'Sign decision');
    let decision;
    let read;
    if (cat) {
      const radios = (cat.classes || []).map(c => h('input', { type: 'radio', name: 'decision', id: `decision-${c.id}`, value: c.id }));
      decision = h('fieldset', { class: 'task' }, h('legend', {}, `Decision: ${cat.prompt || cat.id}`),
        radios.map((r, j) => h('div', { class: 'choice' }, r, h('label', { for: r.id }, classBody(cat.classes[j], null)))),
        rulesBlock(cat.rules));
      read = () => {
        const r = radios.find(x => x.checked);
        if (!r) return null;
        const base = entry.label && typeof entry.label === 'object' && !Array.isArray(entry.label) ? entry.label : {};
        const value = {};
        for (const t of tasks) if (!t.confidence_of && t.id in base) value[t.id] = base[t.id];
        value[cat.id] = r.value;
        return value;
      };
    } else {
      const ta = h('textarea', { rows: 4 });
      decision = field('decision-json', 'Decision (JSON object keyed by task id)', ta);
      read = () => { try { return JSON.parse(ta.value); } catch { return null; } };
    }
    const form = h('form', { 'aria-label': `Decision for ${entry.item}` }, decision,
      h('input', { type: 'text', name: 'username', autocomplete: 'username', value: state.me.name, hidden: true, 'aria-hidden': 'true', tabindex: -1 }),
      field('rationale', 'Rationale (required)', rationale),
      field('sign-password', 'Re-enter your password to sign', password), sign);
    form.addEventListener('submit', async e => {
      e.preventDefault(); clearError();
      const value = read();
      if (!value) { showError(cat ? 'Choose a decision.' : 'Enter the decision as a JSON object.'); return; }
      if (!rationale.value.trim()) { showError('A rationale is required.'); rationale.focus(); return; }
      sign.disabled = true;
      try {
        await api('POST', P(p, `/items/${enc(entry.item)}/adjudication`), { value, rationale: rationale.value.trim(), password: password.value });
        setStatus('Signed');
        selected = null; queue = (await api('GET', P(p, '/adjudication'))) || []; renderQueue();
        detail.replaceChildren(h('h2', {}, `Decision on ${entry.item} signed`), h('p', {}, 'Choose the next item from the queue.'));
        const nextBtn = $('button', queueNav);
        if (nextBtn) nextBtn.focus();
      } catch (err) { showError(err); password.value = ''; } finally { sign.disabled = false; }
    });
    detail.replaceChildren(
      h('h2', {}, `Item ${entry.item}`),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Reason'), h('dd', {}, entry.reason || '—'),
        h('dt', {}, 'Consensus label'), h('dd', { id: 'consensus-label' }, fmtValue(entry.label)),
        h('dt', {}, 'Confidence'), h('dd', {}, pct(entry.confidence, 1))),
      h('p', {}, h('a', { href: `#/p/${enc(p)}/item/${enc(entry.item)}` }, 'Full provenance of this item')),
      h('h3', {}, 'Reads'),
      table(null, [['Annotator'], ['Answer'], ['Skill', 'num']],
        reads.map(r => [[r.annotator], [fmtValue(r.value)], [pct(r.skill), 'num']]), 'reads'),
      tasks.filter(t => t !== cat && (t.classes || []).length).map(t => h('div', {},
        h('h3', {}, `Definitions: ${t.prompt || t.id}`), h('ul', {}, t.classes.map(c => h('li', {}, classBody(c, null)))), rulesBlock(t.rules))),
      h('h3', {}, 'Your decision'), form);
    const first = $('input', detail);
    if (first) first.focus();
  }

  renderQueue();
  if (!queue.length) detail.replaceChildren(h('p', {}, 'Nothing to adjudicate right now.'));
  else detail.replaceChildren(h('p', {}, 'Select an item from the queue.'));
}

// ---------- manager dashboard ----------
async function renderManage(view, p) {
  document.title = `Dashboard · ${p} · Concord`;
  const roles = (state.me && state.me.roles) || [];
  const manager = roles.includes('manager') || roles.includes('admin');
  view.append(h('h1', { tabindex: -1 }, `Dashboard — ${p}`));
  const grid = h('div', { class: 'dash' });
  view.append(grid);
  const slot = (id, title, wide) => {
    const sec = section(id, title);
    if (wide) sec.classList.add('wide');
    return grid.appendChild(sec);
  };
  const fill = async (sec, fn) => {
    const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
    sec.replaceChildren(sec.firstChild, body);
    try { body.replaceChildren(...[].concat(await fn())); } catch (e) {
      body.replaceChildren(h('p', { class: 'error', role: 'alert' }, e.message));
    }
  };
  const statusSec = slot('status-section', 'Project status', true);
  const loadStatus = () => fill(statusSec, async () => {
    const st = await api('GET', P(p, '/status'));
    const it = st.items || {};
    const states = [['open', 'Open'], ['complete', 'Complete'], ['adjudication', 'Awaiting adjudication'], ['adjudicated', 'Adjudicated'], ['gold', 'Gold']];
    const stat = (id, k, v) => h('div', { class: 'stat' }, h('span', { class: 'k' }, k), h('span', { class: 'v', id }, v));
    const maxItems = Math.max(1, ...states.map(([k]) => it[k] || 0));
    return [
      h('div', { class: 'stats' },
        states.map(([k, label]) => stat(`stat-${k}`, label, String(it[k] ?? 0))),
        stat('stat-annotations', 'Annotations', String(st.annotations ?? 0)),
        stat('stat-labels-per-item', 'Labels per item', num(st.labels_per_item)),
        stat('stat-cost-per-item', 'Cost per item', num(st.cost_per_item)),
        stat('stat-agreement', 'Pairwise agreement', ok(st.agreement) ? pct(st.agreement, 1) : '—')),
      h('h3', {}, 'Items by state'),
      barChart(states.map(([k, label]) => ({ label, value: it[k] || 0, text: String(it[k] || 0) })), maxItems, 'Items by state'),
      h('p', { class: 'muted' }, `Latest consensus run: ${st.latest_run ?? 'none yet'}`),
      manager ? h('div', { class: 'row-actions' }, runBtn) : null,
    ];
  });
  const runBtn = h('button', { id: 'run-consensus', type: 'button' }, 'Run consensus');
  runBtn.addEventListener('click', async () => {
    clearError(); runBtn.disabled = true; setStatus('Running consensus…');
    try {
      const r = await api('POST', P(p, '/consensus'), {});
      setStatus(`Consensus run ${r.run} (${r.method}): ${r.items} items, ${r.annotations} annotations, ` +
        `${r.iterations} iterations${r.converged ? ', converged' : ', did not converge'}; ` +
        `${r.complete} complete, ${r.adjudication} to adjudicate, ${r.open} open.`);
      refresh();
    } catch (e) { setStatus(''); showError(e); } finally { runBtn.disabled = false; }
  });

  let refresh = () => loadStatus();
  if (manager) {
    const lbSec = slot('leaderboard-section', 'Annotator leaderboard', true);
    const classSec = slot('class-section', 'Agreement per class');
    const trendSec = slot('trend-section', 'Agreement over time');
    const loadTeam = async () => {
      let team = [];
      await fill(lbSec, async () => {
        team = (await api('GET', P(p, '/annotators'))) || [];
        const key = a => [meanOf(a.gold) ?? -1, meanOf(a.consensus) ?? -1];
        const sorted = [...team].sort((a, b) => { const [x, y] = [key(a), key(b)]; return y[0] - x[0] || y[1] - x[1]; });
        if (!sorted.length) return h('p', { class: 'muted' }, 'No annotators have labelled yet.');
        return [table(null, [['Annotator'], ['Labels', 'num'], ['Gold accuracy (95% interval)'], ['Agreement with consensus (95% interval)'],
          ['Expected accuracy', 'num'], ['Cost', 'num'], ['Flags']],
        sorted.map(a => [[a.annotator], [String(a.labels ?? 0), 'num'], [accCell(a.gold)], [accCell(a.consensus)],
          [pct(a.expected_accuracy), 'num'], [num(a.cost), 'num'],
          [a.leak_suspected ? h('span', { class: 'flag' }, '⚠ Leak suspected') : 'None']]), 'leaderboard'),
        h('p', { class: 'muted' }, 'Sorted by gold accuracy, then agreement with consensus. Bars show the 95% interval; the tick marks the mean.')];
      });
      await fill(classSec, () => {
        const by = new Map();
        for (const a of team) for (const c of a.per_class || []) {
          const m = meanOf(c.recall);
          if (m == null || !(c.recall && c.recall.total)) continue;
          if (!by.has(c.class)) by.set(c.class, []);
          by.get(c.class).push(m);
        }
        if (!by.size) return h('p', { class: 'muted' }, 'No per-class data yet.');
        const rows = [...by].map(([label, v]) => { const m = v.reduce((x, y) => x + y, 0) / v.length; return { label, value: m, text: pct(m, 1) }; });
        return [barChart(rows, 1, 'Mean recall per class across annotators'), h('p', { class: 'muted' }, 'Mean of each annotator’s recall for the class.')];
      });
      await fill(trendSec, () => {
        const n = Math.max(0, ...team.map(a => (a.trend || []).length));
        const values = Array.from({ length: n }, (_, k) => {
          const v = team.map(a => meanOf(((a.trend || [])[k] || {}).consensus)).filter(ok);
          return v.length ? v.reduce((x, y) => x + y, 0) / v.length : null;
        });
        return lineChart([{ name: 'Mean agreement with consensus', cls: 's-cons', values }], 'Agreement over time', 'Window (per annotator, oldest first)');
      });
    };
    const edgeSec = slot('edge-section', 'Edge cases (top 20)', true);
    const loadEdge = () => fill(edgeSec, async () => {
      let list;
      try { list = await api('GET', P(p, '/edge-cases?top=20')); } catch (e) {
        if (e.status === 409) return h('p', { class: 'note' }, e.message);
        throw e;
      }
      if (!list || !list.length) return h('p', { class: 'muted' }, 'No edge cases.');
      return table(null, [['Rank', 'num'], ['Item'], ['Score', 'num'], ['Entropy', 'num'], ['Disagreement', 'num'], ['Model', 'num'], ['Rarity', 'num'], ['Kind'], ['Label']],
        list.map(x => [[String(x.rank), 'num'], [itemLink(p, x.item)], [num(x.score), 'num'], [num(x.entropy), 'num'], [num(x.disagreement), 'num'],
          [num(x.model), 'num'], [num(x.rarity), 'num'], [x.kind || (x.kinds || []).join(', ') || '—'], [fmtValue(x.label)]]), 'edge-cases');
    });
    refresh = () => Promise.all([loadStatus(), loadTeam(), loadEdge()]);

    const protoSec = slot('protocol-section', 'Protocol', true);
    fill(protoSec, async () => {
      state.protocols.delete(p);
      const pr = await getProtocol(p);
      const version = h('p', { id: 'protocol-version' }, `Current version: ${pr.version}`);
      const text = h('textarea', { rows: 18, spellcheck: 'false', wrap: 'off', class: 'mono' });
      text.value = JSON.stringify(pr.protocol, null, 2);
      const note = h('input', { required: true, placeholder: 'e.g. clarified the nodule size rule' });
      const save = h('button', { id: 'save-protocol', type: 'submit' }, 'Save new version');
      const form = h('form', { 'aria-label': 'Edit protocol' }, version,
        field('protocol-text', 'Protocol (YAML or JSON)', text), field('protocol-note', 'What changed (required)', note), save);
      form.addEventListener('submit', async e => {
        e.preventDefault(); clearError();
        if (!note.value.trim()) { showError('Describe what changed.'); note.focus(); return; }
        save.disabled = true;
        try {
          const r = await api('PUT', P(p, '/protocol'), { protocol: text.value, note: note.value.trim() });
          version.textContent = `Current version: ${r.version}`;
          state.protocols.delete(p); note.value = '';
          setStatus(`Saved protocol version ${r.version}`);
        } catch (err) { showError(err); } finally { save.disabled = false; }
      });
      return form;
    });

    const importSec = slot('import-section', 'Import items');
    const jsonl = h('textarea', { rows: 6, spellcheck: 'false', class: 'mono', placeholder: '{"id":"X-1","text":"..."}' });
    const file = h('input', { type: 'file', accept: '.jsonl,.ndjson,.json,.txt,application/x-ndjson' });
    const importBtn = h('button', { id: 'import', type: 'submit' }, 'Import');
    const importForm = h('form', { 'aria-label': 'Import items' },
      field('import-text', 'Items as JSON Lines (one object per line)', jsonl), field('import-file', 'Or choose a JSONL file', file), importBtn);
    importForm.addEventListener('submit', async e => {
      e.preventDefault(); clearError();
      const body = file.files && file.files[0] ? await file.files[0].text() : jsonl.value;
      if (!body.trim()) { showError('Paste JSON Lines or choose a file to import.'); return; }
      importBtn.disabled = true;
      try {
        const r = await api('POST', P(p, '/items'), body, 'application/x-ndjson');
        setStatus(`Imported ${r.imported} items`);
        jsonl.value = ''; file.value = ''; loadStatus();
      } catch (err) { showError(err); } finally { importBtn.disabled = false; }
    });
    importSec.append(importForm);
  }

  if (manager || roles.includes('auditor')) {
    const provSec = slot('provenance-section', 'Item provenance');
    const item = h('input', { required: true, autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. CXR-0007' });
    const show = h('button', { id: 'show-provenance', type: 'submit' }, 'Show provenance');
    const form = h('form', { 'aria-label': 'Item provenance' }, field('provenance-item', 'Item id', item,
      'Every read, the consensus run, the signed adjudication and the audit events behind one label.'), show);
    form.addEventListener('submit', e => { e.preventDefault(); if (item.value.trim()) go(`#/p/${enc(p)}/item/${enc(item.value.trim())}`); });
    provSec.append(form);
  }
  const relSec = slot('releases-section', 'Export and releases', true);
  const relBody = async () => {
    const out = [];
    if (manager) {
      out.push(h('p', { class: 'links' },
        h('a', { id: 'export-csv', class: 'button secondary', href: P(p, '/export?format=csv'), download: `${p}-reference.csv` }, 'Download reference standard (CSV)'),
        h('a', { class: 'button secondary', href: P(p, '/export'), download: `${p}-reference.json` }, 'JSON')));
    }
    const rel = (await api('GET', P(p, '/releases'))) || [];
    out.push(h('h3', {}, 'Releases'), rel.length
      ? table(null, [['Release'], ['Purpose'], ['Items', 'num'], ['Cut'], ['Manifest SHA-256'], ['Signed'], ['Report']],
        rel.map(r => [[h('strong', {}, r.name)], [r.purpose || '—'], [String(r.items ?? 0), 'num'], [fmtTime(r.created_at)],
          [h('code', { title: r.manifest_sha256 || '' }, `${String(r.manifest_sha256 || '').slice(0, 12)}…`)],
          [(r.signatures || []).map(g => h('div', {}, `${g.printed_name} (${g.meaning}), ${fmtTime(g.signed_at)}`,
            g.valid ? '' : h('span', { class: 'flag' }, ' ⚠ no longer binds'))) ],
          [h('a', { href: P(p, `/releases/${enc(r.name)}/report`), target: '_blank', rel: 'noopener', class: 'report-link',
            'aria-label': `Truthing report of release ${r.name} (opens in a new tab)` }, 'Truthing report')]]), 'releases')
      : h('p', { class: 'muted', id: 'releases' }, 'No releases yet.'));
    if (manager) out.push(releaseForm(p, () => fill(relSec, relBody)));
    return out;
  };
  fill(relSec, relBody);
  await refresh();
}

// A posterior over classes, most probable first, as percentages.
const fmtPosterior = post => (typeof post === 'object' && !Array.isArray(post)
  ? Object.entries(post).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${pct(v, 1)}`).join(', ')
  : fmtValue(post));

// A link to an item's provenance page.
const itemLink = (p, item) => h('a', { href: `#/p/${enc(p)}/item/${enc(item)}`, title: `Provenance of ${item}` }, item);

// The form that cuts a signed release of the current reference standard.
function releaseForm(p, done) {
  const name = h('input', { required: true, autocomplete: 'off', spellcheck: 'false', pattern: '\\S+', placeholder: 'e.g. v1-test' });
  const purpose = h('select', {}, [['reference', 'Reference standard'], ['train', 'Training'], ['tune', 'Tuning'], ['test', 'Test (sequestered)']]
    .map(([v, t]) => h('option', { value: v }, t)));
  const password = h('input', { type: 'password', required: true, autocomplete: 'current-password' });
  const cut = h('button', { id: 'create-release', type: 'submit' }, 'Sign and cut release');
  const form = h('form', { 'aria-label': 'Cut a release', class: 'release-form' }, h('h3', {}, 'Cut a release'),
    h('p', { class: 'muted' }, 'Freezes every regular item’s label, confidence, reads and provenance into a manifest you sign as approved.'),
    field('release-name', 'Name (no spaces)', name), field('release-purpose', 'Purpose', purpose),
    field('release-password', 'Re-enter your password to sign', password), cut);
  form.addEventListener('submit', async e => {
    e.preventDefault(); clearError();
    if (!name.value.trim() || /\s/.test(name.value.trim())) { showError('Give the release a name without spaces.'); name.focus(); return; }
    cut.disabled = true; setStatus('Cutting release…');
    try {
      const r = await api('POST', P(p, '/releases'), { name: name.value.trim(), purpose: purpose.value, password: password.value });
      setStatus(`Release ${r.name} cut and signed: ${r.items} items`);
      await done();
    } catch (err) { setStatus(''); showError(err); password.value = ''; } finally { cut.disabled = false; }
  });
  return form;
}

// ---------- provenance ----------
async function renderProvenance(view, p, item) {
  document.title = `Provenance · ${item} · Concord`;
  view.append(h('h1', { tabindex: -1 }, `Provenance — ${item}`));
  const pv = await api('GET', P(p, `/items/${enc(item)}/provenance`));
  const st = pv.state || {};
  const facts = (...pairs) => h('dl', { class: 'facts' }, pairs.map(([k, v, id]) => [h('dt', {}, k), h('dd', { id }, v)]));
  view.append(section('prov-item', 'Item',
    facts(['Status', st.status || '—', 'prov-status'], ['Label', fmtValue(st.label), 'prov-label'], ['Confidence', pct(st.confidence, 1)],
      ['Labels', String(st.labels ?? 0)], ['Kind', pv.kind || '—'], ['Content SHA-256', h('code', {}, pv.content_sha256 || '—')],
      ['Gold answer', pv.gold == null ? 'Not a gold item' : fmtValue(pv.gold)])));
  view.append(section('prov-reads', `Reads (${(pv.reads || []).length})`,
    (pv.reads || []).length
      ? table(null, [['Annotation', 'num'], ['Reader'], ['Answer'], ['Submitted'], ['Time spent', 'num'], ['Protocol', 'num'], ['Qualifications']],
        pv.reads.map(r => [[String(r.annotation), 'num'], [r.reader], [fmtValue(r.value)], [fmtTime(r.created_at)],
          [r.time_spent_ms == null ? '—' : `${(r.time_spent_ms / 1000).toFixed(1)} s`, 'num'], [`v${r.protocol_version}`, 'num'],
          [fmtValue(r.qualifications)]]), 'prov-reads-table')
      : h('p', { class: 'muted' }, 'No reads yet.')));
  const run = pv.consensus;
  view.append(section('prov-consensus', 'Consensus', run
    ? [facts(['Run', String(run.run)], ['Method', `${run.method} ${run.method_version || ''}`], ['Seed', String(run.seed)],
      ['Input SHA-256', h('code', {}, run.input_sha256 || '—')], ['When', fmtTime(run.created_at)],
      ['Label in the run', run.label ? fmtValue(run.label.label) : 'Not labelled by this run', 'prov-run-label'],
      ['Confidence', run.label ? pct(run.label.confidence, 1) : '—'],
      ['Posterior', run.label && run.label.posterior ? fmtPosterior(run.label.posterior) : '—'])]
    : h('p', { class: 'muted' }, 'No consensus run yet.')));
  const adj = pv.adjudication;
  view.append(section('prov-adjudication', 'Adjudication', adj
    ? [facts(['Adjudicator', adj.adjudicator], ['Decision', fmtValue(adj.value), 'prov-decision'], ['Rationale', adj.rationale],
      ['Reads considered', (adj.considered || []).join(', ') || '—'], ['Consensus run shown', adj.consensus_run == null ? '—' : String(adj.consensus_run)],
      ['When', fmtTime(adj.created_at)]),
    h('h3', {}, 'Signatures'),
    h('ul', {}, (adj.signatures || []).map(g => h('li', {}, `${g.printed_name} — ${g.meaning}, ${fmtTime(g.signed_at)}, `,
      h('code', { title: g.record_sha256 }, `${String(g.record_sha256 || '').slice(0, 12)}…`),
      g.valid ? ' (binds)' : h('span', { class: 'flag' }, ' ⚠ no longer binds'))))]
    : h('p', { class: 'muted' }, 'Not adjudicated.')));
  view.append(section('prov-protocol', 'Protocol versions',
    h('ul', {}, (pv.protocol_versions || []).map(v => h('li', {}, `v${v.version}: ${v.note || '—'} `,
      h('code', { title: v.schema_sha256 }, `${String(v.schema_sha256 || '').slice(0, 12)}…`))))));
  view.append(section('prov-audit', 'Audit events',
    h('p', {}, (pv.audit_events || []).length
      ? `Sequence numbers ${pv.audit_events.join(', ')} — check them with concord audit log and concord audit verify.`
      : 'None.')));
}

// ---------- start ----------
document.addEventListener('keydown', e => { if (state.key) state.key(e); });
$('#logout').addEventListener('click', logout);
$('.skip-link').addEventListener('click', e => { e.preventDefault(); $('#main').focus(); });
window.addEventListener('hashchange', router);
if (!location.hash) history.replaceState(null, '', '#/projects');
router();
