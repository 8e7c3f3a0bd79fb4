import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { Hono } from 'hono';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { condenseByRule } from '../answer/condense.ts';
import { ExtractiveGenerator } from '../answer/generators/extractive.ts';
import { AnswerService, costUsd } from '../answer/service.ts';
import { createApi } from '../api/app.ts';
import { RequestLimits } from '../api/limits/request-limits.ts';
import { openApiPath } from '../api/openapi/spec.ts';
import { configSchema, loadConfig } from '../core/config.ts';
import { CollectionConfigs } from '../facade/configs.ts';
import { type Operations, openOperations } from '../facade/operations.ts';
import { Ragline } from '../facade/ragline.ts';
import { Tenancy } from '../facade/tenancy.ts';
import type { Trace } from '../store/ledger.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { FakeOpenAI, respond } from './contract/fake-openai.ts';
import { fakeChatGenerator } from './helpers/fake-llm.ts';
import { describeShared } from './helpers/shared.ts';
import { OPERATOR } from './helpers/tenants.ts';

/**
 * The OpenAI-compatible facade, with the real `openai` npm SDK as the client (its fetch calls
 * app.request, no socket): the extractive server for most cases, the real chat generator against a
 * local fake LLM where a model has to write (question rewrite, structured output).
 */

// biome-ignore lint/suspicious/noExplicitAny: response bodies and SDK extras are read loosely in assertions
type Json = Record<string, any>;

const BACKUP_Q = 'How do I back up the embedded database?';
const CHAT = '/v1/chat/completions';

describe('compat settings', () => {
  it('reads every structured-answer and facade setting from its variable, with the documented defaults', () => {
    expect(loadConfig({}).compat).toEqual({
      maxSchemaBytes: 16_384,
      maxSchemaDepth: 10,
      condense: 'auto',
      condenseMaxTokens: 96,
      maxMessages: 64,
      maxConversationChars: 64_000,
    });
    const set = loadConfig({
      RAGLINE_STRUCTURED_MAX_SCHEMA_BYTES: '2048',
      RAGLINE_STRUCTURED_MAX_SCHEMA_DEPTH: '4',
      RAGLINE_CHAT_CONDENSE: 'rule',
      RAGLINE_CHAT_CONDENSE_MAX_TOKENS: '32',
      RAGLINE_CHAT_MAX_MESSAGES: '8',
      RAGLINE_CHAT_MAX_CONVERSATION_CHARS: '1000',
    });
    expect(set.compat).toEqual({
      maxSchemaBytes: 2048,
      maxSchemaDepth: 4,
      condense: 'rule',
      condenseMaxTokens: 32,
      maxMessages: 8,
      maxConversationChars: 1000,
    });
    expect(() => loadConfig({ RAGLINE_CHAT_CONDENSE: 'always' })).toThrow(/Invalid configuration: RAGLINE_CHAT_CONDENSE/);
    expect(() => loadConfig({ RAGLINE_STRUCTURED_MAX_SCHEMA_DEPTH: '0' })).toThrow(/RAGLINE_STRUCTURED_MAX_SCHEMA_DEPTH/);
  });

  it('condenses by rule only when the last question leans on the previous one', () => {
    const turns = (...questions: string[]) => questions.map((content) => ({ role: 'user' as const, content }));
    const previous = 'How do I back up the embedded database?';
    expect(condenseByRule(turns('What about Postgres?'))).toBe('What about Postgres?'); // nothing earlier
    expect(condenseByRule(turns(previous, 'Why?'))).toBe(`${previous} Why?`); // short
    expect(condenseByRule(turns(previous, 'Also, which directory holds the embedded database files?'))).toBe(
      `${previous} Also, which directory holds the embedded database files?`,
    ); // a follow-up opening
    expect(condenseByRule(turns(previous, 'Does that work while the server keeps running?'))).toBe(
      `${previous} Does that work while the server keeps running?`,
    ); // points back
    expect(condenseByRule(turns(previous, 'Which port does the HTTP API listen on by default?'))).toBe(
      'Which port does the HTTP API listen on by default?',
    );
  });
});

describeShared('OpenAI-compatible facade (real openai SDK as the client)', () => {
  const fake = new FakeOpenAI();
  let store: SqlStore;
  let ragline: Ragline;
  let extractiveOps: Operations;
  let llmOps: Operations;
  let extractiveApp: Hono;
  let llmApp: Hono;
  const keys: Record<string, string> = {};
  const traces: Trace[] = [];

  const client = (app: Hono, key: string) =>
    new OpenAI({
      apiKey: key,
      baseURL: 'http://ragline.test/v1',
      maxRetries: 0,
      fetch: (url, init) => Promise.resolve(app.request(String(url), init)),
    });
  const ask = (question: string) => [{ role: 'user' as const, content: question }];

  beforeAll(async () => {
    await fake.start();
    store = await openPgliteStore();
    const config = configSchema.parse({ server: { rateLimitPerMinute: 100_000 }, operations: { answerCacheSize: 0 } });
    ragline = await Ragline.open(config, { store, embedder: await testEmbedder() });
    const tenancy = Tenancy.for(ragline);
    const seed = async (tenant: string, name: string, source: string, text: string) => {
      const collection = await ragline.createCollection(name, {}, tenant);
      await ragline.ingest(collection, [{ source, bytes: Buffer.from(text), mime: 'text/plain' }]);
    };
    for (const id of ['team-a', 'team-b']) await tenancy.createTenant(OPERATOR, id);
    await seed(
      'team-a',
      'handbook',
      'backups.txt',
      'Backups\n\nTo back up the embedded database, stop Ragline and copy the whole data directory to the backup server. Backups should run every night.',
    );
    // A named config that is not active: `handbook:cheap` picks it per request.
    const handbook = await ragline.collection('handbook', 'team-a');
    await CollectionConfigs.for(store)!.set(OPERATOR, handbook, 'cheap', { retrieval: { topK: 5 } }, { activate: false });
    await seed('team-a', 'alpha-only', 'alpha.txt', 'Alpha notes: the vault code is kept offline.');
    await seed('team-b', 'handbook', 'bikes.txt', 'Team B keeps its bicycles in the basement.');
    keys.a = (await tenancy.createKey(OPERATOR, { tenantId: 'team-a', role: 'reader' })).key;
    keys.aHandbookOnly = (await tenancy.createKey(OPERATOR, { tenantId: 'team-a', role: 'reader', collections: ['handbook'] })).key;
    keys.b = (await tenancy.createKey(OPERATOR, { tenantId: 'team-b', role: 'reader' })).key;

    const extractive = new AnswerService(ragline, { fallback: new ExtractiveGenerator(() => ragline.embedder()) });
    extractiveOps = openOperations(ragline, extractive);
    extractiveOps.queries.onTrace((t) => traces.push(t));
    extractiveApp = createApi(ragline, { operations: extractiveOps });
    const llm = new AnswerService(ragline, {
      generator: fakeChatGenerator(fake.baseURL),
      fallback: new ExtractiveGenerator(() => ragline.embedder()),
    });
    llmOps = openOperations(ragline, llm);
    llmApp = createApi(ragline, { operations: llmOps });
  });

  afterAll(async () => {
    await fake.stop();
    await extractiveOps?.close();
    await llmOps?.close();
    await store?.close();
  });

  beforeEach(() => {
    fake.reset();
    traces.length = 0;
  });

  it("lists the caller's collections, and each one's named configs as collection:config, as models, narrowed by the key's collections", async () => {
    const ids = async (key: string) => (await client(extractiveApp, key).models.list()).data.map((m) => m.id).sort();
    expect(await ids(keys.a!)).toEqual(['alpha-only', 'handbook', 'handbook:cheap']);
    expect(await ids(keys.aHandbookOnly!)).toEqual(['handbook', 'handbook:cheap']);
    // Team B's collection is also called handbook, but the config belongs to team A's.
    expect(await ids(keys.b!)).toEqual(['handbook']);
    const model = await client(extractiveApp, keys.a!).models.retrieve('handbook');
    expect(model).toMatchObject({ id: 'handbook', object: 'model', owned_by: 'team-a' });
    const configModel = await client(extractiveApp, keys.aHandbookOnly!).models.retrieve('handbook:cheap');
    expect(configModel).toMatchObject({ id: 'handbook:cheap', object: 'model', owned_by: 'team-a', created: expect.any(Number) });
    for (const [key, id] of [
      [keys.aHandbookOnly!, 'alpha-only'],
      [keys.a!, 'handbook:ghost'],
      [keys.b!, 'handbook:cheap'],
    ] as const) {
      await expect(client(extractiveApp, key).models.retrieve(id), id).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
    }
  });

  it('answers a chat completion with the citations appended as Sources and in `citations`', async () => {
    const completion = await client(extractiveApp, keys.a!).chat.completions.create({
      model: 'handbook',
      messages: [{ role: 'system', content: 'You are helpful.' }, ...ask(BACKUP_Q)],
    });
    expect(completion).toMatchObject({ object: 'chat.completion', model: 'handbook', id: expect.stringMatching(/^chatcmpl-/) });
    const [choice] = completion.choices;
    expect(choice!.finish_reason).toBe('stop');
    expect(choice!.message.role).toBe('assistant');
    expect(choice!.message.content).toContain('copy the whole data directory');
    expect(choice!.message.content).toMatch(/\n\nSources:\n\[1\] .*backups\.txt/);
    const citations = (completion as Json).citations;
    expect(citations).toHaveLength(1);
    expect(citations[0]).toMatchObject({ marker: 1, source: 'backups.txt' });
    expect((choice!.message as Json).citations).toEqual(citations);
    expect(completion.usage).toEqual({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }); // extractive: no LLM tokens
    expect((completion as Json).ragline).toMatchObject({ kind: 'extractive', grounded: true, condensedBy: 'none' });
  });

  it('streams chat.completion.chunk events ending in [DONE], with usage when stream_options.include_usage is set', async () => {
    const stream = await client(extractiveApp, keys.a!).chat.completions.create({
      model: 'handbook',
      messages: ask(BACKUP_Q),
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: Json[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0]!.id)).toBe(true);
    expect(chunks[0]!.choices[0].delta.role).toBe('assistant');
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    expect(text).toContain('copy the whole data directory');
    expect(text).toContain('Sources:\n[1]');
    const finished = chunks.filter((c) => c.choices[0]?.finish_reason);
    expect(finished).toHaveLength(1);
    expect(finished[0]!.citations[0]).toMatchObject({ source: 'backups.txt' });
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { total_tokens: 0 } });

    const raw = await extractiveApp.request('/v1/chat/completions', {
      method: 'POST',
      headers: { authorization: `Bearer ${keys.a}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'handbook', messages: ask(BACKUP_Q), stream: true }),
    });
    const body = await raw.text();
    expect(body.trim().endsWith('data: [DONE]')).toBe(true);
    expect(body).not.toContain('"usage"'); // not asked for
  });

  it('passes collection:config and user into the answer request (seen in the trace)', async () => {
    await client(extractiveApp, keys.a!).chat.completions.create({ model: 'handbook:cheap', messages: ask(BACKUP_Q), user: 'end-user-42' });
    expect(traces).toHaveLength(1);
    expect(traces[0]!.settings).toMatchObject({ config: 'cheap', user: 'end-user-42' });
    expect(traces[0]!.collectionName).toBe('handbook');
  });

  it("answers 404 model_not_found in OpenAI's shape for an unknown model and for another tenant's collection", async () => {
    for (const model of ['nope', 'alpha-only', 'alpha-only:cheap']) {
      const error = await client(extractiveApp, keys.b!)
        .chat.completions.create({ model, messages: ask(BACKUP_Q) })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
      expect(error).toMatchObject({ status: 404, code: 'model_not_found', param: 'model', type: 'invalid_request_error' });
      expect((error as Error).message).not.toContain('vault');
    }
  });

  it('refuses bad requests with OpenAI-shaped 4xx errors (auth included) before any retrieval', async () => {
    const c = client(extractiveApp, keys.a!);
    const failures: [Record<string, unknown>, number, RegExp][] = [
      [{ model: 'handbook', messages: [] }, 400, /messages must not be empty/],
      [
        { model: 'handbook', messages: [...ask(BACKUP_Q), { role: 'assistant', content: 'hi' }] },
        400,
        /last message must be a non-empty user message/,
      ],
      [{ model: 'handbook', messages: ask(BACKUP_Q), n: 2 }, 400, /n must be 1/],
      [
        { model: 'handbook', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x.test/a.png' } }] }] },
        400,
        /images, audio and files are not supported/,
      ],
      [{ model: 'handbook', messages: Array.from({ length: 65 }, () => ask('hello')[0]) }, 400, /too many messages: at most 64/],
      [{ model: 'handbook', messages: ask('x'.repeat(70_000)) }, 400, /more than 64000 characters/],
      [{ model: 'handbook', messages: ask(BACKUP_Q), tools: [{ type: 'function' }] }, 400, /tools are not supported/],
      [{ model: 'handbook', messages: ask(BACKUP_Q), response_format: { type: 'json_object' } }, 400, /response_format needs an LLM/],
    ];
    for (const [params, status, message] of failures) {
      const error = (await c.chat.completions.create(params as never).catch((e: unknown) => e)) as Json;
      expect({ status: error.status, type: error.type, message: error.message }).toEqual({
        status,
        type: 'invalid_request_error',
        message: expect.stringMatching(message),
      });
    }
    const unauthorized = await client(extractiveApp, 'rk_wrong_key')
      .models.list()
      .catch((e: unknown) => e);
    expect(unauthorized).toBeInstanceOf(OpenAI.AuthenticationError);
    const raw = await extractiveApp.request('/v1/models');
    expect(raw.status).toBe(401);
    expect(await raw.json()).toEqual({
      error: { message: expect.any(String), type: 'authentication_error', param: null, code: 'unauthorized', details: expect.any(Object) },
    });
    // Only the response_format case reaches the answer service, which refuses it before retrieving anything.
    expect(traces.map((t) => [t.outcome, t.retrieved.length])).toEqual([['error:bad_request', 0]]);
  });

  it('condenses a follow-up by rule without an LLM: the previous question is put in front of a leaning one', async () => {
    const completion = (await client(extractiveApp, keys.a!).chat.completions.create({
      model: 'handbook',
      messages: [
        { role: 'user', content: BACKUP_Q },
        { role: 'assistant', content: 'Stop Ragline and copy the data directory [1].' },
        { role: 'user', content: 'How often should it run?' },
      ],
    })) as Json;
    expect(completion.ragline).toMatchObject({ standaloneQuestion: `${BACKUP_Q} How often should it run?`, condensedBy: 'rule' });
    expect(traces[0]!.question).toBe(`${BACKUP_Q} How often should it run?`);

    expect(
      condenseByRule([
        { role: 'user', content: 'Where do bikes go?' },
        { role: 'user', content: 'What is the default HTTP port of the API server?' },
      ]),
    ).toBe('What is the default HTTP port of the API server?');
    expect(
      condenseByRule([
        { role: 'user', content: 'Where do bikes go?' },
        { role: 'user', content: 'And cars?' },
      ]),
    ).toBe('Where do bikes go? And cars?');
  });

  it('condenses with one short LLM rewrite call when an LLM is configured, and counts its tokens', async () => {
    const standalone = 'How often should backups of the embedded database run?';
    fake.enqueue(CHAT, respond.chat({ content: `"${standalone}"` }), respond.chat({ content: 'Backups should run every night [1].' }));
    const completion = (await client(llmApp, keys.a!).chat.completions.create({
      model: 'handbook',
      messages: [
        { role: 'user', content: BACKUP_Q },
        { role: 'assistant', content: 'Stop Ragline and copy the data directory [1].' },
        { role: 'user', content: 'How often?' },
      ],
    })) as Json;
    expect(completion.ragline).toMatchObject({ standaloneQuestion: standalone, condensedBy: 'llm', kind: 'generated' });
    const [rewrite, answer] = fake.to(CHAT);
    expect(rewrite!.body).toMatchObject({ max_tokens: 96, temperature: 0 });
    const rewriteMessages = rewrite!.body.messages as { content: string }[];
    expect(rewriteMessages[0]!.content).toMatch(/standalone question/);
    expect(rewriteMessages[1]!.content).toContain('Final user question: How often?');
    expect(JSON.stringify(answer!.body.messages)).toContain(standalone);
    expect(completion.usage).toEqual({ prompt_tokens: 642, completion_tokens: 24, total_tokens: 666 });
    expect(completion.choices[0].message.content).toMatch(/every night \[1\]\.\n\nSources:\n\[1\]/);
  });

  it("records the rewrite call's tokens and cost in the chat completion's trace, streamed or not", async () => {
    const prices = ragline.config.answer.prices;
    const conversation = [
      { role: 'user' as const, content: BACKUP_Q },
      { role: 'assistant' as const, content: 'Stop Ragline and copy the data directory [1].' },
      { role: 'user' as const, content: 'How often?' },
    ];
    const standalone = 'How often should backups of the embedded database run?';
    const traceOf = async (requestId: string) => {
      await llmOps.ledger.flush();
      const res = await llmApp.request(`/v1/requests/${requestId}`, { headers: { authorization: `Bearer ${keys.a}` } });
      expect(res.status).toBe(200);
      return (await res.json()) as Json;
    };

    fake.enqueue(CHAT, respond.chat({ content: standalone }), respond.chat({ content: 'Backups should run every night [1].' }));
    const completion = (await client(llmApp, keys.a!).chat.completions.create({ model: 'handbook', messages: conversation })) as Json;
    const trace = await traceOf(completion.ragline.requestId);
    // The fake reports 321 prompt and 12 completion tokens per call: one rewrite, one answer.
    expect(trace.settings.condense).toEqual({
      method: 'llm',
      model: 'gpt-4o-mini',
      promptTokens: 321,
      completionTokens: 12,
      costUsd: costUsd('gpt-4o-mini', { promptTokens: 321, completionTokens: 12 }, prices),
    });
    expect([trace.tokensIn, trace.tokensOut]).toEqual([completion.usage.prompt_tokens, completion.usage.completion_tokens]);
    expect(trace.costUsd).toBeCloseTo(costUsd('gpt-4o-mini', { promptTokens: 642, completionTokens: 24 }, prices)!, 7);
    expect(trace.costUsd).toBeGreaterThan(0);

    fake.enqueue(CHAT, respond.chat({ content: standalone }), respond.chatStream(['Backups run ', 'every night [1].']));
    const stream = await client(llmApp, keys.a!).chat.completions.create({ model: 'handbook', messages: conversation, stream: true });
    let requestId = '';
    for await (const chunk of stream) requestId ||= (chunk as Json).ragline?.requestId ?? '';
    const streamed = await traceOf(requestId);
    expect(streamed.settings.condense).toMatchObject({ method: 'llm', promptTokens: 321, completionTokens: 12 });
    expect(streamed.tokensIn).toBeGreaterThan(321); // the rewrite's and the answer's own
    expect(fake.to(CHAT)).toHaveLength(4);
  });

  it('records how a question was condensed when no rewrite call was made, with no tokens added', async () => {
    const completion = (await client(extractiveApp, keys.a!).chat.completions.create({
      model: 'handbook',
      messages: [
        { role: 'user', content: BACKUP_Q },
        { role: 'user', content: 'How often should it run?' },
      ],
    })) as Json;
    const trace = traces.find((t) => t.id === completion.ragline.requestId)!;
    expect(trace.settings.condense).toEqual({ method: 'rule', model: null, promptTokens: 0, completionTokens: 0, costUsd: 0 });
    expect([trace.tokensIn, trace.tokensOut]).toEqual([0, 0]);
  });

  it('passes response_format through: the content is the validated JSON object', async () => {
    fake.enqueue(CHAT, respond.chat({ content: '{"frequency": "every night [1]"}' }));
    const completion = (await client(llmApp, keys.a!).chat.completions.create({
      model: 'handbook',
      messages: ask('How often should backups run?'),
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'freq', schema: { type: 'object', properties: { frequency: { type: 'string' } }, required: ['frequency'] } },
      },
    })) as Json;
    expect(JSON.parse(completion.choices[0].message.content)).toEqual({ frequency: 'every night [1]' });
    expect(completion.ragline.structured).toEqual({ frequency: 'every night [1]' });
    expect(completion.citations).toHaveLength(1);
  });

  it('answers as /openapi.json describes (real responses validate against the registry)', async () => {
    const spec = (await (await extractiveApp.request('/openapi.json')).json()) as Json;
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const request = (path: string, body?: unknown) =>
      extractiveApp.request(path, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${keys.a}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const checks: [Response, string, string, number][] = [
      [await request('/v1/models'), 'get', '/v1/models', 200],
      [await request('/v1/models/handbook'), 'get', '/v1/models/:model', 200],
      [await request('/v1/models/handbook:cheap'), 'get', '/v1/models/:model', 200],
      [await request('/v1/models/handbook:ghost'), 'get', '/v1/models/:model', 404],
      [await request('/v1/models/nope'), 'get', '/v1/models/:model', 404],
      [await request('/v1/chat/completions', { model: 'handbook', messages: ask(BACKUP_Q) }), 'post', '/v1/chat/completions', 200],
      [await request('/v1/chat/completions', { model: 'nope', messages: ask(BACKUP_Q) }), 'post', '/v1/chat/completions', 404],
      [await request('/v1/chat/completions', { model: 'handbook', messages: 'hi' }), 'post', '/v1/chat/completions', 400],
    ];
    for (const [res, method, route, status] of checks) {
      expect(res.status).toBe(status);
      const schema = spec.paths[openApiPath(route)]?.[method]?.responses?.[String(status)]?.content?.['application/json']?.schema;
      expect(schema, `${method} ${route} ${status}`).toBeDefined();
      const validate = ajv.compile(schema);
      const body = await res.json();
      expect(validate(body) ? [] : validate.errors, `${method} ${route} ${status}`).toEqual([]);
    }
    expect(spec.paths['/v1/chat/completions'].post.requestBody.content['application/json'].schema.required).toEqual(['model', 'messages']);
  });

  it('streams an LLM answer as chunks with the model-reported usage; a failure mid-stream arrives as an OpenAI error event', async () => {
    fake.enqueue(CHAT, respond.chatStream(['Backups run ', 'every night [1].']));
    const stream = await client(llmApp, keys.a!).chat.completions.create({
      model: 'handbook',
      messages: ask('How often should backups run?'),
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: Json[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    expect(text).toMatch(/^Backups run every night \[1\]\.\n\nSources:\n\[1\] .*backups\.txt/);
    expect(chunks.at(-1)!.usage).toEqual({ prompt_tokens: 222, completion_tokens: 2, total_tokens: 224 });

    fake.enqueue(CHAT, respond.chatStream(['Backups run ', 'every ', 'night [1].'], { stopAfter: 2 }));
    const broken = await client(llmApp, keys.a!).chat.completions.create({
      model: 'handbook',
      messages: ask('How often should backups run?'),
      stream: true,
    });
    const received: string[] = [];
    const failure = await (async () => {
      for await (const chunk of broken) received.push(chunk.choices[0]?.delta?.content ?? '');
    })().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(OpenAI.APIError);
    expect((failure as Error).message).toMatch(/the answer stream failed/);
    expect(received.join('')).toBe('Backups run every'); // trailing whitespace is held back until the next delta
  });

  it("spends the same LLM-token budget as /answer: a key over it gets OpenAI's 429 rate_limit_error", async () => {
    const limits = RequestLimits.fromConfig(configSchema.parse({ rateLimits: { keyTokensPerMinute: 500 } }));
    const app = createApi(ragline, { operations: llmOps, limits });
    const c = client(app, keys.a!);
    const complete = () => c.chat.completions.create({ model: 'handbook', messages: ask('How often should backups run?') });
    fake.enqueue(CHAT, respond.chat({ content: 'Every night [1].' }), respond.chat({ content: 'Every night [1].' }));
    await complete(); // 333 tokens
    await complete(); // 666: over the budget from now on
    const refused = await complete().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    expect(refused).toMatchObject({ status: 429, type: 'rate_limit_error', code: 'rate_limit_exceeded' });
    expect(fake.to(CHAT)).toHaveLength(2);
    await limits.close();
  });

  it('works over a real socket too: the SDK streams from and gets errors from a server on 127.0.0.1', async () => {
    const server = serve({ fetch: extractiveApp.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const sdk = new OpenAI({ apiKey: keys.a!, baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });
      const stream = await sdk.chat.completions.create({ model: 'handbook', messages: ask(BACKUP_Q), stream: true });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      expect(text).toContain('copy the whole data directory');
      expect(text).toContain('Sources:');
      const missing = await sdk.chat.completions.create({ model: 'nope', messages: ask(BACKUP_Q) }).catch((e: unknown) => e);
      expect(missing).toMatchObject({ status: 404, code: 'model_not_found' });
      const limited = await new OpenAI({ apiKey: 'rk_not_a_key', baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 }).models
        .list()
        .catch((e: unknown) => e);
      expect(limited).toMatchObject({ status: 401, type: 'authentication_error' });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
