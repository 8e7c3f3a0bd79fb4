import { Hono } from 'hono';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { ExtractiveGenerator } from '../../answer/generators/extractive.ts';
import { AnswerService, type AnswerResponse } from '../../answer/service.ts';
import { onError } from '../../api/http-errors.ts';
import { answerRoutes } from '../../api/routes/answer.ts';
import { configSchema } from '../../core/config.ts';
import { Ragline } from '../../facade/ragline.ts';
import { TracedQueries } from '../../facade/traced-queries.ts';
import type { Trace } from '../../store/ledger.ts';
import { openPgliteStore } from '../../store/pglite.ts';
import { testEmbedder } from '../../testkit/embedder.ts';
import { fakeChatGenerator } from '../helpers/fake-llm.ts';
import { describeShared } from '../helpers/shared.ts';
import { FakeOpenAI, documentIdContaining, respond } from './fake-openai.ts';

/**
 * Structured answers (response_format) end to end: real store and model, the real openai SDK inside
 * the chat generator, a local fake of the chat API that answers with JSON, bad JSON, or a 400.
 */

const CHAT = '/v1/chat/completions';
const QUESTION = 'How do I back up the embedded database?';
const PHRASE = 'copy the whole data directory';
const SCHEMA = {
  type: 'object',
  properties: {
    summary: { type: 'string' },
    steps: { type: 'array', items: { type: 'string' }, minItems: 1 },
  },
  required: ['summary', 'steps'],
  additionalProperties: false,
};
const FORMAT = { type: 'json_schema', json_schema: { name: 'backup_steps', schema: SCHEMA, strict: true } };

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in assertions
type Json = Record<string, any>;
type Message = { role: string; content: string };

describeShared('structured answers (real SDK generator against a fake LLM)', () => {
  const fake = new FakeOpenAI();
  let ragline: Ragline;
  const traces: Trace[] = [];

  const appWith = (generator?: ReturnType<typeof fakeChatGenerator>) => {
    const service = new AnswerService(ragline, { generator, fallback: new ExtractiveGenerator(() => ragline.embedder()) });
    const queries = new TracedQueries(ragline, service, undefined, undefined);
    queries.onTrace((t) => traces.push(t));
    const app = new Hono();
    app.onError(onError);
    app.route('/v1/collections', answerRoutes(ragline, queries));
    return app;
  };
  const ask = async (body: Record<string, unknown>, app = appWith(fakeChatGenerator(fake.baseURL))) => {
    const res = await app.request('/v1/collections/ops/answer', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ question: QUESTION, ...body }),
    });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const messagesOf = (i: number) => fake.to(CHAT)[i]!.body.messages as Message[];

  beforeAll(async () => {
    await fake.start();
    ragline = await Ragline.open(configSchema.parse({ operations: { answerCacheSize: 0 } }), {
      store: await openPgliteStore(),
      embedder: await testEmbedder(),
    });
    await ragline.createCollection('ops');
    await ragline.ingest('ops', [
      {
        source: 'backups.txt',
        bytes: Buffer.from(`Backups\n\nTo back up the embedded database, stop Ragline and ${PHRASE} to the backup server.`),
      },
      { source: 'ports.txt', bytes: Buffer.from('Ports\n\nThe HTTP API listens on port 8787 unless PORT is set.') },
    ]);
  });
  afterAll(async () => {
    await fake.stop();
    await ragline?.close();
  });
  beforeEach(() => {
    fake.reset();
    traces.length = 0;
  });

  it('sends response_format, validates the JSON reply and verifies the [n] markers inside its strings', async () => {
    fake.enqueue(
      CHAT,
      respond.chatWith((body) => {
        const id = documentIdContaining(body, PHRASE);
        return JSON.stringify({
          summary: `Stop Ragline and ${PHRASE} [${id}].`,
          steps: ['Stop Ragline.', `Copy the data directory [${id}][42].`],
        });
      }),
    );
    const { status, body } = await ask({ response_format: FORMAT });
    expect(status).toBe(200);

    const [request] = fake.to(CHAT);
    expect(request!.body.response_format).toEqual(FORMAT);
    expect(messagesOf(0)[0]!.content).toContain('JSON Schema "backup_steps"');
    expect(body.kind).toBe('generated');
    expect(body.structured.summary).toContain(PHRASE);
    expect(body.structured.steps).toHaveLength(2);
    expect(body.structured.steps[1]).not.toContain('[42]');
    expect(body.strippedMarkers).toEqual([42]);
    expect(JSON.parse(body.answer)).toEqual(body.structured);
    expect(body.citations).toHaveLength(1);
    const cited = (body as AnswerResponse).chunks.find((c) => c.marker === body.citations[0].marker)!;
    expect(cited.source).toBe('backups.txt');
    expect(cited.text).toContain(body.citations[0].quote);
    expect(body.grounded).toBe(true);
  });

  it('repairs an invalid reply once, showing the model its reply and the validation errors', async () => {
    fake.enqueue(
      CHAT,
      respond.chat({ content: '{"summary": "Copy the data directory [1]."}' }),
      respond.chat({ content: '```json\n{"summary": "Copy the data directory [1].", "steps": ["Stop Ragline [1]."]}\n```' }),
    );
    const { status, body } = await ask({ response_format: FORMAT });
    expect(status).toBe(200);
    expect(body.structured).toEqual({ summary: 'Copy the data directory [1].', steps: ['Stop Ragline [1].'] });

    expect(fake.to(CHAT)).toHaveLength(2);
    const repair = messagesOf(1);
    expect(repair.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(repair[2]!.content).toBe('{"summary": "Copy the data directory [1]."}');
    expect(repair[3]!.content).toContain("must have required property 'steps'");
    // Both calls are counted (the fake reports 321 + 12 tokens per call).
    expect(body.usage).toMatchObject({ promptTokens: 642, completionTokens: 24 });
  });

  it('answers 422 with the validation errors when the repair fails too, traced as error:invalid_structured_output', async () => {
    fake.enqueue(
      CHAT,
      respond.chat({ content: 'Sure! Copy the data directory [1].' }),
      respond.chat({ content: '{"summary": 7, "steps": []}' }),
    );
    const { status, body } = await ask({ response_format: FORMAT });
    expect(status).toBe(422);
    expect(body.error.code).toBe('invalid_structured_output');
    expect(body.error.details.attempts).toBe(2);
    expect(body.error.details.errors).toEqual(
      expect.arrayContaining(['/summary must be string', '/steps must NOT have fewer than 1 items']),
    );
    expect(fake.to(CHAT)).toHaveLength(2);
    expect(messagesOf(1)[3]!.content).toContain('the reply is not JSON');
    expect(traces.map((t) => [t.outcome, t.tokensIn, t.tokensOut])).toEqual([['error:invalid_structured_output', 642, 24]]);
  });

  it('asks for JSON in the prompt alone when the server refuses response_format with a 400', async () => {
    fake.enqueue(
      CHAT,
      respond.error(400, {}, "Unknown parameter: 'response_format'"),
      respond.chatWith((body) =>
        body.response_format ? 'wrong' : '{"summary": "Copy the data directory [1].", "steps": ["Stop Ragline."]}',
      ),
    );
    const { status, body } = await ask({ response_format: FORMAT });
    expect(status).toBe(200);
    expect(body.structured.steps).toEqual(['Stop Ragline.']);
    const [first, second] = fake.to(CHAT);
    expect(first!.body.response_format).toBeDefined();
    expect(second!.body.response_format).toBeUndefined();
    expect(messagesOf(1)[0]!.content).toContain('reply with one JSON object');
  });

  it('accepts the short form {type, schema} and OpenAI json_object', async () => {
    fake.enqueue(CHAT, respond.chat({ content: '{"steps": ["Copy [1]."]}' }), respond.chat({ content: '{"anything": true}' }));
    const short = await ask({ response_format: { type: 'json_schema', schema: { type: 'object', required: ['steps'] } } });
    expect(short.status).toBe(200);
    expect(fake.to(CHAT)[0]!.body.response_format).toMatchObject({ json_schema: { name: 'answer' } });
    const object = await ask({ response_format: { type: 'json_object' } });
    expect(object.body.structured).toEqual({ anything: true });
  });

  it('refuses structured output without an LLM, with stream, and for schemas it will not run (400, nothing sent to the LLM)', async () => {
    const extractive = await ask({ response_format: FORMAT }, appWith(undefined));
    expect(extractive.status).toBe(400);
    expect(extractive.body.error.message).toMatch(/response_format needs an LLM/);

    const cases: [unknown, RegExp][] = [
      [
        {
          ...FORMAT,
          json_schema: { ...FORMAT.json_schema, schema: { type: 'object', properties: { a: { type: 'string', pattern: '^(a+)+$' } } } },
        },
        /"pattern" is not supported/,
      ],
      [{ ...FORMAT, json_schema: { ...FORMAT.json_schema, schema: { type: 'nonsense' } } }, /not a valid JSON Schema/],
      [{ type: 'json_schema', json_schema: { name: 'has spaces', schema: SCHEMA } }, /name must be/],
      [{ type: 'xml' }, /response_format/],
    ];
    let deep: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < 12; i++) deep = { type: 'object', properties: { next: deep } };
    cases.push([{ type: 'json_schema', schema: deep }, /nests deeper than 10 levels/]);
    const huge = {
      type: 'object',
      properties: Object.fromEntries(Array.from({ length: 800 }, (_, i) => [`field_${i}`, { type: 'string' }])),
    };
    cases.push([{ type: 'json_schema', schema: huge }, /larger than 16384 bytes/]);
    for (const [format, message] of cases) {
      const { status, body } = await ask({ response_format: format });
      expect({ status, message: body.error.message }).toEqual({ status: 400, message: expect.stringMatching(message) });
    }
    const streamed = await ask({ response_format: FORMAT, stream: true });
    expect(streamed.status).toBe(400);
    expect(streamed.body.error.message).toMatch(/cannot be combined with stream/);
    expect(fake.to(CHAT)).toHaveLength(0);
  });

  it('answers 503 rather than an extractive answer when the LLM fails', async () => {
    fake.enqueue(CHAT, respond.error(500));
    const { status, body } = await ask({ response_format: FORMAT });
    expect(status).toBe(503);
    expect(body.error).toMatchObject({ code: 'upstream_unavailable', details: { reason: expect.any(String) } });
  });

  it('applies the output blocklist and answer redaction to the object too', async () => {
    const guarded = (guardrails: Record<string, unknown>) => {
      const cfg = configSchema.parse({ operations: { answerCacheSize: 0 }, guardrails });
      const service = new AnswerService(Object.assign(Object.create(ragline), { config: cfg }) as Ragline, {
        generator: fakeChatGenerator(fake.baseURL),
        fallback: new ExtractiveGenerator(() => ragline.embedder()),
      });
      const app = new Hono();
      app.onError(onError);
      app.route('/v1/collections', answerRoutes(ragline, new TracedQueries(ragline, service, undefined, undefined)));
      return app;
    };
    const reply = '{"summary": "Mail ops@example.com, then copy the data directory [1].", "steps": ["Copy the Moonbase archive [1]."]}';
    fake.enqueue(CHAT, respond.chat({ content: reply }), respond.chat({ content: reply }));
    const blocked = await ask({ response_format: FORMAT }, guarded({ outputBlocklist: ['moonbase'] }));
    expect(blocked.body).toMatchObject({ kind: 'refused', structured: null, citations: [] });
    const redacted = await ask({ response_format: FORMAT }, guarded({ redactAnswers: true }));
    expect(redacted.body.structured.summary).not.toContain('ops@example.com');
    expect(redacted.body.structured.steps).toEqual(['Copy the Moonbase archive [1].']);
  });
});
