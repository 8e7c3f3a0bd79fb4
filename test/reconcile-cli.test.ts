import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FakePinecone } from './contract/fake-pinecone.ts';
import { runCli } from './helpers/cli-process.ts';
import { describeShared } from './helpers/shared.ts';

describeShared('`ragline reconcile <collection>` (real child processes, PGlite, local Pinecone fake)', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragline-reconcile-'));
  const fake = new FakePinecone({ dimension: 0, vectorType: 'sparse' });
  const denseFake = new FakePinecone({ dimension: 384 });
  let sparseEnv: Record<string, string>;

  beforeAll(async () => {
    await fake.start();
    await denseFake.start();
    sparseEnv = {
      RAGLINE_DATA_DIR: dataDir,
      RAGLINE_SPARSE: 'pinecone',
      PINECONE_SPARSE_API_KEY: fake.apiKey,
      PINECONE_SPARSE_INDEX: fake.indexName,
      PINECONE_SPARSE_HOST: fake.url,
      RAGLINE_SPARSE_RETRY_DELAY_MS: '10',
    };
    const ingest = runCli(['ingest', 'fixtures/faq.txt', '--collection', 'handbook'], { RAGLINE_DATA_DIR: dataDir });
    expect(await ingest.exited, ingest.stderr()).toBe(0);
  });

  afterAll(async () => {
    await fake.stop();
    await denseFake.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('fills the namespace and prints the counts; a second run finds nothing; 429s are retried', async () => {
    fake.failNext('/vectors/list', 429);
    const first = runCli(['reconcile', 'handbook', '--json'], sparseEnv);
    expect(await first.exited, first.stderr()).toBe(0);
    const { sparse: report } = JSON.parse(first.stdout()) as { sparse: Record<string, number> };
    expect(report.chunks).toBeGreaterThan(0);
    expect(report).toMatchObject({
      vectors: 0,
      missing: report.chunks,
      orphaned: 0,
      stale: 0,
      upserted: report.chunks,
      rateLimitedRetries: 1,
    });
    expect(fake.vectors([...fake.namespaces.keys()][0]!)).toHaveLength(report.chunks!);

    const second = runCli(['reconcile', 'handbook'], sparseEnv);
    expect(await second.exited, second.stderr()).toBe(0);
    expect(second.stdout()).toMatch(
      /handbook, sparse: \d+ chunks, \d+ vectors found; missing 0, orphaned 0, stale 0; upserted 0, deleted 0/,
    );
  });

  it('fills the dense namespace of a collection ingested before Pinecone was configured, from the SQL embeddings', async () => {
    const denseEnv = {
      RAGLINE_DATA_DIR: dataDir,
      PINECONE_API_KEY: denseFake.apiKey,
      PINECONE_INDEX: denseFake.indexName,
      PINECONE_CONTROLLER_HOST: denseFake.url,
      PINECONE_HOST: denseFake.url,
    };
    const first = runCli(['reconcile', 'handbook', '--json'], denseEnv);
    expect(await first.exited, first.stderr()).toBe(0);
    const { dense, sparse } = JSON.parse(first.stdout()) as { dense: Record<string, number>; sparse?: unknown };
    expect(sparse).toBeUndefined();
    expect(dense.chunks).toBeGreaterThan(0);
    expect(dense).toMatchObject({ vectors: 0, missing: dense.chunks, orphaned: 0, stale: 0, upserted: dense.chunks });
    const [namespace] = [...denseFake.namespaces.keys()];
    expect(denseFake.vectors(namespace!)).toHaveLength(dense.chunks!);

    const second = runCli(['reconcile', 'handbook'], denseEnv);
    expect(await second.exited, second.stderr()).toBe(0);
    expect(second.stdout()).toMatch(
      /handbook, dense: \d+ chunks, \d+ vectors found; missing 0, orphaned 0, stale 0; upserted 0, deleted 0/,
    );
  });

  it('exits 2 naming the variable when the sparse backend is not configured, and fails for an unknown collection', async () => {
    const unset = runCli(['reconcile', 'handbook'], { RAGLINE_DATA_DIR: dataDir });
    expect(await unset.exited).toBe(2);
    expect(unset.stderr()).toMatch(/RAGLINE_SPARSE/);
    const unknown = runCli(['reconcile', 'nope'], sparseEnv);
    expect(await unknown.exited).not.toBe(0);
    expect(unknown.stderr()).toMatch(/collection "nope" not found/);
  });
});
