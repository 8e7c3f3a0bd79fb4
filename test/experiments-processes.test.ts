import { afterAll, beforeAll, expect, it } from 'vitest';
import { pollUntil } from './helpers/poll.ts';
import { createScratchDatabase, describePostgres, type TempDatabase } from './helpers/postgres.ts';
import { killGroup, type RaglineProcess, spawnRagline } from './helpers/processes.ts';
import { describeShared, SHARED_AVAILABLE } from './helpers/shared.ts';
import type { Json } from './helpers/tenants.ts';
import { EXPERIMENT_QUERY, EXPERIMENT_TEXTS } from './helpers/experiment-corpus.ts';

const ADMIN_KEY = 'experiments-admin-key-0123456789';
const TOP_K = { control: 2, wider: 4 } as const;

interface Server extends RaglineProcess {
  url: string;
}

/** `ragline serve` on a free port of its own, against `databaseUrl`; resolves once it listens. */
async function startServer(databaseUrl: string, worker: boolean): Promise<Server> {
  const server = spawnRagline(['serve', '--port', '0', ...(worker ? ['--worker'] : [])], databaseUrl, {
    RAGLINE_LOG_LEVEL: 'warn',
    RAGLINE_API_KEYS: ADMIN_KEY,
  });
  const url = await pollUntil(
    async () => {
      if (server.child.exitCode !== null) throw new Error(`server exited with ${server.child.exitCode}:\n${server.output()}`);
      return /listening on (http:\/\/\S+)/.exec(server.output())?.[1];
    },
    'the server to listen',
    180_000,
    50,
  );
  return { ...server, url };
}

async function call(base: string, key: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Json };
}

const describeBoth = SHARED_AVAILABLE ? await describePostgres() : describeShared;

/**
 * The split is a hash, not state: two separate `ragline serve` processes on one database must put
 * every subject (an API key, or a `user` value) in the same variant, and apply that variant's config.
 */
describeBoth('an experiment served by two `ragline serve` processes on one Postgres database', () => {
  let db: TempDatabase;
  let servers: Server[] = [];

  beforeAll(async () => {
    db = await createScratchDatabase('experiment_processes');
    // Both at once: the migration runner's advisory lock lets one of them apply the migrations.
    servers = await Promise.all([startServer(db.url, true), startServer(db.url, false)]);
  }, 400_000);

  afterAll(async () => {
    await Promise.all(servers.map((s) => killGroup(s.child, 'SIGTERM')));
    await db?.drop();
  });

  /** The stored trace of a request, read through `server` (traces are written after the response). */
  const traceOf = (server: Server, key: string, requestId: string) =>
    pollUntil(
      async () => {
        const res = await call(server.url, key, 'GET', `/v1/requests/${requestId}`);
        return res.status === 200 ? res.body : undefined;
      },
      `trace ${requestId}`,
      15_000,
      50,
    );

  it('gives each API key and each user the same variant, with its settings, on both processes', async () => {
    const [a, b] = servers as [Server, Server];
    expect((await call(a.url, ADMIN_KEY, 'POST', '/v1/collections', { name: 'guide' })).status).toBe(201);
    for (const [i, text] of EXPERIMENT_TEXTS.entries()) {
      const res = await call(a.url, ADMIN_KEY, 'POST', '/v1/collections/guide/documents?wait=60', { source: `doc-${i}.txt`, text });
      expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
      const jobId = res.body.jobs[0].id as string;
      await pollUntil(
        async () => {
          const job = (await call(a.url, ADMIN_KEY, 'GET', `/v1/jobs/${jobId}`)).body;
          if (job.state === 'failed') throw new Error(`ingest failed: ${JSON.stringify(job)}`);
          return job.state === 'succeeded';
        },
        `job ${jobId}`,
        120_000,
        50,
      );
    }
    for (const [name, topK] of Object.entries(TOP_K)) {
      const res = await call(a.url, ADMIN_KEY, 'POST', '/v1/collections/guide/configs', {
        name,
        settings: { retrieval: { topK, mode: 'bm25' } },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }
    // Started through the other process: the experiment lives in the database, not in either process.
    const started = await call(b.url, ADMIN_KEY, 'POST', '/v1/collections/guide/experiments', {
      name: 'topk',
      variants: [
        { config: 'control', percent: 50 },
        { config: 'wider', percent: 50 },
      ],
    });
    expect(started.status, JSON.stringify(started.body)).toBe(201);

    const keys: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await call(a.url, ADMIN_KEY, 'POST', '/v1/keys', { role: 'reader', label: `subject-${i}` });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      keys.push(res.body.key as string);
    }
    // Subjects: each key alone (no user), then one key with several users (the user wins over the key).
    const subjects = [
      ...keys.map((key, i) => ({ label: `key-${i}`, key, user: undefined as string | undefined })),
      ...Array.from({ length: 8 }, (_, u) => ({ label: `user-${u}`, key: keys[0]!, user: `user-${u}` })),
    ];

    const variantsSeen = new Map<string, string>();
    for (const subject of subjects) {
      const body = { query: EXPERIMENT_QUERY, ...(subject.user ? { user: subject.user } : {}) };
      const variants: string[] = [];
      for (const server of [a, b, a]) {
        const res = await call(server.url, subject.key, 'POST', '/v1/collections/guide/search', body);
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        const trace = await traceOf(server === a ? b : a, subject.key, res.body.requestId);
        expect(trace).toMatchObject({ experiment: 'topk', configName: trace.variant });
        expect(res.body.hits).toHaveLength(TOP_K[trace.variant as keyof typeof TOP_K]);
        variants.push(trace.variant as string);
      }
      expect(new Set(variants).size, `${subject.label} got ${variants.join(', ')}`).toBe(1);
      variantsSeen.set(subject.label, variants[0]!);
    }
    // 14 subjects split 50/50 by a hash: both variants occur (all in one has odds of 2 in 16,384).
    expect(new Set(variantsSeen.values())).toEqual(new Set(['control', 'wider']));
    // The user decides, not the key: key-0's own users do not all share key-0's variant.
    const userVariants = subjects.filter((s) => s.user).map((s) => variantsSeen.get(s.label));
    expect(new Set(userVariants).size).toBe(2);
  }, 300_000);
});
