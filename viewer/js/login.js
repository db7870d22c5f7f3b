// The login dialog for the roles (planner, engineer, emergency, admin) and the user badge.
import * as api from './api.js';
import { t } from './i18n.js';
import { message } from './ui.js';

export function setupLogin(onChange) {
  const dialog = document.getElementById('login-dialog');
  const form = dialog.querySelector('form');
  const button = document.getElementById('login-button');
  const badge = document.getElementById('user-badge');

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
