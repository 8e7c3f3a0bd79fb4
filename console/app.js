// The console's shell: hash routes to pages, the API key dialog.
import { auth, h, mount, unauthorized } from './dom.js';
import { collectionsPage } from './collections.js';
import { playgroundPage } from './playground.js';
import { askPage } from './ask.js';
import { qualityPage } from './quality.js';
import { operationsPage } from './operations.js';

const PAGES = {
  collections: { title: 'Collections and ingestion', render: collectionsPage },
  playground: { title: 'Retrieval playground', render: playgroundPage },
  ask: { title: 'Ask', render: askPage },
  quality: { title: 'Quality', render: qualityPage },
  operations: { title: 'Operations', render: operationsPage },
};

const main = document.getElementById('main');
const dialog = document.getElementById('key-dialog');
const keyInput = document.getElementById('key-input');
/** Aborted when the user leaves a page, so its polling and requests stop. */
let leaving = new AbortController();

function askForKey() {
  if (dialog.open) return;
  keyInput.value = auth.key;
  dialog.showModal();
}

dialog.addEventListener('close', () => {
  if (dialog.returnValue === 'save') auth.key = keyInput.value.trim();
  if (dialog.returnValue === 'clear') auth.key = '';
  if (dialog.returnValue !== 'cancel') void route();
});
document.getElementById('key-button').addEventListener('click', askForKey);
unauthorized.addEventListener('unauthorized', askForKey);

async function route() {
  leaving.abort();
  leaving = new AbortController();
  const [name, query = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const page = PAGES[name] ?? PAGES.collections;
  for (const link of document.querySelectorAll('nav a')) {
    if (link.getAttribute('href') === `#/${name || 'collections'}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${page.title} · Ragline console`;
  const heading = h('h1', { text: page.title });
  const body = h('div', { class: 'page' });
  mount(main, heading, body);
  try {
    await page.render(body, { signal: leaving.signal, params: new URLSearchParams(query) });
  } catch (err) {
    if (leaving.signal.aborted) return;
    mount(body, h('p', { class: 'status error', role: 'alert', text: `Could not load the page: ${err.message}` }));
  }
}

window.addEventListener('hashchange', () => {
  void route().then(() => main.focus());
});
void route();
