// pdf.js work in a worker thread, so parsing a PDF never blocks the server's event loop: the text
// layer (task "text") and page images for OCR (task "render"). Plain JavaScript on purpose: a worker
// thread does not inherit tsx's loader when it runs under vitest or plain node, and this file needs
// nothing but unpdf and the canvas. The main thread (pdf-thread.ts) validates every message with zod
// and terminates this thread on its deadline, on cancel, and once the answer arrived.
import { parentPort, workerData } from 'node:worker_threads';
import { getResolvedPDFJS, renderPageAsImage } from 'unpdf';

/**
 * `layout` says whether the caller reads the page by its layout: only then are each item's width
 * and font and the document outline worth their cost (the outline is an await per bookmark).
 * @param {{ bytes: Uint8Array, maxPages: number, maxChars: number, layout: boolean }} input
 */
async function extractText({ bytes, maxPages, maxChars, layout }) {
  const pdfjs = await getResolvedPDFJS();
  const task = pdfjs.getDocument({ data: bytes, isEvalSupported: false, useSystemFonts: true, verbosity: 0 });
  const pdf = await task.promise;
  if (pdf.numPages > maxPages) return { kind: 'too_many_pages', pages: pdf.numPages };
  const pages = [];
  let chars = 0;
  for (let number = 1; number <= pdf.numPages; number++) {
    const page = await pdf.getPage(number);
    const items = [];
    // Streamed, so a page that expands to millions of characters stops as soon as the budget is spent.
    const reader = page.streamTextContent().getReader();
    for (let piece = await reader.read(); !piece.done; piece = await reader.read()) {
      for (const item of piece.value.items) {
        if (typeof item.str !== 'string') continue; // marked-content markers carry no text
        chars += item.str.length;
        const text = { str: item.str, transform: Array.from(item.transform ?? []), hasEOL: Boolean(item.hasEOL) };
        if (layout) {
          text.width = Number.isFinite(item.width) ? item.width : 0;
          text.fontName = typeof item.fontName === 'string' ? item.fontName : '';
        }
        items.push(text);
      }
      if (chars > maxChars) {
        await reader.cancel(new Error('text budget spent')).catch(() => {});
        return { kind: 'over_budget', page: number };
      }
    }
    const [x0 = 0, y0 = 0, x1 = 0, y1 = 0] = page.view ?? [];
    pages.push({ items, width: Math.abs(x1 - x0), height: Math.abs(y1 - y0) });
    page.cleanup();
  }
  // Metadata is a nicety: a broken info dictionary must not fail a readable document.
  const meta = await pdf.getMetadata().catch(() => undefined);
  const info = {};
  for (const field of ['Title', 'Author']) {
    if (typeof meta?.info?.[field] === 'string') info[field] = meta.info[field];
  }
  // The outline is a nicety too: a broken one leaves headings to be found from the page text.
  const outline = layout ? await readOutline(pdf).catch(() => []) : [];
  return { kind: 'extracted', pages, info, outline };
}

const MAX_OUTLINE_ENTRIES = 5000;

/**
 * The document outline (bookmarks) flattened in order: title, depth (0 = top), 1-based page and,
 * when the destination says so, the y of the heading's top on that page.
 */
async function readOutline(pdf) {
  const entries = [];
  async function walk(items, depth) {
    for (const item of items ?? []) {
      if (entries.length >= MAX_OUTLINE_ENTRIES || depth > 8) return;
      const target = await destinationOf(pdf, item.dest);
      if (target && typeof item.title === 'string') entries.push({ title: item.title, depth, ...target });
      await walk(item.items, depth + 1);
    }
  }
  await walk(await pdf.getOutline(), 0);
  return entries;
}

async function destinationOf(pdf, dest) {
  const explicit = typeof dest === 'string' ? await pdf.getDestination(dest).catch(() => null) : dest;
  if (!Array.isArray(explicit) || explicit.length === 0) return undefined;
  const ref = explicit[0];
  const index = Number.isInteger(ref) ? ref : await pdf.getPageIndex(ref).catch(() => -1);
  if (!(index >= 0)) return undefined;
  // [ref, {name: 'XYZ'}, left, top, zoom] or [ref, {name: 'FitH'}, top]
  const mode = explicit[1]?.name;
  const top = mode === 'XYZ' ? explicit[3] : mode === 'FitH' || mode === 'FitBH' ? explicit[2] : undefined;
  return { page: index + 1, ...(typeof top === 'number' && Number.isFinite(top) ? { top } : {}) };
}

/**
 * pdf.js's font renderer calls ArrayBuffer.prototype.transferToFixedLength (Node 21+); on Node 20
 * glyphs would render blank. This supplies it with the same contract where it is missing: a buffer of
 * the requested length holding the old bytes, the old one detached.
 */
function ensureTransferToFixedLength() {
  if (ArrayBuffer.prototype.transferToFixedLength) return;
  Object.defineProperty(ArrayBuffer.prototype, 'transferToFixedLength', {
    configurable: true,
    writable: true,
    value(length = this.byteLength) {
      const moved = structuredClone(this, { transfer: [this] });
      if (length === moved.byteLength) return moved;
      const resized = new ArrayBuffer(length);
      new Uint8Array(resized).set(new Uint8Array(moved, 0, Math.min(length, moved.byteLength)));
      return resized;
    },
  });
}

/** @param {{ bytes: Uint8Array, page: number, scale: number }} input */
async function renderPage({ bytes, page, scale }) {
  ensureTransferToFixedLength();
  const png = await renderPageAsImage(bytes, page, { canvasImport: () => import('@napi-rs/canvas'), scale });
  return { kind: 'rendered', png: new Uint8Array(png) };
}

try {
  const answer = workerData.task === 'render' ? await renderPage(workerData) : await extractText(workerData);
  parentPort.postMessage(answer);
} catch (err) {
  const name = err instanceof Error ? err.name : 'Error';
  const message = err instanceof Error ? err.message : String(err);
  parentPort.postMessage({ kind: 'failed', name, message });
}
