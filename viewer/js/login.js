// The login dialog for the roles (planner, engineer, emergency, admin), with single sign-on when the
// server has an identity provider, and the user badge.
import * as api from './api.js';
import { t } from './i18n.js';
import { message } from './ui.js';

// Back from single sign-on (GET /auth/oidc/login?to=viewer): the server put the token pair in the
// URL's fragment; keep it and take it out of the address (and the history). At import, before the
// page's own requests.
function keepSsoPair() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (!params.has('sso') || !params.get('access_token')) return;
  const user = { username: params.get('username'), role: params.get('role') };
  api.auth.set(params.get('access_token'), user, params.get('refresh_token'));
  history.replaceState(null, '', location.pathname + location.search);
}
keepSsoPair();

export function setupLogin(onChange) {
  const dialog = document.getElementById('login-dialog');
  const form = dialog.querySelector('form');
  const button = document.getElementById('login-button');
  const badge = document.getElementById('user-badge');
  const sso = document.getElementById('sso-button');
  api
    .ssoConfig()
    .then((config) => {
      if (!config.enabled) return;
      sso.onclick = () => location.assign(config.login_url);
      sso.hidden = false;
    })
    .catch(() => null); // no single sign-on: the password form alone

  const refresh = () => {
    const user = api.auth.user;
    badge.textContent = user ? `${user.username} (${user.role})` : t('guest');
    button.dataset.i18n = user ? 'logout' : 'login';
    button.textContent = t(button.dataset.i18n);
  };
  button.onclick = () => {
    if (api.auth.user) {
      api.auth.clear();
      refresh();
      onChange?.();
    } else dialog.showModal();
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (e.submitter?.value === 'cancel') return dialog.close();
    const data = new FormData(form);
    try {
      await api.login(data.get('username'), data.get('password'));
      dialog.close();
      refresh();
      onChange?.();
    } catch (exc) {
      message(`${t('login')}: ${exc.message}`, 'error', 'login');
    }
  });
  refresh();
  return refresh;
}
