// Page chrome: the message banner, the side panel, the status line. No Cesium here.
import * as api from './api.js';
import { codeLabel, language, pageLabel, t, valueLabel } from './i18n.js';

const $ = (id) => document.getElementById(id);
const messages = new Map(); // key -> element, so a repeated message shows once
/** Every message shown, kept after it goes (a slow notice leaves when the answer comes): {kind, text, ms}. */
export const shown = [];

/** Show a message in the banner (kind: error | warn | info); returns a function that removes it. */
export function message(text, kind = 'error', key = text) {
  const banner = $('banner');
  shown.push({ kind, text, ms: Math.round(performance.now()) });
  if (messages.has(key)) messages.get(key).remove();
  const item = document.createElement('div');
  item.className = `msg ${kind}`;
  item.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  const close = document.createElement('button');
  close.textContent = '×';
  close.title = t('close');
  close.onclick = () => drop();
  const span = document.createElement('span');
  span.textContent = text;
  item.append(span, close);
  banner.append(item);
  messages.set(key, item);
  const drop = () => {
    item.remove();
    if (messages.get(key) === item) messages.delete(key);
  };
  return drop;
}

export function status(text) {
  $('status').textContent = text;
}

export function escape(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const isScalar = (v) => v === null || typeof v !== 'object';
const formatScalar = (v) => (v === null || v === undefined || v === '' ? '—' : typeof v === 'boolean' ? t(v ? 'yes' : 'no') : typeof v === 'number' ? +v.toFixed(3) : v);

// The record cards' field labels, formats and value labels (GET /profiles/labels), once.
let cardLabels = { fields: {}, values: {}, sections: {}, kinds: {} };
let cardLabelsAsked = null;
/** Load the record cards' labels (the panel's words for fields the layer registry does not name). */
export function loadCardLabels() {
  cardLabelsAsked ??= api.request('profiles/labels', { quiet: true }).then(
    (labels) => {
      cardLabels = labels;
    },
    () => null,
  );
  return cardLabelsAsked;
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:$|T)/;
const ENUM = /^[A-Za-z][A-Za-z0-9_]*$/;
const inLanguage = (pair) => (language() === 'zh' ? pair[0] : pair[1] ?? pair[0]);

/** A field's label: the page's words, the record cards' (they hold in any context: a person's
 * `kind` is no pipe node's), the layer registry's; a section named by a code (a role) by its label. */
export function fieldLabel(key) {
  const field = cardLabels.fields[key] ?? cardLabels.sections?.[key] ?? cardLabels.kinds?.[key];
  const word = pageLabel(key) ?? (field ? field[language()] ?? field.zh : undefined) ?? t(key);
  if (word !== key) return word;
  const code = Object.values(cardLabels.values).find((labels) => labels[key]);
  return code ? inLanguage(code[key]) : key;
}

/** A value as a reader sees it: vocabulary labels for codes, money in 万元, dates written out, yes/no. */
export function formatValue(key, v) {
  if (typeof v !== 'string' && typeof v !== 'number') return formatScalar(v);
  const vocab = valueLabel(key, v) ?? (cardLabels.values[key]?.[v] ? inLanguage(cardLabels.values[key][v]) : undefined);
  if (vocab) return vocab;
  if (typeof v === 'number' && key.endsWith('_cny')) return `${(v / 10000).toLocaleString('zh-CN', { maximumFractionDigits: 2 })} ${t('wan_yuan')}`;
  const date = typeof v === 'string' && ISO_DATE.exec(v);
  if (date) return language() === 'zh' ? `${date[1]}年${date[2]}月${date[3]}日` : `${date[1]}-${date[2]}-${date[3]}`;
  const codes = typeof v === 'string' ? v.split(',') : [];
  if (codes.length && codes.every((c) => ENUM.test(c))) {
    const words = codes.map((c) => codeLabel(c) ?? t(c));
    if (words.some((w, i) => w !== codes[i])) return words.join('、');
  }
  return formatScalar(v);
}

function table(rows) {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r).filter((k) => isScalar(r[k]))))];
  const head = columns.map((c) => `<th>${escape(fieldLabel(c))}</th>`).join('');
  const body = rows
    .map((r) => `<tr>${columns.map((c) => `<td>${escape(formatValue(c, r[c]))}</td>`).join('')}</tr>`)
    .join('');
  return `<table class="rows"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

// Keys of an answer that say nothing to a reader (the geometry is on the map; links are for machines).
const HIDDEN = new Set(['geometry', 'links']);

/** Any JSON answer as nested sections: scalars as a key/value list, lists of records as tables. */
export function render(value, depth = 0) {
  if (isScalar(value)) return `<p>${escape(formatScalar(value))}</p>`;
  if (Array.isArray(value)) {
    if (value.length === 0) return '<p class="empty">—</p>';
    if (value.every(isScalar)) return `<p>${value.map((v) => escape(formatValue('', v))).join('、')}</p>`;
    if (value.every((v) => !isScalar(v) && !Array.isArray(v))) return table(value);
    return value.map((v) => render(v, depth + 1)).join('');
  }
  if (value.type === 'Feature' && value.properties) return render(value.properties, depth);
  const entries = Object.entries(value).filter(([k, v]) => v !== undefined && !HIDDEN.has(k));
  const scalars = entries.filter(([, v]) => isScalar(v));
  const nested = entries.filter(([, v]) => !isScalar(v));
  const list = scalars.length
    ? `<dl>${scalars.map(([k, v]) => `<dt>${escape(fieldLabel(k))}</dt><dd>${escape(formatValue(k, v))}</dd>`).join('')}</dl>`
    : '';
  const level = Math.min(depth + 3, 5);
  const sections = nested
    .map(([k, v]) => `<section data-key="${escape(k)}"><h${level}>${escape(fieldLabel(k))}</h${level}>${render(v, depth + 1)}</section>`)
    .join('');
  return list + sections;
}

/** Open the side panel with a title and HTML content. */
export function panel(title, html) {
  $('panel-title').textContent = title;
  $('panel-body').innerHTML = html;
  $('panel').hidden = false;
}

export function closePanel() {
  $('panel').hidden = true;
}

const scripts = new Map();
/** Load a classic script (a vendored UMD library) once; resolves when it has run. */
export function loadScript(src) {
  if (!scripts.has(src)) {
    scripts.set(
      src,
      new Promise((resolve, reject) => {
        const el = document.createElement('script');
        el.src = src;
        el.onload = resolve;
        el.onerror = () => reject(new Error(`${src}: load failed`));
        document.head.append(el);
      }),
    );
  }
  return scripts.get(src);
}
