// Profiles as record cards: the server renders the card (Chinese labels with English, money in 万元,
// dates), this module shows it in the side panel and switches its tabs.
import * as api from './api.js';
import { t } from './i18n.js';
import { panel } from './ui.js';

/** The kinds that have a profile (一企一档, 一人一档, 一项目一档, 一楼一档). */
export const PROFILE_KINDS = new Set(['enterprise', 'person', 'project', 'building']);

function wireTabs(card) {
  const tabs = [...card.querySelectorAll('[role="tab"]')];
  for (const tab of tabs) {
    tab.onclick = () => {
      for (const other of tabs) other.setAttribute('aria-selected', String(other === tab));
      for (const section of card.querySelectorAll('[role="tabpanel"]')) section.hidden = section.dataset.panel !== tab.dataset.tab;
    };
  }
}

async function print(kind, id) {
  const page = await api.profilePage(kind, id);
  const url = URL.createObjectURL(new Blob([page], { type: 'text/html' }));
  window.open(url, '_blank')?.addEventListener('load', (e) => e.target.defaultView.print());
}

/** Open the record card of a profile in the side panel; resolves to the card element. */
export async function openProfile(kind, id, title) {
  const html = await api.profileCard(kind, id);
  panel(title, html);
  const card = document.querySelector('#panel-body .profile-card');
  wireTabs(card);
  const button = document.createElement('button');
  button.className = 'profile-print';
  button.textContent = t('print');
  button.onclick = () => print(kind, id).catch(() => null);
  card.querySelector('header').append(button);
  return card;
}
