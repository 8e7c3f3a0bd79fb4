import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consoleRoutes } from '../api/routes/console.ts';
import { openApiPath } from '../api/openapi/spec.ts';
import { loadConfig } from '../core/config.ts';
import { OPERATOR, type TenancyFixture, jsonRequest, seedCollection, tenancyFixture } from './helpers/tenants.ts';
import { describeShared } from './helpers/shared.ts';

// biome-ignore lint/suspicious/noExplicitAny: responses are walked as plain JSON
type Json = Record<string, any>;

const GUIDE = [
  '# Operations',
  '',
  '## Backups',
  '',
  'Stop the server and copy the data directory to back up the embedded database.',
  '',
  '## Upgrades',
  '',
  'Read the changelog, then restart each replica in turn so the cluster keeps serving.',
].join('\n');

describeShared('console API routes: chunks, recent requests, report (PGlite + real model)', () => {
  let f: TenancyFixture;
  let aKey: string;
  let bKey: string;
  let documentId: string;
  let spec: Json;
  const ajv = new Ajv2020({ strict: false, allErrors: true });

  const get = async (path: string, key: string) => {
    const res = await f.app.request(path, jsonRequest('GET', undefined, key));
    return { status: res.status, body: (await res.json()) as Json };
  };
  /** The body, once checked against the OpenAPI schema of its route and status. */
  const conforming = async (path: string, route: string, key: string) => {
    const { status, body } = await get(path, key);
    const schema = spec.paths[openApiPath(route)].get.responses[String(status)].content['application/json'].schema;
    const validate = ajv.compile(schema);
    expect(validate(body) ? [] : validate.errors).toEqual([]);
    return { status, body };
  };

  beforeAll(async () => {
    f = await tenancyFixture();
    for (const id of ['team-a', 'team-b']) await f.tenancy.createTenant(OPERATOR, id);
    const collection = await f.ragline.createCollection('ops', {}, 'team-a');
    const [outcome] = await f.ragline.ingest(collection, [
      { source: 'ops.md', bytes: new TextEncoder().encode(GUIDE), mime: 'text/markdown' },
    ]);
    if (!outcome || outcome.status === 'failed') throw new Error('ingesting ops.md failed');
    documentId = outcome.document.id;
    await seedCollection(f, 'team-b', 'ops', 'b.txt', 'Team B notes about bicycles.');
    aKey = await f.key('team-a', 'writer');
    bKey = await f.key('team-b', 'reader');
    spec = (await (await f.app.request('/openapi.json')).json()) as Json;
  });

  afterAll(async () => {
    await f?.close();
  });

  it("lists a document's chunks in order with heading path, pages and token counts, a page at a time", async () => {
    const all = await conforming(`/v1/collections/ops/documents/${documentId}/chunks`, '/v1/collections/:id/documents/:docId/chunks', aKey);
    expect(all.status).toBe(200);
    const chunks = all.body.chunks as Json[];
    expect(chunks.length).toBe(all.body.document.chunkCount);
    expect(chunks.map((c) => c.ordinal)).toEqual(chunks.map((_, i) => i));
    expect(chunks.every((c) => c.tokenCount > 0 && c.pageStart === null)).toBe(true);
    const backups = chunks.find((c) => c.text.includes('copy the data directory'));
    expect(backups?.headingPath).toEqual(['Operations', 'Backups']);

    const first = await get(`/v1/collections/ops/documents/${documentId}/chunks?limit=1`, aKey);
    expect(first.body.chunks.map((c: Json) => c.id)).toEqual([chunks[0]!.id]);
    expect(first.body.nextOffset).toBe(chunks.length > 1 ? 1 : null);
  });

  it('looks chunks up by id within the collection only, and bounds the list', async () => {
    const all = (await get(`/v1/collections/ops/documents/${documentId}/chunks`, aKey)).body.chunks as Json[];
    const ids = [all[1]!.id, 'not-a-uuid', all[0]!.id];
    const found = await conforming(`/v1/collections/ops/chunks?ids=${ids.join(',')}`, '/v1/collections/:id/chunks', aKey);
    expect(found.body.chunks.map((c: Json) => [c.id, c.source])).toEqual([
      [all[1]!.id, 'ops.md'],
      [all[0]!.id, 'ops.md'],
    ]);
    const b = await get(`/v1/collections/ops/chunks?ids=${all[0]!.id}`, bKey); // B's own "ops"
    expect(b).toEqual({ status: 200, body: { chunks: [] } });
    const tooMany = Array.from({ length: 101 }, (_, i) => `id${i}`).join(',');
    for (const query of ['', 'ids=', `ids=${tooMany}`, 'ids=a&extra=1']) {
      expect({ query, status: (await get(`/v1/collections/ops/chunks?${query}`, aKey)).status }).toEqual({ query, status: 400 });
    }
  });

  it('refuses bad paging with a 400 naming the parameter, and unknown documents with a 404', async () => {
    for (const query of ['limit=0', 'limit=501', 'offset=-1', 'limit=abc', 'page=2']) {
      const res = await get(`/v1/collections/ops/documents/${documentId}/chunks?${query}`, aKey);
      expect({ query, status: res.status, code: res.body.error.code }).toEqual({ query, status: 400, code: 'bad_request' });
    }
    expect((await get('/v1/collections/ops/documents/00000000-0000-4000-8000-000000000000/chunks', aKey)).status).toBe(404);
    expect((await get('/v1/collections/ops/documents/not-a-uuid/chunks', aKey)).status).toBe(404);
  });

  it("lists the tenant's recent requests newest first, with paging, kinds and feedback; never another tenant's", async () => {
    const asked: string[] = [];
    for (const query of ['backups', 'upgrades', 'replicas']) {
      const res = await f.app.request('/v1/collections/ops/search', jsonRequest('POST', { query }, aKey));
      asked.push(((await res.json()) as Json).requestId);
    }
    const answer = (await (
      await f.app.request('/v1/collections/ops/answer', jsonRequest('POST', { question: 'How do I back up the database?' }, aKey))
    ).json()) as Json;
    await f.app.request('/v1/feedback', jsonRequest('POST', { requestId: answer.requestId, rating: 'down', comment: 'too short' }, aKey));
    await f.app.request('/v1/collections/ops/search', jsonRequest('POST', { query: 'bicycles' }, bKey));

    const page = await conforming('/v1/requests?limit=2', '/v1/requests', aKey);
    expect(page.body.requests.map((r: Json) => r.id)).toEqual([answer.requestId, asked[2]]);
    expect(page.body.nextOffset).toBe(2);
    expect(page.body.requests[0]).toMatchObject({
      kind: 'answer',
      rating: 1,
      comment: 'too short',
      outcome: 'answered',
      collectionName: 'ops',
    });
    expect(page.body.requests[1].stages.bm25Ms).toBeGreaterThanOrEqual(0);
    const rest = await get('/v1/requests?limit=2&offset=2', aKey);
    expect(rest.body.requests.map((r: Json) => r.id)).toEqual([asked[1], asked[0]]);
    expect(rest.body.nextOffset).toBeNull();
    expect((await get('/v1/requests?kind=answer', aKey)).body.requests.map((r: Json) => r.id)).toEqual([answer.requestId]);

    const b = await get('/v1/requests', bKey);
    expect(b.body.requests.map((r: Json) => r.question)).toEqual(['bicycles']);
    for (const query of ['limit=0', 'limit=201', 'kind=ask', 'offset=x']) {
      expect({ query, status: (await get(`/v1/requests?${query}`, aKey)).status }).toEqual({ query, status: 400 });
    }
  });

  it("reports the tenant's own volume, worst-rated and unanswered questions", async () => {
    await f.app.request('/v1/collections/ops/answer', jsonRequest('POST', { question: 'What colour is the office cat?' }, aKey));
    const report = await conforming('/v1/report', '/v1/report', aKey);
    expect(report.body.requests).toMatchObject({ search: 3 });
    expect(report.body.worstRated.map((w: Json) => [w.question, w.rating, w.comment])).toEqual([
      ['How do I back up the database?', 1, 'too short'],
    ]);
    expect(report.body.unanswered.map((u: Json) => u.question)).toEqual(['What colour is the office cat?']);
    const b = await get('/v1/report?sinceDays=30', bKey);
    expect(b.body.requests.total).toBe(1);
    expect(b.body.worstRated).toEqual([]);
    expect((await get('/v1/report?sinceDays=0', aKey)).status).toBe(400);
  });

  it('serves the console page and its files with a same-origin CSP, and nothing else from disk', async () => {
    const page = await f.app.request('/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    expect(await page.text()).toContain('<script type="module" src="/console/app.js">');
    const script = await f.app.request('/console/app.js');
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await script.text()).toContain("from './dom.js'");
    for (const path of ['/console/nope.js', '/console/..%2Fpackage.json', '/console/%2e%2e%2fpackage.json', '/console/index.ts']) {
      const res = await f.app.request(path);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
    }
  });
});

describe('console switch', () => {
  it('RAGLINE_CONSOLE=false leaves / unserved; a bad value names the variable', () => {
    expect(loadConfig({ RAGLINE_CONSOLE: 'false' }).console.enabled).toBe(false);
    expect(loadConfig({}).console).toEqual({ enabled: true, maxRequestsPage: 200, maxChunksPage: 500 });
    expect(() => loadConfig({ RAGLINE_CONSOLE: 'maybe' })).toThrow(/RAGLINE_CONSOLE/);
    expect(() => loadConfig({ RAGLINE_CONSOLE_MAX_REQUESTS_PAGE: '0' })).toThrow(/RAGLINE_CONSOLE_MAX_REQUESTS_PAGE/);
  });

  it('an empty console folder serves nothing', async () => {
    const app = consoleRoutes(new Map());
    expect((await app.request('/')).status).toBe(404);
  });
});
