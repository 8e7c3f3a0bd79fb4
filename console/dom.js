// Small helpers every page uses: building elements, calling the API, formatting numbers.

/**
 * Builds an element. `props`: `class`, `for`, `text`, `on<Event>` handlers, `dataset`, anything else as an attribute
 * (false/null/undefined are left out). Children: nodes, strings, arrays of them; null and false are skipped.
 * @param {string} tag
 * @param {Record<string, unknown>} [props]
 * @param {...unknown} children
 * @returns {HTMLElement}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  applyProps(el, props);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Like h(), for SVG elements. */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  applyProps(el, attrs);
  append(el, children);
  return el;
}

function applyProps(el, props) {
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'text') el.textContent = String(value);
    else if (name === 'dataset') Object.assign(el.dataset, value);
    else if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2).toLowerCase(), value);
    else if (name === 'value' && 'value' in el) el.value = value;
    else if (name === 'checked' && 'checked' in el) el.checked = Boolean(value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces an element's children. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A labelled form control: the label names the control for screen readers and is clickable. */
let nextId = 0;
export function field(label, control, hint) {
  control.id ||= `f${++nextId}`;
  const hintEl = hint ? h('small', { id: `${control.id}-hint`, class: 'hint', text: hint }) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: control.id, text: label }), control, hintEl);
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code ?? 'http_error';
    this.details = body?.error?.details;
  }
}

const KEY_STORAGE = 'ragline.apiKey';

/** The API key the user typed, kept for this browser tab only. */
export const auth = {
  get key() {
    return sessionStorage.getItem(KEY_STORAGE) ?? '';
  },
  set key(value) {
    if (value) sessionStorage.setItem(KEY_STORAGE, value);
    else sessionStorage.removeItem(KEY_STORAGE);
  },
  headers() {
    return this.key ? { Authorization: `Bearer ${this.key}` } : {};
  },
};

/** Fires when the API answers 401, so the app can ask for a key. */
export const unauthorized = new EventTarget();

/** Calls the API; JSON in, JSON out; an error body becomes an ApiError naming the problem. */
export async function api(method, path, body, { signal } = {}) {
  const headers = { ...auth.headers(), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) };
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
  const text = await res.text();
  const json = text ? safeJson(text) : null;
  if (res.status === 401) unauthorized.dispatchEvent(new Event('unauthorized'));
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return { error: { message: text.slice(0, 200) } };
  }
}

/** Runs `fn` once calls stop coming for `ms`. */
export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

export const fmt = {
  ms: (v) => (v === null || v === undefined ? '–' : v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`),
  score: (v) => (v === null || v === undefined ? '–' : v.toFixed(3)),
  usd: (v) => (v === null || v === undefined ? '–' : `$${v.toFixed(v < 0.01 ? 6 : 4)}`),
  date: (v) => (v ? new Date(v).toLocaleString() : '–'),
  pct: (v) => `${(v * 100).toFixed(1)} %`,
  pages: (start, end) => (start === null || start === undefined ? '–' : end && end !== start ? `${start}–${end}` : String(start)),
};

/** A status line screen readers announce. */
export function statusLine() {
  return h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
}

/** Shows an error in a status line. */
export function showError(line, err) {
  line.textContent = err instanceof Error ? err.message : String(err);
  line.classList.add('error');
}

export function showStatus(line, text) {
  line.textContent = text;
  line.classList.remove('error');
}

const STOP_WORDS = new Set(
  'a an and are as at be by do does for from how i in is it of on or the to what when where which who why with'.split(' '),
);

/** The words of a query worth highlighting in chunk text. */
export function queryTerms(query) {
  return [...new Set(query.toLowerCase().match(/[\p{L}\p{N}]{2,}/gu) ?? [])].filter((t) => !STOP_WORDS.has(t));
}

/** Text with every word starting with a query term wrapped in <mark> (a crude stand-in for the server's stemming). */
export function highlighted(text, terms) {
  if (!terms.length) return [text];
  const pattern = new RegExp(`\\b(${terms.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})[\\p{L}\\p{N}]*`, 'giu');
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    parts.push(text.slice(last, match.index), h('mark', { text: match[0] }));
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  return parts;
}

/** The collection the user picked, shared by every page of the tab. */
export const selection = {
  get collection() {
    return sessionStorage.getItem('ragline.collection') ?? '';
  },
  set collection(name) {
    sessionStorage.setItem('ragline.collection', name);
  },
};

/** A <select> of the tenant's collections, remembering the choice. */
export async function collectionPicker(onChange) {
  const select = h('select', { name: 'collection' });
  const { collections } = await api('GET', '/v1/collections');
  for (const c of collections) select.append(h('option', { value: c.name, text: c.name }));
  if (collections.some((c) => c.name === selection.collection)) select.value = selection.collection;
  else if (collections[0]) selection.collection = collections[0].name;
  select.addEventListener('change', () => {
    selection.collection = select.value;
    onChange?.(select.value);
  });
  return field('Collection', select);
}
