import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { type BrowserContext, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../api/server.ts';
import { configSchema } from '../core/config.ts';
import type { EvalReport } from '../eval/runner.ts';
import type { TuneReport } from '../eval/tune.ts';
import { Ragline } from '../facade/ragline.ts';
import { Tenancy } from '../facade/tenancy.ts';
import { LocalEmbedder } from '../models/embedders/local.ts';
import { TEST_MODEL_DIR, testEmbedder } from '../testkit/embedder.ts';
import { FakeOpenAI, documentIdContaining, respond } from './contract/fake-openai.ts';
import { PROJECT_ROOT, describeShared } from './helpers/shared.ts';

/**
 * The console end to end: a real `ragline serve` (PGlite in a temp dir, the ONNX model, the in-process
 * worker) on a free port, driven through Debian's Chromium. Screenshots go to test-artifacts/console/.
 */
const CHROMIUM = process.env.RAGLINE_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
const SHOTS = path.join(PROJECT_ROOT, 'test-artifacts', 'console');
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const DOC_SHOTS = ['playground', 'ask', 'operations'];
const QUESTION = 'How do I back up Ragline when it uses the embedded database?';

/** What the in-page callbacks read, typed here because the project compiles without DOM types. */
type Dataset = { dataset: Record<string, string | undefined> };
type InPage = { document: { documentElement: { scrollWidth: number } }; sessionStorage: { getItem(key: string): string | null } };

const metrics = (ndcg10: number, recall100: number) => ({ ndcg10, recall10: recall100 - 0.05, recall100, mrr10: ndcg10 - 0.03 });
const evalRun = (hybrid: number): Pick<EvalReport, 'results'> => ({
  results: { dense: metrics(0.656, 0.92), bm25: metrics(0.675, 0.911), hybrid: metrics(hybrid, 0.955) },
});
const tuneRun: Pick<TuneReport, 'grid'> = {
  grid: [
    { settings: {}, train: metrics(0.7302, 0.95) },
    { settings: { fusion: 'rrf', k: 60 }, train: metrics(0.7215, 0.94) },
    { settings: { fusion: 'rrf', k: 20, weights: { dense: 0.3, bm25: 0.7 } }, train: metrics(0.7101, 0.94) },
    { settings: { fusion: 'convex', weights: { dense: 0.3, bm25: 0.7 } }, train: metrics(0.7188, 0.94) },
    { settings: { fusion: 'convex', weights: { dense: 0.3, bm25: 0.7 }, candidates: 500 }, train: metrics(0.7199, 0.94) },
  ],
};

/** axe-core in the page: serious and critical violations, by rule and element. */
async function accessibilityProblems(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async () => {
    // biome-ignore lint/suspicious/noExplicitAny: runs in the page, where axe is an injected global (no DOM types here)
    const page = globalThis as any;
    const result = await page.axe.run(page.document, { resultTypes: ['violations'] });
    return result.violations as { id: string; impact: string; nodes: { target: string[]; failureSummary?: string }[] }[];
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.nodes.map((n) => `${n.target.join(' ')} (${n.failureSummary ?? ''})`).join(', ')}`);
}

describeShared('web console in Chromium (real server, PGlite, ONNX model)', () => {
  let tmp: string;
  let ragline: Ragline;
  let server: RunningServer;
  let context: BrowserContext;
  let page: Page;
  let requestId: string;
  const problems: Record<string, string[]> = {};
  /** Uncaught errors in the page's scripts: none is expected on any page. */
  const pageErrors: string[] = [];

  const shot = async (name: string) => {
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
    // RAGLINE_CONSOLE_DOC_SHOTS=1 refreshes the small pictures docs/console.md and the README show.
    if (process.env.RAGLINE_CONSOLE_DOC_SHOTS === '1' && DOC_SHOTS.includes(name)) {
      await page.screenshot({ path: path.join(PROJECT_ROOT, 'docs', 'console', `${name}.jpg`), type: 'jpeg', quality: 70 });
    }
  };
  const visit = async (route: string) => {
    await page.goto(`${server.url}/#/${route}`);
    await page.locator('h1').waitFor();
  };

  beforeAll(async () => {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium (.ci/run does)`);
    fs.mkdirSync(SHOTS, { recursive: true });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ragline-console-'));
    const config = configSchema.parse({ dataDir: path.join(tmp, 'data'), server: { rateLimitPerMinute: 100_000 } });
    ragline = await Ragline.open(config, { embedder: await testEmbedder() });
    server = await startServer(ragline, { host: '127.0.0.1', port: 0, inProcessWorker: true, worker: { pollMs: 50 } });
    context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
      executablePath: CHROMIUM,
      args: ARGS,
      headless: true,
      viewport: { width: 1280, height: 900 },
      // axe-core is injected as a script tag, which the console's CSP (script-src 'self') would refuse.
      bypassCSP: true,
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (err) => pageErrors.push(err.message));
  });

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('creates a collection, uploads two files (one dropped, one chosen) and watches their jobs finish', async () => {
    await visit('collections');
    await page.getByLabel('New collection name').fill('guide');
    await page.getByRole('button', { name: 'Create collection' }).click();
    await expect.poll(() => page.locator('tbody th', { hasText: 'guide' }).count()).toBe(1);

    const pdf = fs.readFileSync(path.join(PROJECT_ROOT, 'fixtures', 'operations-handbook.pdf'));
    const dropped = await page.evaluateHandle(
      ({ name, base64 }) => {
        // biome-ignore lint/suspicious/noExplicitAny: runs in the page (no DOM types here)
        const { DataTransfer, File } = globalThis as any;
        const transfer = new DataTransfer();
        const bytes = Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0));
        transfer.items.add(new File([bytes], name, { type: 'application/pdf' }));
        return transfer;
      },
      { name: 'operations-handbook.pdf', base64: pdf.toString('base64') },
    );
    await page.dispatchEvent('#dropzone', 'drop', { dataTransfer: dropped });
    await page.setInputFiles('#file-input', path.join(PROJECT_ROOT, 'fixtures', 'faq.txt'));

    const states = page.locator('.uploads .job-state');
    await expect.poll(() => states.allTextContents(), { timeout: 90_000, interval: 250 }).toEqual(['succeeded', 'succeeded']);
    expect(await page.locator('.uploads progress').evaluateAll((els) => els.map((e) => (e as unknown as { value: number }).value))).toEqual(
      [100, 100],
    );
    expect(await page.locator('.uploads .job-detail').allTextContents()).toEqual([
      expect.stringMatching(/^attempt 1\/\d+ · \d+ chunks$/),
      expect.stringMatching(/^attempt 1\/\d+ · \d+ chunks$/),
    ]);

    // A file no loader reads: its row ends in "failed" with the API's reason, and the others stay as they were.
    await page.setInputFiles('#file-input', {
      name: 'noise.bin',
      mimeType: 'application/octet-stream',
      buffer: Buffer.from([0, 159, 146, 150, 0, 1, 2]),
    });
    await expect.poll(() => states.allTextContents(), { timeout: 60_000 }).toEqual(['succeeded', 'succeeded', 'failed']);
    expect(await page.locator('.uploads li[data-file="noise.bin"] .job-detail').textContent()).toMatch(/\S{10,}/);

    // The collection's job list (GET /v1/jobs?collection=) agrees: two jobs, both done on the first attempt.
    const jobRows = page.locator('.jobs tbody tr');
    await expect.poll(() => jobRows.locator('td.job-state').allTextContents()).toEqual(['succeeded', 'succeeded']);
    expect((await jobRows.locator('th').allTextContents()).sort()).toEqual(['faq.txt', 'operations-handbook.pdf']);
    expect(await jobRows.locator('td.num').allTextContents()).toEqual([
      expect.stringMatching(/^1\/\d+$/),
      expect.stringMatching(/^1\/\d+$/),
    ]);

    const pdfRow = page.locator('.table-wrap:not(.jobs) tr', { has: page.locator('th', { hasText: 'operations-handbook.pdf' }) });
    await pdfRow.waitFor();
    expect(await pdfRow.locator('td.num').allTextContents()).toEqual([expect.stringMatching(/^[1-9]\d*$/), '3']);
    await page.getByRole('button', { name: 'Chunks of operations-handbook.pdf' }).click();
    const chunkMeta = page.locator('.chunk-list .meta');
    await chunkMeta.first().waitFor();
    const metas = await chunkMeta.allTextContents();
    expect(metas[0]).toMatch(/^#0 · .+ · page 1 · \d+ tokens$/);
    expect(metas.some((m) => / page 3 · /.test(m))).toBe(true);
    await shot('collections');
    problems.collections = await accessibilityProblems(page);
  });

  it('searches: three columns, lines to the origins, timings; moving the BM25 weight changes the fused order', async () => {
    await visit('playground');
    await page.getByLabel('Query', { exact: true }).fill('restore the data directory after the model provider fails');
    const columns = page.locator('.columns .column');
    await expect.poll(() => columns.count()).toBe(3);
    expect(await columns.locator('h2').allTextContents()).toEqual(['Dense', 'Fused (hybrid)', 'BM25']);
    for (const kind of ['dense', 'fused', 'bm25']) expect(await page.locator(`.column.${kind} li.hit`).count()).toBeGreaterThan(2);
    expect(await page.locator('svg.lines path.link').count()).toBeGreaterThan(0);
    expect(await page.locator('.column mark').count()).toBeGreaterThan(0);
    expect(await page.locator('.stage-list').textContent()).toMatch(/embed .*dense .*BM25 .*fuse \+ load .*total/);

    const order = (kind: string) =>
      page.locator(`.column.${kind} li.hit`).evaluateAll((els) => els.map((e) => (e as unknown as Dataset).dataset.chunkId));
    await page.getByLabel('Query-dependent weights').uncheck();
    const bm25 = page.getByLabel('BM25 weight');
    await bm25.focus();
    await page.keyboard.press('Home'); // BM25 weight 0: the fused order is the dense order
    await expect.poll(() => page.locator('p.status[data-of="search"]').textContent()).toMatch(/BM25 0\.00/);
    const denseOnly = await order('fused');
    expect(denseOnly).toEqual(await order('dense'));
    await page.keyboard.press('End'); // BM25 weight 1 against dense 0.5
    await expect.poll(() => page.locator('p.status[data-of="search"]').textContent()).toMatch(/BM25 1\.00/);
    const bm25Heavy = await order('fused');
    expect(await order('bm25')).not.toEqual(await order('dense')); // otherwise no weight could change anything
    expect(bm25Heavy).not.toEqual(denseOnly);

    // The settings on screen become a named config version, stored but not made active.
    await page.getByLabel('Config name').fill('bm25-heavy');
    await page.getByRole('button', { name: 'Save as config' }).click();
    await expect.poll(() => page.getByText(/Saved bm25-heavy version 1/).count()).toBe(1);
    const saved = (await (await fetch(`${server.url}/v1/collections/guide/configs/bm25-heavy`)).json()) as {
      settings: { retrieval: Record<string, unknown> };
    };
    expect(saved.settings.retrieval).toMatchObject({ weights: { dense: 0.5, bm25: 1 }, mode: 'hybrid' });
    const listed = (await (await fetch(`${server.url}/v1/collections/guide/configs`)).json()) as { active: string | null };
    expect(listed.active).toBeNull();
    await shot('playground');
    problems.playground = await accessibilityProblems(page);
  });

  it('asks: a streamed answer whose citation opens the cited chunk, then feedback', async () => {
    await visit('ask');
    await page.getByLabel('Question').fill(QUESTION);
    await page.getByRole('button', { name: 'Ask', exact: true }).click();
    await page.locator('[data-fact="state"]').waitFor({ timeout: 60_000 });
    expect(Number(await page.locator('.answer').getAttribute('data-events'))).toBeGreaterThanOrEqual(3); // retrieval, token…, done
    expect(await page.locator('[data-fact="state"]').textContent()).toBe('grounded');
    expect(await page.locator('[data-fact="model"]').textContent()).toBe('extractive');
    requestId = (await page.locator('[data-fact="request"]').textContent())!;

    const marker = page.locator('.answer button.cite').first();
    const cited = await marker.getAttribute('data-chunk-id');
    await marker.click();
    await expect.poll(() => page.locator('.cited blockquote').getAttribute('data-chunk-id')).toBe(cited);
    expect(await page.locator('.cited .meta').textContent()).toMatch(/^operations-handbook\.pdf · page 1\b/);
    expect(await page.locator('.cited blockquote').textContent()).toMatch(/data directory/);
    await shot('ask');
    problems.ask = await accessibilityProblems(page);

    await page.getByRole('button', { name: 'Thumbs down' }).click();
    await page.getByLabel('Comment (optional)').fill('missing the restore steps');
    await page.getByRole('button', { name: 'Send feedback' }).click();
    await expect.poll(() => page.locator('.feedback .status').textContent()).toBe('Thanks: feedback saved.');

    // The citation's "open in its document" lands on that chunk in the document's chunk list.
    await page.getByRole('button', { name: 'Source 1: operations-handbook.pdf, page 1' }).first().click();
    await page.getByRole('link', { name: 'Open in its document' }).click();
    const focused = page.locator(`.chunk-list li[data-chunk-id="${cited}"]`);
    await focused.waitFor();
    expect(await focused.getAttribute('class')).toBe('focus');
    expect(await focused.locator('.meta').textContent()).toMatch(/ page 1 · /);
  });

  it('shows the rated answer in operations and opens its trace', async () => {
    await visit('operations');
    const row = page.locator(`tr[data-request-id="${requestId}"]`);
    await row.waitFor();
    expect(await row.locator('td.rating').textContent()).toBe('1/5 “missing the restore steps”');
    expect(await page.locator(`.worst li[data-request-id="${requestId}"]`).textContent()).toContain(QUESTION);
    expect(await page.locator('tbody tr[data-request-id]').count()).toBeGreaterThanOrEqual(7); // 6 playground searches and more, plus the answer
    await row.getByRole('button').click();
    await expect.poll(() => page.locator('.trace h2').textContent()).toBe(`Trace: ${QUESTION}`);
    expect(await page.locator('.trace dd').allTextContents()).toEqual(
      expect.arrayContaining(['answered', 'extractive', '1/5 “missing the restore steps”', 'extractive-v1+answerability']),
    );
    expect(await page.locator('.trace tbody tr').count()).toBeGreaterThan(0);
    // What was retrieved, in words: the first chunk is the cited page of the PDF.
    expect(await page.locator('.trace td.chunk .meta').first().textContent()).toMatch(/^operations-handbook\.pdf · page 1\b/);
    await shot('operations');
    problems.operations = await accessibilityProblems(page);
  });

  it('charts an eval run, compares two, and draws the tune grid as a heat map', async () => {
    const file = (name: string, body: unknown) => {
      fs.writeFileSync(path.join(tmp, name), JSON.stringify(body));
      return path.join(tmp, name);
    };
    await visit('quality');
    await page.setInputFiles('input[name="run-a"]', file('baseline.json', evalRun(0.729)));
    await page.setInputFiles('input[name="run-b"]', file('candidate.json', evalRun(0.741)));
    const bars = page.locator('svg.bars[data-metric="ndcg10"] g.bar');
    await expect.poll(() => bars.count()).toBe(6);
    expect(
      await bars.evaluateAll((els) =>
        els.map((e) => `${(e as unknown as Dataset).dataset.mode}=${(e as unknown as Dataset).dataset.value}`),
      ),
    ).toEqual(['dense=0.656', 'dense=0.656', 'bm25=0.675', 'bm25=0.675', 'hybrid=0.729', 'hybrid=0.741']);
    expect(await page.locator('table.compare tr', { hasText: 'hybrid nDCG@10' }).locator('td').allTextContents()).toEqual([
      '0.729',
      '0.741',
      '+0.012',
    ]);
    await shot('quality');
    problems.quality = await accessibilityProblems(page);

    await page.setInputFiles('input[name="run-b"]', file('tune.json', tuneRun));
    const cells = page.locator('svg.heatmap g.cell');
    await expect.poll(() => cells.count()).toBe(4);
    expect(await page.locator('svg.heatmap g.cell[data-row="convex"][data-col="0.3 / 0.7"]').getAttribute('data-value')).toBe('0.7199');
    await shot('quality-tune');
    await page.setInputFiles('input[name="run-b"]', file('bad.json', { nothing: true }));
    await expect.poll(() => page.locator('p.status.error').textContent()).toMatch(/^bad\.json: expected the JSON of `ragline eval --json`/);
  });

  it('ran every page without an uncaught script error', () => {
    expect(pageErrors).toEqual([]);
  });

  it('has no serious or critical accessibility violations on any page', () => {
    expect(Object.keys(problems).sort()).toEqual(['ask', 'collections', 'operations', 'playground', 'quality']);
    expect(problems).toEqual({ ask: [], collections: [], operations: [], playground: [], quality: [] });
  });

  it('fits a 390 px wide screen without sideways scrolling, and loads under 200 KB of script', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    for (const route of ['collections', 'playground', 'ask', 'operations', 'quality']) {
      await visit(route);
      await page.waitForLoadState('networkidle');
      expect({ route, width: await page.evaluate(() => (globalThis as unknown as InPage).document.documentElement.scrollWidth) }).toEqual({
        route,
        width: 390,
      });
    }
    await page.goto(`${server.url}/#/playground`);
    await page.waitForLoadState('networkidle');
    // The tab kept the playground's settings: the query is back and its results with it.
    expect(await page.getByLabel('Query', { exact: true }).inputValue()).toBe('restore the data directory after the model provider fails');
    await expect.poll(() => page.locator('.column.fused li.hit').count()).toBeGreaterThan(2);
    expect(await page.evaluate(() => (globalThis as unknown as InPage).document.documentElement.scrollWidth)).toBe(390);
    const scriptBytes = await page.evaluate(() =>
      (performance.getEntriesByType('resource') as unknown as { name: string; initiatorType: string; decodedBodySize: number }[])
        .filter((e) => e.initiatorType === 'script' || e.name.endsWith('.js'))
        .reduce((sum, e) => sum + e.decodedBodySize, 0),
    );
    console.log(`[console] script loaded on first visit: ${scriptBytes} bytes`);
    expect(scriptBytes).toBeGreaterThan(10_000);
    expect(scriptBytes).toBeLessThan(200_000);
    await shot('playground-390');
  });

  it('asks for a key once the server has keys, keeps it in the tab, and shows the role the API enforces', async () => {
    await page.setViewportSize({ width: 1280, height: 900 });
    const issued = await Tenancy.for(ragline).createKey(
      { keyId: 'test:setup', tenantId: 'default', client: 'test' },
      { tenantId: 'default', role: 'reader', collections: null },
    );
    await visit('collections');
    const dialog = page.getByRole('dialog', { name: 'API key' });
    await dialog.waitFor();
    await page.getByLabel('Key (rk_…)').fill(issued.key);
    await page.getByRole('button', { name: 'Use key' }).click();
    await expect.poll(() => page.locator('tbody th', { hasText: 'guide' }).count()).toBe(1);
    expect(await page.evaluate(() => (globalThis as unknown as InPage).sessionStorage.getItem('ragline.apiKey'))).toBe(issued.key);
    await page.getByLabel('New collection name').fill('not-allowed');
    await page.getByRole('button', { name: 'Create collection' }).click();
    await expect.poll(() => page.locator('p.status.error').first().textContent()).toMatch(/needs the admin role; the key is a reader/);
  });
});

/**
 * The Ask page with a model that writes: the answer service streams from a local OpenAI-compatible
 * fake (the real SDK-based generator) in several deltas with a pause between them, so the browser
 * receives and shows the answer piece by piece before the verified citation, model, tokens and cost.
 */
describeShared('web console in Chromium: an answer streamed by an LLM in several deltas', () => {
  const fake = new FakeOpenAI();
  const DELTAS = ['To back up Ragline, ', 'stop it ', 'and copy ', 'the whole data directory ', 'to the backup server [1].'];
  let tmp: string;
  let server: RunningServer;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    await fake.start();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ragline-console-llm-'));
    const config = configSchema.parse({
      dataDir: path.join(tmp, 'data'),
      server: { rateLimitPerMinute: 100_000 },
      openai: { apiKey: 'sk-test', baseUrl: fake.baseURL, chatModel: 'gpt-4o-mini' },
      answer: { generator: 'openai' },
    });
    // A model of its own: the first suite's server.close() disposed the file's shared test embedder.
    const embedder = await LocalEmbedder.load({ model: 'Xenova/all-MiniLM-L6-v2', dtype: 'fp32', modelDir: TEST_MODEL_DIR, batchSize: 32 });
    const ragline = await Ragline.open(config, { embedder });
    const guide = await ragline.createCollection('guide');
    const pdf = fs.readFileSync(path.join(PROJECT_ROOT, 'fixtures', 'operations-handbook.pdf'));
    await ragline.ingest(guide, [{ source: 'operations-handbook.pdf', bytes: pdf, mime: 'application/pdf' }]);
    server = await startServer(ragline, { host: '127.0.0.1', port: 0, inProcessWorker: true, worker: { pollMs: 50 } });
    context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
      executablePath: CHROMIUM,
      args: ARGS,
      headless: true,
      viewport: { width: 1280, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
  });

  afterAll(async () => {
    await context?.close();
    await server?.close();
    await fake.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('shows the answer growing over several token events, then state, model, tokens, cost and a citation that opens its chunk', async () => {
    fake.enqueue('/v1/chat/completions', respond.chatStream(DELTAS, { gapMs: 150 }));
    await page.goto(`${server.url}/#/ask`);
    await page.locator('h1').waitFor();
    // Every length the answer's text goes through, recorded in the page as the DOM changes.
    await page.evaluate(() => {
      // biome-ignore lint/suspicious/noExplicitAny: runs in the page (no DOM types here)
      const g = globalThis as any;
      g.answerLengths = [];
      const answer = g.document.querySelector('.answer');
      new g.MutationObserver(() => g.answerLengths.push(answer.textContent.length)).observe(answer, {
        childList: true,
        subtree: true,
        characterData: true,
      });
    });
    await page.getByLabel('Question').fill(QUESTION);
    await page.getByRole('button', { name: 'Ask', exact: true }).click();
    await page.locator('[data-fact="state"]').waitFor({ timeout: 60_000 });

    // retrieval + one event per delta + done
    expect(Number(await page.locator('.answer').getAttribute('data-events'))).toBe(DELTAS.length + 2);
    const lengths = (await page.evaluate(() => (globalThis as unknown as { answerLengths: number[] }).answerLengths)).filter((n) => n > 0);
    const growing = lengths.filter((n, i) => i === 0 || n > lengths[i - 1]!);
    expect(growing.length, `lengths seen: ${lengths.join(', ')}`).toBeGreaterThanOrEqual(DELTAS.length);
    expect(lengths.at(-1)).toBe(DELTAS.join('').length);

    expect(await page.locator('[data-fact="state"]').textContent()).toBe('grounded');
    expect(await page.locator('[data-fact="model"]').textContent()).toBe('gpt-4o-mini');
    // The fake reports 222 prompt tokens and one completion token per delta; gpt-4o-mini's price from the table.
    expect(await page.locator('[data-fact="tokens"]').textContent()).toBe(`222 in / ${DELTAS.length} out`);
    expect(await page.locator('[data-fact="cost"]').textContent()).toBe('$0.000036');

    const marker = page.locator('.answer button.cite');
    expect(await marker.count()).toBe(1);
    const cited = await marker.getAttribute('data-chunk-id');
    await marker.click();
    await expect.poll(() => page.locator('.cited blockquote').getAttribute('data-chunk-id')).toBe(cited);
    expect(await page.locator('.cited .meta').textContent()).toMatch(/^operations-handbook\.pdf · page 1\b/);
    expect(await page.locator('.cited blockquote').textContent()).toMatch(/data directory/);
    // The prompt the fake received held that chunk as document 1: the marker names what the model was shown.
    expect(documentIdContaining(fake.to('/v1/chat/completions')[0]!.body, 'data directory')).toBe(1);
    await page.screenshot({ path: path.join(SHOTS, 'ask-llm-stream.png'), fullPage: true });
  });
});
