// The admin page: users and roles (create, disable or enable, assign a role and districts, reset a
// password) through /api/v1/admin. Chinese first, English beside; the roles' names come from the
// vocabulary core/vocab/roles.json (GET /api/v1/layers), the districts' from /admin/districts.
import * as api from './api.js';

const WORDS = {
  title: ['用户与角色管理', 'Users and roles'],
  back: ['返回地图', 'Back to the map'],
  language: ['English', '中文'],
  signin: ['管理员登录', 'Administrator login'],
  username: ['用户名', 'Username'],
  password: ['密码', 'Password'],
  role: ['角色', 'Role'],
  districts: ['数据范围（行政区）', 'Data scope (districts)'],
  whole_city: ['全市', 'Whole city'],
  status: ['状态', 'Status'],
  actions: ['操作', 'Actions'],
  users: ['用户', 'Users'],
  create: ['新建用户', 'New user'],
  create_button: ['创建', 'Create'],
  active: ['启用', 'Active'],
  disabled: ['已停用', 'Disabled'],
  disable: ['停用', 'Disable'],
  enable: ['启用', 'Enable'],
  new_password: ['新密码', 'New password'],
  reset: ['重置密码', 'Reset password'],
  saved: ['已保存', 'Saved'],
  created: ['已创建', 'Created'],
  not_admin: ['需要系统管理员登录', 'An administrator must log in'],
};

let lang = localStorage.getItem('cim.lang') === 'en' ? 'en' : 'zh';
let roles = [];
let districts = [];

const word = (key) => WORDS[key][lang === 'zh' ? 0 : 1];
const label = (entry) => (lang === 'zh' ? entry.label.zh : entry.label.en);

function say(text, error = false) {
  const box = document.getElementById('admin-message');
  box.textContent = text;
  box.className = error ? 'error' : '';
}

function translate() {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = word(el.dataset.i18n);
  document.title = `${word('title')} · CIM`;
}

function options(select, entries, chosen) {
  select.replaceChildren(
    ...entries.map((entry) => {
      const option = new Option(label(entry), entry.code);
      option.selected = chosen.includes(entry.code);
      return option;
    }),
  );
}

const selected = (select) => [...select.selectedOptions].map((o) => o.value);

async function patch(username, change) {
  await api.request(`admin/users/${encodeURIComponent(username)}`, { method: 'PATCH', json: change });
  say(`${username}: ${word('saved')}`);
  await showUsers();
}

function row(user) {
  const tr = document.createElement('tr');
  tr.dataset.username = user.username;
  tr.className = user.active ? '' : 'disabled';
  const name = document.createElement('td');
  name.textContent = user.username;

  const role = document.createElement('select');
  role.className = 'role';
  options(role, roles, [user.role]);
  role.onchange = () => patch(user.username, { role: role.value }).catch((e) => say(e.message, true));

  const scope = document.createElement('select');
  scope.className = 'districts';
  scope.multiple = true;
  scope.title = word('whole_city');
  options(scope, districts, user.districts ?? []);
  scope.onchange = () => {
    const codes = selected(scope);
    patch(user.username, { districts: codes.length ? codes : null }).catch((e) => say(e.message, true));
  };

  const state = document.createElement('td');
  state.className = 'state';
  state.textContent = word(user.active ? 'active' : 'disabled');

  const toggle = document.createElement('button');
  toggle.className = 'toggle';
  toggle.textContent = word(user.active ? 'disable' : 'enable');
  toggle.onclick = () => patch(user.username, { active: !user.active }).catch((e) => say(e.message, true));

  const password = document.createElement('input');
  password.type = 'password';
  password.placeholder = word('new_password');
  password.autocomplete = 'new-password';
  const reset = document.createElement('button');
  reset.textContent = word('reset');
  reset.onclick = async () => {
    try {
      await api.request(`admin/users/${encodeURIComponent(user.username)}/password`, {
        method: 'POST',
        json: { password: password.value },
      });
      password.value = '';
      say(`${user.username}: ${word('saved')}`);
    } catch (exc) {
      say(exc.message, true);
    }
  };

  const cells = [name, wrap(role), wrap(scope), state, wrap(toggle, password, reset)];
  tr.append(...cells);
  return tr;
}

function wrap(...children) {
  const td = document.createElement('td');
  td.append(...children);
  return td;
}

async function showUsers() {
  const users = await api.request('admin/users');
  document.getElementById('user-rows').replaceChildren(...users.map(row));
}

async function showAdmin() {
  const [registry, known] = await Promise.all([api.layerRegistry(), api.request('admin/districts')]);
  roles = registry.vocabularies.roles.entries.filter((entry) => entry.code !== 'public');
  districts = known.map((d) => ({ code: d.code, label: { zh: d.name, en: `${d.name} (${d.code})` } }));
  const form = document.getElementById('create-form');
  options(form.querySelector('.roles'), roles, ['planner']);
  options(form.querySelector('.districts'), districts, []);
  document.getElementById('signin').hidden = true;
  document.getElementById('users').hidden = false;
  await showUsers();
}

async function start() {
  translate();
  document.getElementById('lang').onclick = () => {
    lang = lang === 'zh' ? 'en' : 'zh';
    localStorage.setItem('cim.lang', lang);
    translate();
    if (api.auth.user?.role === 'admin') showAdmin().catch((e) => say(e.message, true));
  };
  document.getElementById('signin-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    try {
      const user = await api.login(data.get('username'), data.get('password'));
      if (user.role !== 'admin') throw new Error(word('not_admin'));
      await showAdmin();
    } catch (exc) {
      say(exc.message, true);
    }
  });
  document.getElementById('create-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.target;
    const data = new FormData(form);
    const codes = selected(form.querySelector('.districts'));
    try {
      await api.request('admin/users', {
        method: 'POST',
        json: {
          username: data.get('username'),
          password: data.get('password'),
          role: data.get('role'),
          districts: codes.length ? codes : null,
        },
      });
      say(`${data.get('username')}: ${word('created')}`);
      form.reset();
      await showUsers();
    } catch (exc) {
      say(exc.message, true);
    }
  });
  if (api.auth.user?.role === 'admin') await showAdmin();
  else document.getElementById('signin').hidden = false;
}

start().catch((exc) => say(exc.message, true));
