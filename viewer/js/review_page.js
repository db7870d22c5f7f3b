// What the review pages (drawings, oversight) share: their own words in Chinese and English (the
// language is the viewer's, localStorage cim.lang; elements carry data-label="key" or
// data-label-placeholder="key"), messages in the banner, and signing in.
import * as api from './api.js';
import { language, setLanguage } from './i18n.js';

const LABELS = {
  drawings_title: ['审查图纸', 'Review drawings'],
  oversight_title: ['审图监管', 'Review oversight'],
  map: ['地图', 'Map'],
  username: ['用户名', 'Username'],
  password: ['密码', 'Password'],
  login: ['登录', 'Log in'],
  drawings: ['图纸', 'Drawings'],
  drawing_issues: ['图纸问题', 'Issues on drawings'],
  prev_page: ['上一页', 'Previous page'],
  next_page: ['下一页', 'Next page'],
  page_of: ['第 {n} / {of} 页', 'Page {n} of {of}'],
  pages: ['页', 'pages'],
  no_drawings: ['本次报审没有图纸', 'This submission has no drawings'],
  no_submission: ['请在地址中给出报审编号 ?submission=', 'Give the submission in the address: ?submission='],
  submissions: ['报审', 'Submissions'],
  submission: ['报审编号', 'Submission'],
  project: ['项目', 'Project'],
  status: ['状态', 'Status'],
  round: ['轮次', 'Round'],
  received: ['受理时间', 'Received'],
  agencies: ['审查机构', 'Agencies'],
  overdue: ['超期', 'Overdue'],
  days_in_state: ['各状态天数', 'Days in each state'],
  rule_pass_rates: ['规则通过率', 'Pass rate per rule'],
  rule: ['规则', 'Rule'],
  drawing_types: ['图纸类型', 'Drawing types'],
  reviews: ['审查次数', 'Reviews'],
  passed: ['通过', 'Passed'],
  pass_rate: ['通过率', 'Pass rate'],
  export_csv: ['导出 CSV', 'Export CSV'],
  export_xlsx: ['导出 Excel', 'Export Excel'],
  by_state: ['按状态', 'By state'],
  drawing_link: ['图纸', 'drawings'],
};

export const lang = () => (language() === 'en' ? 1 : 0);

/** The label of a key in the page's language, with {name} filled from ``values``. */
export function label(key, values = {}) {
  const text = LABELS[key]?.[lang()] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ''));
}

/** Fill the page's labelled elements and wire the language button. */
export function applyLabels(onChange) {
  document.documentElement.lang = lang() ? 'en' : 'zh-CN';
  document.title = label(document.querySelector('h1')?.dataset.label ?? 'drawings_title');
  for (const el of document.querySelectorAll('[data-label]')) el.textContent = label(el.dataset.label);
  for (const el of document.querySelectorAll('[data-label-placeholder]')) el.placeholder = label(el.dataset.labelPlaceholder);
  const button = document.getElementById('lang');
  if (button) {
    button.textContent = lang() ? '中文' : 'English';
    button.onclick = () => {
      setLanguage(lang() ? 'zh' : 'en');
      applyLabels(onChange);
      onChange?.();
    };
  }
}

/** A message in the page's banner. */
export function show(text, kind = 'error') {
  const item = document.createElement('div');
  item.className = `msg ${kind}`;
  item.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  item.textContent = text;
  document.getElementById('banner').append(item);
}

/** Resolves once signed in: at once with a session's token, else when the page's login form succeeds. */
export function signIn() {
  if (api.auth.token) return Promise.resolve();
  const form = document.getElementById('login');
  form.hidden = false;
  return new Promise((resolve) => {
    form.onsubmit = async (e) => {
      e.preventDefault();
      const data = new FormData(form);
      try {
        await api.login(data.get('username'), data.get('password'));
        form.hidden = true;
        resolve();
      } catch (exc) {
        show(exc.message);
      }
    };
  });
}

/** Sign in, then open the page; `state.ready` turns true either way (errors show in the banner). */
export async function startPage(state, open) {
  await signIn();
  try {
    await open();
  } catch (exc) {
    show(exc.message);
  }
  state.ready = true;
}
