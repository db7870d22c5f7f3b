// The review report in the side panel: its issues grouped by severity and rule (collapsible, with
// counts, coloured by severity), links to the HTML report and the BCF file, and the buttons of the
// actions the caller's role may take now (the API lists them: review.actions). No Cesium here.
import * as api from './api.js';
import { language, t } from './i18n.js';
import { escape, render } from './ui.js';

const OTHER_COLOUR = '#9E9E9E';

/** The severities of the registry's `review_severities` vocabulary: codes worst first, and colours. */
export function severities(registry) {
  const words = registry?.vocabularies?.review_severities;
  const entries = words?.entries ?? [];
  const colours = Object.fromEntries(entries.map((e) => [e.code, e.color]));
  return { order: entries.map((e) => e.code), colour: (code) => colours[code] ?? words?.other?.color ?? OTHER_COLOUR };
}

/** A rule's label: the `review_rules` vocabulary's, or for an IDS rule its specification's name. */
export function ruleLabel(rule) {
  return rule.startsWith('ids:') ? `IDS ${rule.slice(4)}` : t(`review_rules.${rule}`);
}

/** A message written "中文 / English" in the page's language (others as they are). */
export function localMessage(text) {
  const cut = text.indexOf(' / ');
  if (cut < 0) return text;
  return language() === 'zh' ? text.slice(0, cut) : text.slice(cut + 3);
}

/** Issues as [[severity, [[rule, issues]]]]: severities worst first, rules by their label. */
export function groupIssues(issues, order) {
  const rank = (s) => (order.includes(s) ? order.indexOf(s) : order.length);
  const bySeverity = new Map();
  for (const issue of issues) {
    const rules = bySeverity.get(issue.severity) ?? bySeverity.set(issue.severity, new Map()).get(issue.severity);
    (rules.get(issue.rule) ?? rules.set(issue.rule, []).get(issue.rule)).push(issue);
  }
  return [...bySeverity.entries()]
    .sort(([a], [b]) => rank(a) - rank(b))
    .map(([severity, rules]) => [severity, [...rules.entries()].sort(([a], [b]) => ruleLabel(a).localeCompare(ruleLabel(b)))]);
}

/** The worst unresolved severity of each element the issues name: Map(globalId -> severity). */
export function worstByElement(issues, order) {
  const rank = (s) => (order.includes(s) ? order.indexOf(s) : order.length);
  const worst = new Map();
  for (const i of issues) {
    if (i.resolved || !i.global_id) continue;
    if (!worst.has(i.global_id) || rank(i.severity) < rank(worst.get(i.global_id))) worst.set(i.global_id, i.severity);
  }
  return worst;
}

const measure = (i) =>
  i.measured === null || i.measured === undefined ? '' : ` <span class="measure">${escape(i.measured)}${i.limit !== null ? ` / ${escape(i.limit)}` : ''} ${escape(i.unit ?? '')}</span>`;

function issueHtml(issue, colour, actions) {
  const cls = issue.ifc_class && (t(`ifc_classes.${issue.ifc_class}`) === `ifc_classes.${issue.ifc_class}` ? issue.ifc_class : t(`ifc_classes.${issue.ifc_class}`));
  const who = [cls, issue.name].filter(Boolean).join(' ');
  const buttons = [
    actions.includes('comment') ? `<button type="button" class="issue-comment">${escape(t('review_comment'))}</button>` : '',
    actions.includes('resolve') && !issue.resolved ? `<button type="button" class="issue-resolve">${escape(t('review_resolve'))}</button>` : '',
  ].join('');
  const tools = buttons ? `<div class="issue-actions"><input class="issue-note" placeholder="${escape(t('review_comment'))}">${buttons}</div>` : '';
  const note = issue.comment ? `<div class="issue-note-text">${escape(issue.comment)}</div>` : '';
  return (
    `<li class="issue${issue.resolved ? ' resolved' : ''}" data-issue="${issue.id}" data-global-id="${escape(issue.global_id ?? '')}" style="border-left:4px solid ${escape(colour)}">` +
    `<b>${escape(who || issue.global_id || '—')}</b>${issue.resolved ? ` <span class="tag">${escape(t('review_resolved'))}</span>` : ''}` +
    `<div class="issue-message">${escape(localMessage(issue.message))}${measure(issue)}</div>${note}${tools}</li>`
  );
}

/** The panel's HTML for a review document (the API's, with its `actions`). */
export function reviewHtml(review, vocab, failingCount) {
  const actions = review.actions ?? [];
  const groups = groupIssues(review.issues, vocab.order)
    .map(([severity, rules]) => {
      const count = rules.reduce((n, [, issues]) => n + issues.length, 0);
      const colour = vocab.colour(severity);
      const inner = rules
        .map(
          ([rule, issues]) =>
            `<details class="rule-group" data-rule="${escape(rule)}" open><summary>${escape(ruleLabel(rule))} <span class="count">(${issues.length})</span></summary>` +
            `<ul class="issues">${issues.map((i) => issueHtml(i, colour, actions)).join('')}</ul></details>`,
        )
        .join('');
      return (
        `<details class="severity-group" data-severity="${escape(severity)}" open><summary>` +
        `<span class="swatch" style="background:${escape(colour)}"></span>${escape(t(`review_severities.${severity}`))} <span class="count">(${count})</span></summary>${inner}</details>`
      );
    })
    .join('');
  const openErrors = review.issues.some((i) => i.severity === 'error' && !i.resolved);
  const decision =
    actions.includes('approve') || actions.includes('return')
      ? `<div id="review-decision"><textarea id="review-opinion" rows="2" placeholder="${escape(t('review_opinion'))}"></textarea>` +
        (actions.includes('approve')
          ? `<button type="button" id="review-approve"${openErrors ? ` disabled title="${escape(t('review_open_errors'))}"` : ''}>${escape(t('review_approve'))}</button>`
          : '') +
        (actions.includes('return') ? `<button type="button" id="review-return">${escape(t('review_return'))}</button>` : '') +
        '</div>'
      : '';
  const head =
    `<p class="review-head">${escape(t('status'))}: <b id="review-state">${escape(t(`review_state.${review.status}`))}</b> · ` +
    `${escape(t('issues'))}: <b id="issue-count">${failingCount}</b></p>` +
    `<p class="review-links"><a id="review-html" href="#">${escape(t('report_html'))}</a> · <a id="review-bcf" href="#">${escape(t('report_bcf'))}</a></p>` +
    `<p><button type="button" id="fly-failing">${escape(t('fly_to_failing'))}</button> <button type="button" id="show-all">${escape(t('show_all_elements'))}</button></p>`;
  const rest = review.report ? `<details class="review-details"><summary>${escape(t('report'))}</summary>${render(review.report)}</details>` : '';
  return `<div id="review-report" data-review="${review.id}">${head}${decision}${groups}${rest}</div>`;
}

/** Open the HTML report in a new tab, or save the BCF file (both read with the session's token). */
export async function openReviewFile(reviewId, name) {
  const response = await api.reviewFile(reviewId, name);
  const url = URL.createObjectURL(await response.blob());
  if (name.endsWith('.html')) window.open(url, '_blank', 'noopener');
  else {
    const link = document.createElement('a');
    link.href = url;
    link.download = `review-${reviewId}.bcf`;
    link.click();
  }
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Wire the panel: `onIssue(issue)` on a click on an issue, `onChange(review)` after an action
 * changed the review on the server (the new document). */
export function wireReview(root, review, { onIssue, onChange, onFly, onShowAll }) {
  const byId = new Map(review.issues.map((i) => [String(i.id), i]));
  root.querySelector('#review-html').onclick = (e) => {
    e.preventDefault();
    openReviewFile(review.id, 'report.html').catch(() => null);
  };
  root.querySelector('#review-bcf').onclick = (e) => {
    e.preventDefault();
    openReviewFile(review.id, 'report.bcf').catch(() => null);
  };
  root.querySelector('#fly-failing').onclick = () => onFly();
  root.querySelector('#show-all').onclick = () => onShowAll();
  const reload = async () => onChange(await api.review(review.id));
  for (const item of root.querySelectorAll('li.issue')) {
    const issue = byId.get(item.dataset.issue);
    item.onclick = (e) => {
      if (e.target.closest('.issue-actions')) return;
      for (const other of root.querySelectorAll('li.issue.selected')) other.classList.remove('selected');
      item.classList.add('selected');
      onIssue(issue);
    };
    const note = () => item.querySelector('.issue-note')?.value.trim() || null;
    const comment = item.querySelector('.issue-comment');
    if (comment) comment.onclick = () => note() && api.annotateIssue(review.id, issue.id, { comment: note() }).then(reload, () => null);
    const resolve = item.querySelector('.issue-resolve');
    if (resolve) resolve.onclick = () => api.annotateIssue(review.id, issue.id, { resolved: true, comment: note() }).then(reload, () => null);
  }
  const opinion = () => root.querySelector('#review-opinion')?.value.trim() || null;
  for (const action of ['approve', 'return']) {
    const button = root.querySelector(`#review-${action}`);
    if (button) button.onclick = () => api.decideReview(review.id, action, opinion()).then(onChange, () => null);
  }
}
