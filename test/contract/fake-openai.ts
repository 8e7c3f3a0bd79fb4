import { createHash } from 'node:crypto';
import type http from 'node:http';
import { Tiktoken } from 'js-tiktoken/lite';
import cl100k from 'js-tiktoken/ranks/cl100k_base';
import { LocalServer } from './local-server.ts';

/**
 * A small OpenAI-compatible HTTP server for contract tests: it speaks the wire format the real SDK
 * expects (chat completions as JSON or SSE chunks, embeddings as floats or base64) and can be told,
 * request by request, to fail: an HTTP status with headers, a body that is not JSON, a delay before
 * answering, a stream that stops. It records what it received and when, and whether the client
 * closed the connection before the response was complete.
 */

export interface RecordedRequest {
  path: string;
  body: Record<string, unknown>;
  headers: http.IncomingHttpHeaders;
  /** performance.now() when the request body had arrived. */
  receivedAt: number;
  /** performance.now() when the response was complete (undefined if it never was). */
  respondedAt?: number;
  /** True when the client closed the connection before the response was complete. */
  clientClosed: boolean;
  closed: Promise<void>;
}

type Send = (req: RecordedRequest, res: http.ServerResponse, signal: AbortSignal) => Promise<void>;

export interface StreamOptions {
  gapMs?: number;
  omitUsage?: boolean;
  /** Drop the connection after this many content chunks. */
  stopAfter?: number;
  /** End the response cleanly after this many content chunks, without a finish_reason or [DONE]. */
  endAfter?: number;
  hangAfter?: number;
  malformedAt?: number;
}

export interface ChatScript {
  content?: string;
  /** Omit `usage` from the response (the client must count tokens itself). */
  omitUsage?: boolean;
  model?: string;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

const cl100kEncoder = new Tiktoken(cl100k);
export const countTokensCl100k = (text: string) => cl100kEncoder.encode(text, [], []).length;

/** A deterministic unit vector for a text, so tests can check that vectors come back in input order. */
export function fakeVector(text: string, dimensions: number): Float32Array {
  const v = new Float32Array(dimensions);
  let seed = createHash('sha256').update(text).digest();
  for (let i = 0; i < dimensions; i++) {
    if (i % 32 === 0 && i) seed = createHash('sha256').update(seed).digest();
    v[i] = seed[i % 32]! / 255 - 0.5;
  }
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

/** The id of the <document> in the prompt whose text contains `phrase` (what a faithful model would cite). */
export function documentIdContaining(body: Record<string, unknown>, phrase: string): number {
  const user = (body.messages as Array<{ role: string; content: string }>).find((m) => m.role === 'user')!.content;
  for (const m of user.matchAll(/<document id="(\d+)"[^>]*>([\s\S]*?)<\/document>/g)) {
    if (m[2]!.replace(/\s+/g, ' ').includes(phrase)) return Number(m[1]);
  }
  throw new Error(`no document in the prompt contains "${phrase}"`);
}

export const respond = {
  json(body: unknown, status = 200, headers: Record<string, string> = {}): Send {
    return async (_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
  },

  error(status: number, headers: Record<string, string> = {}, message = `fake error ${status}`): Send {
    return respond.json({ error: { message, type: 'server_error', code: null } }, status, headers);
  },

  /** A 200 whose body claims to be JSON and is not. */
  malformed(): Send {
    return async (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"id": "chatcmpl-broken", "choices": [ {"message": ');
    };
  },

  /** Waits before answering (gives up quietly when the client goes away). */
  delayed(ms: number, then: Send): Send {
    return async (req, res, signal) => {
      await sleep(ms, signal);
      if (!signal.aborted) await then(req, res, signal);
    };
  },

  /** A chat answer computed from the request (e.g. citing whichever document holds a phrase). */
  chatWith(answer: (body: Record<string, unknown>) => string, script: Omit<ChatScript, 'content'> = {}): Send {
    return async (req, res, signal) => respond.chat({ ...script, content: answer(req.body) })(req, res, signal);
  },

  /** Like chatWith, streamed in pieces. */
  chatStreamWith(answer: (body: Record<string, unknown>) => string[], options: StreamOptions = {}): Send {
    return async (req, res, signal) => respond.chatStream(answer(req.body), options)(req, res, signal);
  },

  chat(script: ChatScript = {}): Send {
    return async (req, res) => {
      const content = script.content ?? 'The answer is in the documents [1].';
      const model = script.model ?? String(req.body.model);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'chatcmpl-fake',
          object: 'chat.completion',
          created: 1_700_000_000,
          model,
          choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, finish_reason: 'stop', logprobs: null }],
          ...(script.omitUsage ? {} : { usage: { prompt_tokens: 321, completion_tokens: 12, total_tokens: 333 } }),
        }),
      );
    };
  },

  /**
   * SSE chunks as the chat completions endpoint sends them. `gapMs` between chunks; `stopAfter`
   * ends the connection abruptly after that many content chunks; `hangAfter` stops sending (and
   * keeps the connection open) after that many; `malformedAt` sends a chunk that is not JSON.
   */
  chatStream(deltas: string[], options: StreamOptions = {}): Send {
    return async (req, res, signal) => {
      const model = String(req.body.model);
      const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
        `data: ${JSON.stringify({
          id: 'chatcmpl-fake',
          object: 'chat.completion.chunk',
          created: 1_700_000_000,
          model,
          choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
        })}\n\n`;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(chunk({ role: 'assistant', content: '' }));
      for (const [i, delta] of deltas.entries()) {
        if (signal.aborted) return;
        if (options.stopAfter === i) {
          // Let what was written reach the client first: the connection drops mid-answer, not before it.
          await new Promise((resolve) => setTimeout(resolve, 50));
          return void res.destroy();
        }
        if (options.endAfter === i) return void res.end();
        if (options.hangAfter === i)
          return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        if (options.malformedAt === i) res.write('data: {"choices": [ {"delta": \n\n');
        else res.write(chunk({ content: delta }));
        if (options.gapMs) await sleep(options.gapMs, signal);
      }
      res.write(chunk({}, 'stop'));
      const wantsUsage = (req.body.stream_options as { include_usage?: boolean } | undefined)?.include_usage;
      if (wantsUsage && !options.omitUsage) {
        res.write(
          `data: ${JSON.stringify({
            id: 'chatcmpl-fake',
            object: 'chat.completion.chunk',
            created: 1_700_000_000,
            model,
            choices: [],
            usage: { prompt_tokens: 222, completion_tokens: deltas.length, total_tokens: 222 + deltas.length },
          })}\n\n`,
        );
      }
      res.end('data: [DONE]\n\n');
    };
  },

  /** Embeddings for every input, as floats or base64 (what the SDK asks for by default). */
  embeddings(): Send {
    return async (req, res) => {
      const input = req.body.input as string[] | string;
      const inputs = Array.isArray(input) ? input : [input];
      const dimensions = typeof req.body.dimensions === 'number' ? req.body.dimensions : 1536;
      const base64 = req.body.encoding_format === 'base64';
      const data = inputs.map((text, index) => {
        const v = fakeVector(text, dimensions);
        return { object: 'embedding', index, embedding: base64 ? Buffer.from(v.buffer).toString('base64') : Array.from(v) };
      });
      const tokens = inputs.reduce((s, t) => s + countTokensCl100k(t), 0);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', data, model: req.body.model, usage: { prompt_tokens: tokens, total_tokens: tokens } }));
    };
  },
};

export class FakeOpenAI {
  readonly requests: RecordedRequest[] = [];
  private readonly queues = new Map<string, Send[]>();
  private readonly defaults = new Map<string, Send>([
    [
      '/v1/chat/completions',
      async (req, res, signal) => (req.body.stream ? respond.chatStream(['Fake ', 'answer ', '[1].']) : respond.chat())(req, res, signal),
    ],
    ['/v1/embeddings', respond.embeddings()],
  ]);
  private inFlight = 0;
  /** The most requests the server was handling at the same time. */
  maxInFlight = 0;
  private readonly server = new LocalServer((req, res) => void this.handle(req, res));

  get baseURL(): string {
    return `${this.server.origin}/v1`;
  }

  async start(): Promise<this> {
    await this.server.start();
    return this;
  }

  stop(): Promise<void> {
    return this.server.stop();
  }

  /** The next requests to `path` get these responses, in order; then the defaults again. */
  enqueue(path: '/v1/chat/completions' | '/v1/embeddings', ...responses: Send[]): void {
    this.queues.set(path, [...(this.queues.get(path) ?? []), ...responses]);
  }

  /** Every request to `path` from now on gets this response (after any queued ones). */
  setDefault(path: '/v1/chat/completions' | '/v1/embeddings', send: Send): void {
    this.defaults.set(path, send);
  }

  reset(): void {
    this.requests.length = 0;
    this.queues.clear();
    this.maxInFlight = 0;
  }

  to(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const path = (req.url ?? '').split('?')[0]!;
    const controller = new AbortController();
    let markClosed!: () => void;
    const record: RecordedRequest = {
      path,
      body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>,
      headers: req.headers,
      receivedAt: performance.now(),
      clientClosed: false,
      closed: new Promise<void>((resolve) => (markClosed = resolve)),
    };
    this.requests.push(record);
    res.on('close', () => {
      if (!res.writableFinished) {
        record.clientClosed = true;
        controller.abort();
      }
      markClosed();
    });
    res.on('finish', () => (record.respondedAt = performance.now()));

    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      const send = this.queues.get(path)?.shift() ?? this.defaults.get(path);
      if (!send) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `no route ${path}` } }));
        return;
      }
      await send(record, res, controller.signal);
    } finally {
      this.inFlight--;
    }
  }
}
