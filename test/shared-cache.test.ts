import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createScratchDatabase, describePostgres, type TempDatabase } from './helpers/postgres.ts';
import { PROJECT_ROOT, SHARED_AVAILABLE, TEST_MODEL_DIR } from './helpers/shared.ts';

const REDIS_URL = process.env.RAGLINE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const RUN_PREFIX = `ragline-test-${randomBytes(6).toString('hex')}:`;

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in assertions
type Json = Record<string, any>;

interface ServerProcess {
  child: ChildProcess;
  url: string;
}

/** `ragline serve --port 0` in its own process, resolved with the URL it prints once listening. */
function startServer(env: Record<string, string>, extraArgs: string[] = []): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'serve', '--port', '0', ...extraArgs], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(stdout);
      if (m) resolve({ child, url: m[1]! });
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${stderr}`)));
  });
}

const describeWithPostgres = await describePostgres();
const describeBoth = SHARED_AVAILABLE
  ? describeWithPostgres
  : (name: string, _fn: () => void) => describeWithPostgres(`${name} [needs ../shared]`, () => {});

describeBoth('answer cache shared through Redis by two server processes (Postgres + real model)', () => {
  let db: TempDatabase;
  let a: ServerProcess;
  let b: ServerProcess;
  let dataDir: string;
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });

  const post = async (server: ServerProcess, route: string, body: unknown) => {
    const res = await fetch(server.url + route, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const ask = async (server: ServerProcess) => {
    const r = await post(server, '/v1/collections/kb/answer', { question: 'What causes ocean tides?' });
    expect(r.status).toBe(200);
    return r.body;
  };

  beforeAll(async () => {
    db = await createScratchDatabase('cache');
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragline-cache-'));
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL,
      RAGLINE_REDIS_KEY_PREFIX: RUN_PREFIX,
      RAG_MODEL_DIR: TEST_MODEL_DIR,
      RAGLINE_DATA_DIR: dataDir,
      RAGLINE_LOG_LEVEL: 'warn',
    };
    // One at a time: both run migrations on the same database (serialized by an advisory lock anyway).
    a = await startServer(env, ['--worker']);
    b = await startServer(env);
    expect((await post(a, '/v1/collections', { name: 'kb' })).status).toBe(201);
    const upload = await post(a, '/v1/collections/kb/documents?wait=90', {
      source: 'tides.txt',
      text: 'Ocean tides are caused by the gravitational pull of the moon and the sun on the rotating earth.',
    });
    expect(upload.status).toBe(200);
  }, 180_000);

  afterAll(async () => {
    for (const s of [a, b]) s?.child.kill('SIGTERM');
    await Promise.all([a, b].map((s) => s && new Promise((r) => (s.child.exitCode !== null ? r(null) : s.child.once('exit', r)))));
    const keys = await redis.keys(`${RUN_PREFIX}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    await db?.drop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('an answer cached by one process is a hit in the other; an ingest through one invalidates both', async () => {
    const first = await ask(a);
    expect(first.cache).toBe('miss');
    const second = await ask(b);
    expect(second.cache).toBe('hit');
    expect(second.answer).toBe(first.answer);
    expect(await redis.keys(`${RUN_PREFIX}answer:*`)).toHaveLength(1);

    // Upload through B (A's worker ingests it): the collection version moves, so both miss.
    const upload = await post(b, '/v1/collections/kb/documents?wait=90', {
      source: 'moon.txt',
      text: 'The moon orbits the earth every 27 days and raises the tides twice a day.',
    });
    expect(upload.status).toBe(200);
    const afterA = await ask(a);
    expect(afterA.cache).toBe('miss');
    expect((await ask(b)).cache).toBe('hit'); // A's fresh answer, shared again
    expect(afterA.chunks.map((c: Json) => c.source)).toContain('moon.txt');
  });
});
