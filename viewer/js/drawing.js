// A submission's PDF drawings beside the model, rendered with pdf.js (vendored from npm, served at
// /vendor/pdfjs): ?submission=S[&drawing=I][&page=N][&review=R&issue=K]. With an issue, its drawing
// opens at its page and its region is outlined; the issues on the shown page are outlined too.
import * as pdfjs from '/vendor/pdfjs/build/pdf.min.mjs';
import * as api from './api.js';
import { applyLabels, label, show, startPage } from './review_page.js';

pdfjs.GlobalWorkerOptions.workerSrc = '/vendor/pdfjs/build/pdf.worker.min.mjs';
const PDF_OPTIONS = {
  cMapUrl: '/vendor/pdfjs/cmaps/',
  cMapPacked: true,
  standardFontDataUrl: '/vendor/pdfjs/standard_fonts/',
  wasmUrl: '/vendor/pdfjs/wasm/',
};

const params = new URLSearchParams(location.search);
const state = (window.cimDrawing = { ready: false, drawing: null, page: 1, pages: 0, issues: [], markers: [] });
const $ = (id) => document.getElementById(id);


const documents = new Map(); // drawing index -> pdf.js document

async function pdfDocument(submission, index) {
  if (!documents.has(index)) {
    const response = await api.request(`reviews/submissions/${submission}/drawings/${index}`, { raw: true });
    const data = new Uint8Array(await response.arrayBuffer());
    documents.set(index, await pdfjs.getDocument({ data, ...PDF_OPTIONS }).promise);
  }
  return documents.get(index);
}

/** Render one page to fit the sheet's width, then outline the issues' regions on it. */
async function render(submission, drawing, pageNumber) {
  const pdf = await pdfDocument(submission, drawing.index);
  const page = await pdf.getPage(pageNumber);
  const canvas = $('pdf-canvas');
  const base = page.getViewport({ scale: 1 });
  const viewport = page.getViewport({ scale: Math.min(2, ($('sheet').parentElement.clientWidth || 1000) / base.width) });
  canvas.width = Math.floor(viewport.width);
  canvas.height = Math.floor(viewport.height);
  canvas.style.width = `${canvas.width}px`;
  canvas.style.height = `${canvas.height}px`;
  await page.render({ canvasContext: canvas.getContext('2d'), viewport }).promise;
  Object.assign(state, { drawing: drawing.index, page: pageNumber, pages: pdf.numPages });
  $('page-label').textContent = label('page_of', { n: pageNumber, of: pdf.numPages });
  $('drawing-name').textContent = drawing.name;
  $('prev').disabled = pageNumber <= 1;
  $('next').disabled = pageNumber >= pdf.numPages;
  mark(drawing.index, pageNumber);
}

function mark(drawingIndex, pageNumber) {
  const layer = $('markers');
  layer.replaceChildren();
  state.markers = [];
  for (const issue of state.issues) {
    const at = issue.details.drawing;
    if (at.index !== drawingIndex || at.page !== pageNumber) continue;
    const [x0, y0, x1, y1] = at.region;
    const box = document.createElement('div');
    box.className = `marker ${issue.severity}${String(issue.id) === params.get('issue') ? ' current' : ''}`;
    box.dataset.issue = issue.id;
    Object.assign(box.style, {
      left: `${x0 * 100}%`,
      top: `${y0 * 100}%`,
      width: `${(x1 - x0) * 100}%`,
      height: `${(y1 - y0) * 100}%`,
    });
    box.title = issue.message;
    layer.append(box);
    state.markers.push(issue.id);
  }
}

function listIssues(submission, drawings, reviewIssues) {
  const list = $('issue-list');
  list.replaceChildren();
  for (const issue of reviewIssues) {
    const at = issue.details.drawing;
    const item = document.createElement('li');
    const link = document.createElement('a');
    link.href = `?submission=${submission}&review=${issue.review_id}&issue=${issue.id}`;
    link.textContent = `${drawings[at.index]?.name ?? at.name} · ${label('page_of', { n: at.page, of: drawings[at.index]?.pages ?? '?' })}: ${issue.message}`;
    link.onclick = (e) => {
      e.preventDefault();
      history.replaceState(null, '', link.href);
      params.set('issue', issue.id);
      render(submission, drawings[at.index], at.page).catch((exc) => show(exc.message));
    };
    item.append(link);
    list.append(item);
  }
}

async function reviewIssues(submission) {
  const document_ = await api.request(`reviews/submissions/${submission}`);
  const reviews = [...document_.agencies, ...document_.history].map((p) => p.review_id);
  const found = [];
  for (const id of reviews) {
    const review = await api.request(`reviews/${id}`);
    for (const issue of review.issues) if (issue.details?.drawing) found.push({ ...issue, review_id: id });
  }
  return found;
}

async function open() {
  const submission = params.get('submission');
  if (!submission) return show(label('no_submission'));
  const drawings = await api.request(`reviews/submissions/${submission}/drawings`);
  if (!drawings.length) return show(label('no_drawings'), 'info');
  state.issues = await reviewIssues(submission);
  const list = $('drawing-list');
  list.replaceChildren(
    ...drawings.map((d) => {
      const item = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = `${d.name} (${d.pages} ${label('pages')})`;
      button.onclick = () => render(submission, d, 1).catch((exc) => show(exc.message));
      item.append(button);
      return item;
    }),
  );
  listIssues(submission, drawings, state.issues);
  const wanted = state.issues.find((i) => String(i.id) === params.get('issue'));
  const index = wanted ? wanted.details.drawing.index : Number(params.get('drawing') ?? 0);
  const drawing = drawings[index] ?? drawings[0];
  const page = wanted ? wanted.details.drawing.page : Number(params.get('page') ?? 1);
  $('prev').onclick = () => render(submission, drawings[state.drawing], state.page - 1).catch((exc) => show(exc.message));
  $('next').onclick = () => render(submission, drawings[state.drawing], state.page + 1).catch((exc) => show(exc.message));
  await render(submission, drawing, page);
}

applyLabels(() => state.ready && open().catch((exc) => show(exc.message)));
startPage(state, open);
