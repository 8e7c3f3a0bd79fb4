// Collections and ingestion: list, create, delete; upload files and watch their jobs; documents and their chunks.
import { api, auth, field, fmt, h, mount, selection, showError, showStatus, statusLine } from './dom.js';

const TERMINAL = new Set(['succeeded', 'failed']);

export async function collectionsPage(root, { signal, params }) {
  const status = statusLine();
  const list = h('div', { class: 'table-wrap' });
  const detail = h('section', { class: 'detail', 'aria-labelledby': 'detail-title' });
  const name = h('input', { name: 'name', required: true, pattern: '[A-Za-z0-9][A-Za-z0-9_.-]*', maxlength: 100 });
  const createForm = h(
    'form',
    { class: 'row', onSubmit: (e) => void create(e) },
    field('New collection name', name),
    h('button', { type: 'submit', text: 'Create collection' }),
  );
  mount(
    root,
    h('section', { 'aria-labelledby': 'list-title' }, h('h2', { id: 'list-title', text: 'Collections' }), createForm, status, list),
    detail,
  );

  async function create(event) {
    event.preventDefault();
    try {
      const created = await api('POST', '/v1/collections', { name: name.value.trim() });
      showStatus(status, `Created ${created.name}.`);
      name.value = '';
      selection.collection = created.name;
      await refresh();
    } catch (err) {
      showError(status, err);
    }
  }

  async function remove(collection) {
    const typed = h('input', { name: 'confirm', autocomplete: 'off' });
    const dialog = h(
      'dialog',
      { 'aria-labelledby': 'confirm-title' },
      h(
        'form',
        { method: 'dialog' },
        h('h2', { id: 'confirm-title', text: `Delete ${collection.name}?` }),
        h('p', {
          text: 'The collection, its documents and chunks stop being served at once. It can be restored within the restore window.',
        }),
        field(`Type ${collection.name} to confirm`, typed),
        h(
          'div',
          { class: 'row' },
          h('button', { type: 'submit', value: 'delete', class: 'danger', text: 'Delete' }),
          h('button', { type: 'submit', value: 'cancel', class: 'secondary', text: 'Cancel' }),
        ),
      ),
    );
    document.body.append(dialog);
    dialog.showModal();
    await new Promise((resolve) => dialog.addEventListener('close', resolve, { once: true }));
    dialog.remove();
    if (dialog.returnValue !== 'delete') return;
    if (typed.value.trim() !== collection.name) return showError(status, `Not deleted: the name typed did not match "${collection.name}".`);
    try {
      const done = await api('DELETE', `/v1/collections/${encodeURIComponent(collection.id)}`);
      showStatus(status, `Deleted ${collection.name}; restorable for ${done.restorableForDays} days.`);
      await refresh();
    } catch (err) {
      showError(status, err);
    }
  }

  async function refresh() {
    const { collections } = await api('GET', '/v1/collections', undefined, { signal });
    if (!collections.some((c) => c.name === selection.collection) && collections[0]) selection.collection = collections[0].name;
    mount(
      list,
      collections.length
        ? h(
            'table',
            {},
            h('caption', { class: 'visually-hidden', text: 'Collections' }),
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ['Name', 'Version', 'Created', 'Actions'].map((t) => h('th', { scope: 'col', text: t })),
              ),
            ),
            h(
              'tbody',
              {},
              collections.map((c) =>
                h(
                  'tr',
                  { class: c.name === selection.collection ? 'selected' : null },
                  h('th', { scope: 'row', text: c.name }),
                  h('td', { text: c.version }),
                  h('td', { text: fmt.date(c.createdAt) }),
                  h(
                    'td',
                    { class: 'actions' },
                    h('button', {
                      type: 'button',
                      class: 'secondary',
                      text: 'Open',
                      'aria-label': `Open ${c.name}`,
                      onClick: () => {
                        selection.collection = c.name;
                        void refresh();
                      },
                    }),
                    h('button', {
                      type: 'button',
                      class: 'danger',
                      text: 'Delete',
                      'aria-label': `Delete ${c.name}`,
                      onClick: () => void remove(c),
                    }),
                  ),
                ),
              ),
            ),
          )
        : h('p', { text: 'No collections yet: create one above.' }),
    );
    const current = collections.find((c) => c.name === selection.collection);
    if (current) collectionDetail(detail, current, { signal, openDoc: params.get('doc'), openChunk: params.get('chunk') });
    else mount(detail);
  }

  await refresh();
}

function collectionDetail(root, collection, { signal, openDoc, openChunk }) {
  const fileInput = h('input', { type: 'file', multiple: true, class: 'visually-hidden', id: 'file-input' });
  const uploads = h('ul', { class: 'uploads', 'aria-label': 'Uploads' });
  const docs = h('div', { class: 'table-wrap' });
  const jobs = h('div', { class: 'table-wrap jobs' });
  const chunks = h('section', { class: 'chunks', 'aria-label': 'Chunks of the open document' });
  const drop = h(
    'div',
    { class: 'dropzone', id: 'dropzone' },
    h('p', { text: 'Drop files here, or' }),
    // The input stays in the tab order (only visually hidden); its label is the visible button and shows its focus.
    fileInput,
    h('label', { for: 'file-input', class: 'button', text: 'Choose files…' }),
  );
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    uploadAll([...(e.dataTransfer?.files ?? [])]);
  });
  fileInput.addEventListener('change', () => {
    uploadAll([...fileInput.files]);
    fileInput.value = '';
  });

  mount(
    root,
    h('h2', { id: 'detail-title', text: collection.name }),
    h('h3', { text: 'Upload' }),
    drop,
    uploads,
    h('h3', { text: 'Recent jobs' }),
    jobs,
    h('h3', { text: 'Documents' }),
    docs,
    chunks,
  );

  function uploadAll(files) {
    for (const file of files) void uploadOne(file);
  }

  async function uploadOne(file) {
    const progress = h('progress', { max: 100, value: 0, 'aria-label': `Upload of ${file.name}` });
    const state = h('span', { class: 'job-state', text: 'uploading' });
    const detailLine = h('span', { class: 'job-detail' });
    uploads.append(
      h('li', { dataset: { file: file.name } }, h('span', { class: 'file-name', text: file.name }), progress, state, detailLine),
    );
    try {
      const { jobs } = await xhrUpload(collection.id, file, (fraction) => (progress.value = Math.round(fraction * 100)));
      progress.value = 100;
      const job = jobs[0];
      for (let current = job; ; ) {
        state.textContent = current.state;
        state.dataset.state = current.state;
        detailLine.textContent = `attempt ${current.attempts}/${current.maxAttempts}${current.lastError ? ` · ${current.lastError}` : ''}${
          current.result?.chunks !== undefined ? ` · ${current.result.chunks} chunks` : ''
        }`;
        if (TERMINAL.has(current.state) || signal.aborted) break;
        await new Promise((resolve) => setTimeout(resolve, 400));
        current = await api('GET', `/v1/jobs/${current.id}`, undefined, { signal });
      }
      await Promise.all([listDocuments(), listJobs()]);
    } catch (err) {
      if (signal.aborted) return;
      state.textContent = 'failed';
      state.dataset.state = 'failed';
      detailLine.textContent = err.message;
    }
  }

  async function listJobs() {
    const page = await api('GET', `/v1/jobs?collection=${encodeURIComponent(collection.id)}&limit=20`, undefined, { signal });
    mount(
      jobs,
      page.jobs.length
        ? h(
            'table',
            {},
            h('caption', { class: 'visually-hidden', text: `Recent ingestion jobs of ${collection.name}` }),
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ['Source', 'State', 'Attempts', 'Error', 'Finished', ''].map((t) => h('th', { scope: 'col', text: t })),
              ),
            ),
            h(
              'tbody',
              {},
              page.jobs.map((j) =>
                h(
                  'tr',
                  { dataset: { jobId: j.id } },
                  h('th', { scope: 'row', text: j.source }),
                  h('td', { class: 'job-state', dataset: { state: j.state }, text: j.state }),
                  h('td', { class: 'num', text: `${j.attempts}/${j.maxAttempts}` }),
                  h('td', { text: j.lastError ?? '' }),
                  h('td', { text: fmt.date(j.finishedAt) }),
                  h(
                    'td',
                    {},
                    j.state === 'failed'
                      ? h('button', {
                          type: 'button',
                          class: 'secondary',
                          text: 'Retry',
                          'aria-label': `Retry ${j.source}`,
                          onClick: async () => {
                            await api('POST', `/v1/jobs/${j.id}/retry`).catch(() => {});
                            await listJobs();
                          },
                        })
                      : null,
                  ),
                ),
              ),
            ),
          )
        : h('p', { text: 'No jobs yet.' }),
    );
  }

  async function listDocuments() {
    const { documents } = await api('GET', `/v1/collections/${encodeURIComponent(collection.id)}/documents?limit=200`, undefined, {
      signal,
    });
    mount(
      docs,
      documents.length
        ? h(
            'table',
            {},
            h('caption', { class: 'visually-hidden', text: `Documents of ${collection.name}` }),
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ['Source', 'Title', 'Chunks', 'Pages', 'Updated', ''].map((t) => h('th', { scope: 'col', text: t })),
              ),
            ),
            h(
              'tbody',
              {},
              documents.map((d) =>
                h(
                  'tr',
                  { dataset: { documentId: d.id } },
                  h('th', { scope: 'row', text: d.source }),
                  h('td', { text: d.title }),
                  h('td', { class: 'num', text: d.chunkCount }),
                  h('td', { class: 'num', text: d.pageCount ?? '–' }),
                  h('td', { text: fmt.date(d.updatedAt) }),
                  h(
                    'td',
                    {},
                    h('button', {
                      type: 'button',
                      class: 'secondary',
                      text: 'Chunks',
                      'aria-label': `Chunks of ${d.source}`,
                      onClick: () => void showChunks(d.id),
                    }),
                  ),
                ),
              ),
            ),
          )
        : h('p', { text: 'No documents yet.' }),
    );
  }

  async function showChunks(documentId, focusChunk) {
    const page = await api(
      'GET',
      `/v1/collections/${encodeURIComponent(collection.id)}/documents/${documentId}/chunks?limit=500`,
      undefined,
      {
        signal,
      },
    );
    mount(
      chunks,
      h('h3', { text: `Chunks of ${page.document.source} (${page.document.chunkCount})` }),
      h(
        'ol',
        { class: 'chunk-list' },
        page.chunks.map((c) =>
          h(
            'li',
            { id: `chunk-${c.id}`, dataset: { chunkId: c.id }, class: c.id === focusChunk ? 'focus' : null, tabindex: -1 },
            h(
              'p',
              { class: 'meta' },
              `#${c.ordinal} · ${c.headingPath.length ? c.headingPath.join(' › ') : '(no heading)'} · page ${fmt.pages(c.pageStart, c.pageEnd)} · ${c.tokenCount} tokens`,
            ),
            h('p', { class: 'chunk-text', text: c.text }),
          ),
        ),
      ),
      page.nextOffset !== null ? h('p', { text: `Showing the first ${page.chunks.length}.` }) : null,
    );
    const target = focusChunk && document.getElementById(`chunk-${focusChunk}`);
    if (target) {
      target.scrollIntoView({ block: 'center' });
      target.focus();
    }
  }

  void listJobs().catch(() => {});
  void listDocuments().then(() => openDoc && showChunks(openDoc, openChunk));
}

/** Multipart upload through XMLHttpRequest, the one browser API that reports upload progress. */
function xhrUpload(collectionId, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/v1/collections/${encodeURIComponent(collectionId)}/documents`);
    for (const [name, value] of Object.entries(auth.headers())) xhr.setRequestHeader(name, value);
    xhr.responseType = 'json';
    xhr.upload.addEventListener('progress', (e) => e.lengthComputable && onProgress(e.loaded / e.total));
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.response);
      else reject(new Error(xhr.response?.error?.message ?? `upload failed with HTTP ${xhr.status}`));
    });
    xhr.addEventListener('error', () => reject(new Error('upload failed: the connection dropped')));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}
