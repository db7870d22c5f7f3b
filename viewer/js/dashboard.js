// The command centre's dashboard (大屏): the city's key figures as ECharts charts, from one answer of
// GET /api/v1/dashboard/summary (figures the role may not see come back withheld, with the roles that
// may). Live: the stream (/api/v1/live/stream) says when an alarm or an event changes, and the figures
// are asked again (once for a burst). Labels: the answer's, from the server's vocabularies; the page's
// own words below. `?division=4204` keeps the figures to a division.
import * as api from './api.js';
import { addLabels, apply, language, setLanguage, t } from './i18n.js';

const WORDS = {
  dashboard_title: { zh: '城市运行大屏', en: 'City dashboard' },
  dashboard_map: { zh: '地图', en: 'Map' },
  dashboard_fullscreen: { zh: '全屏', en: 'Full screen' },
  dashboard_live: { zh: '实时', en: 'Live' },
  dashboard_offline: { zh: '未连接实时数据', en: 'Live data not connected' },
  dashboard_alarms_open: { zh: '未关闭报警', en: 'Open alarms' },
  dashboard_events: { zh: '应急事件', en: 'Emergency events' },
  dashboard_credit_alerts_open: { zh: '未办结信用预警', en: 'Open credit alerts' },
  dashboard_projects_by_stage: { zh: '工程项目（按阶段）', en: 'Projects by stage' },
  dashboard_enterprises_by_grade: { zh: '企业信用等级', en: 'Enterprises by credit grade' },
  dashboard_login_prompt: { zh: '登录后查看更多指标', en: 'Log in to see more figures' },
  dashboard_needs_roles: { zh: '可查看的角色：', en: 'Shown to: ' },
};
addLabels(WORDS);

const $ = (id) => document.getElementById(id);
const division = new URLSearchParams(location.search).get('division');
const state = (window.cimDashboard = { ready: false, connected: false, refreshes: 0, summary: null, charts: {} });
const named = (label) => label[language()] ?? label.zh;
let echarts = null;

function chart(name) {
  state.charts[name] ??= echarts.init(document.querySelector(`[data-figure=${name}] .chart`), 'dark', { renderer: 'canvas' });
  return state.charts[name];
}

/** A figure of counts per code: bars (or a ring for the grades), each in its code's colour. */
function countsOption(figure, ring) {
  const data = figure.buckets.map((b) => ({ name: named(b.label), value: b.count, itemStyle: b.color ? { color: b.color } : undefined }));
  const base = { backgroundColor: 'transparent', tooltip: { trigger: ring ? 'item' : 'axis' } };
  if (ring) return { ...base, legend: { bottom: 0 }, series: [{ type: 'pie', radius: ['40%', '70%'], data, label: { formatter: '{b}: {c}' } }] };
  return {
    ...base,
    grid: { left: 40, right: 16, top: 36, bottom: 30 },
    xAxis: { type: 'category', data: data.map((d) => d.name), axisLabel: { interval: 0 } },
    yAxis: { type: 'value', minInterval: 1 },
    series: [{ type: 'bar', data, label: { show: true, position: 'top' } }],
  };
}

/** Events: a stacked bar per kind, one series per state. */
function eventsOption(figure) {
  return {
    backgroundColor: 'transparent',
    tooltip: { trigger: 'axis' },
    legend: { top: 0, right: 80 },
    grid: { left: 40, right: 16, top: 36, bottom: 30 },
    xAxis: { type: 'category', data: figure.categories.map((c) => named(c.label)), axisLabel: { interval: 0 } },
    yAxis: { type: 'value', minInterval: 1 },
    series: figure.series.map((s) => ({
      type: 'bar', stack: 'events', name: named(s.label), data: s.counts, itemStyle: s.color ? { color: s.color } : undefined,
    })),
  };
}

function withheldText(entry) {
  if (!entry.roles.length) return t('log_in_to_see');
  return t('dashboard_needs_roles') + entry.roles.map((r) => named(r.label)).join(language() === 'zh' ? '、' : ', ');
}

function render() {
  const summary = state.summary;
  if (!summary) return;
  const withheld = Object.fromEntries(summary.withheld.map((w) => [w.figure, w]));
  for (const panel of document.querySelectorAll('.panel')) {
    const name = panel.dataset.figure;
    const figure = summary[name];
    panel.classList.toggle('restricted', !figure);
    panel.querySelector('.withheld').textContent = figure ? '' : withheldText(withheld[name]);
    if (!figure) {
      state.charts[name]?.dispose();
      delete state.charts[name];
      continue;
    }
    panel.querySelector('.total').textContent = String(figure.total);
    const option = name === 'events' ? eventsOption(figure) : countsOption(figure, name === 'enterprises_by_grade');
    chart(name).setOption(option, true);
  }
}

async function load() {
  const query = division ? `?division=${encodeURIComponent(division)}` : '';
  state.summary = await api.request(`dashboard/summary${query}`);
  state.refreshes += 1;
  render();
}

// One request at a time; news arriving during one asks for one more after it.
let running = null;
let again = false;
function refresh() {
  if (running) {
    again = true;
    return running;
  }
  running = (async () => {
    do {
      again = false;
      await load().catch((exc) => ($('banner').textContent = exc.message));
    } while (again);
  })().finally(() => (running = null));
  return running;
}

function listen() {
  const stream = new EventSource(`${api.API}/live/stream`);
  const mark = (on) => {
    state.connected = on;
    $('live-state').dataset.i18n = on ? 'dashboard_live' : 'dashboard_offline';
    $('live-state').classList.toggle('on', on);
    $('live-state').textContent = t($('live-state').dataset.i18n);
  };
  stream.addEventListener('alarms', () => {
    mark(true);
    refresh(); // what changed while the stream was away
  });
  stream.addEventListener('alarm', () => refresh());
  stream.addEventListener('event', () => refresh());
  stream.onerror = () => mark(false);
}

function showUser() {
  const user = api.auth.user;
  $('user-badge').textContent = user ? `${user.username} (${user.role})` : t('guest');
  $('logout').hidden = !user;
  $('login').hidden = Boolean(user);
}

function labels() {
  apply();
  document.title = t('dashboard_title');
  $('lang').textContent = language() === 'zh' ? 'English' : '中文';
  showUser();
  render();
}

$('lang').onclick = () => {
  setLanguage(language() === 'zh' ? 'en' : 'zh');
  labels();
};
$('fullscreen').onclick = () => document.documentElement.requestFullscreen?.();
$('login').onsubmit = async (e) => {
  e.preventDefault();
  const data = new FormData(e.target);
  try {
    await api.login(data.get('username'), data.get('password'));
    $('banner').textContent = '';
    showUser();
    await refresh();
  } catch (exc) {
    $('banner').textContent = exc.message;
  }
};
$('logout').onclick = () => {
  api.auth.clear();
  showUser();
  refresh();
};
window.addEventListener('resize', () => Object.values(state.charts).forEach((c) => c.resize()));

echarts = await import('/vendor/echarts/echarts.esm.min.js');
labels();
await refresh();
listen();
state.ready = true;
