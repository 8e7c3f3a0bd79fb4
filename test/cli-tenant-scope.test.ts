import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeShared } from './helpers/shared.ts';
import { runCli } from './helpers/cli-in-process.ts';

/** `--tenant` on ingest, search, ask, collections, documents and delete: the CLI run in process over a PGlite dir. */
describeShared('CLI tenant scope (PGlite data dir, real model)', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragline-cli-tenant-'));
  const files = {
    a: path.join(dataDir, 'glaciers-a.txt'),
    b: path.join(dataDir, 'volcanoes-b.txt'),
  };
  const saved = { dataDir: process.env.RAGLINE_DATA_DIR, databaseUrl: process.env.DATABASE_URL };

  beforeAll(() => {
    process.env.RAGLINE_DATA_DIR = dataDir;
    delete process.env.DATABASE_URL;
    fs.writeFileSync(files.a, 'Glaciers carve valleys slowly over many thousands of years. Team A keeps the glacier survey.');
    fs.writeFileSync(files.b, 'Volcanoes build islands where magma reaches the sea floor. Team B keeps the volcano log.');
  });

  afterAll(() => {
    for (const [key, value] of [
      ['RAGLINE_DATA_DIR', saved.dataDir],
      ['DATABASE_URL', saved.databaseUrl],
    ] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const ragline = (...args: string[]) => runCli(args);
  const json = async (...args: string[]) => {
    const run = await ragline(...args);
    expect(run.code, run.err).toBe(0);
    return JSON.parse(run.out) as unknown;
  };

  it('ingests, lists, searches and answers inside the named tenant only (by id or display name)', async () => {
    expect((await ragline('tenants', 'create', 'team-a', '--name', 'Team A')).code).toBe(0);
    expect((await ragline('tenants', 'create', 'team-b', '--name', 'Team B')).code).toBe(0);
    expect((await ragline('ingest', files.a, '--collection', 'handbook', '--tenant', 'team-a')).code).toBe(0);
    expect((await ragline('ingest', files.b, '--collection', 'handbook', '--tenant', 'Team B')).code).toBe(0);

    const listA = (await json('collections', '--tenant', 'team-a', '--json')) as { name: string; id: string; chunks: number }[];
    const listB = (await json('collections', '--tenant', 'team-b', '--json')) as { name: string; id: string }[];
    expect(listA.map((c) => c.name)).toEqual(['handbook']);
    expect(listB.map((c) => c.name)).toEqual(['handbook']);
    expect(listA[0]!.id).not.toBe(listB[0]!.id);
    expect(await json('collections', '--json')).toEqual([]); // the default tenant has none

    type Hits = { hits: { chunk: { source: string; text: string } }[] };
    const searchA = (await json('search', 'glacier valleys', '--collection', 'handbook', '--tenant', 'team-a', '--json')) as Hits;
    expect(searchA.hits.map((h) => path.basename(h.chunk.source))).toEqual(['glaciers-a.txt']);
    const searchB = (await json('search', 'glacier valleys', '--collection', 'handbook', '--tenant', 'Team B', '--json')) as Hits;
    expect(searchB.hits.map((h) => path.basename(h.chunk.source))).toEqual(['volcanoes-b.txt']);

    const answer = (await json('ask', 'Who keeps the glacier survey?', '--collection', 'handbook', '--tenant', 'team-a', '--json')) as {
      citations: { source: string }[];
      answer: string;
    };
    expect(answer.citations.map((c) => path.basename(c.source))).toContain('glaciers-a.txt');
    expect(answer.answer).not.toMatch(/volcano/i);

    const docsA = (await json('documents', '--collection', 'handbook', '--tenant', 'team-a', '--json')) as { source: string }[];
    expect(docsA.map((d) => path.basename(d.source))).toEqual(['glaciers-a.txt']);
  });

  it("answers another tenant's collection id as not found, and leaves it untouched", async () => {
    const [aHandbook] = (await json('collections', '--tenant', 'team-a', '--json')) as { id: string }[];
    const byId = await ragline('search', 'glacier', '--collection', aHandbook!.id, '--tenant', 'team-b', '--json');
    expect(byId.code).toBe(1);
    expect(byId.err).toMatch(/not found/);
    expect(byId.out).not.toMatch(/Glaciers/);

    const deleted = await ragline('delete', '--all', '--collection', aHandbook!.id, '--tenant', 'team-b');
    expect(deleted.code).toBe(1);
    expect(((await json('collections', '--tenant', 'team-a', '--json')) as unknown[]).length).toBe(1);
    const noDefault = await ragline('search', 'glacier', '--collection', 'handbook');
    expect(noDefault.code).toBe(1); // without --tenant: the default tenant, which has no handbook
  });

  it('refuses an unknown tenant with a clear message and exit code 2 on every scoped command', async () => {
    for (const args of [
      ['ingest', files.a, '--collection', 'handbook'],
      ['search', 'glacier', '--collection', 'handbook'],
      ['ask', 'glacier?', '--collection', 'handbook'],
      ['collections'],
      ['documents', '--collection', 'handbook'],
      ['collections', 'deleted'],
    ]) {
      const run = await ragline(...args, '--tenant', 'team-z');
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.err).toMatch(/unknown tenant "team-z"/);
    }
    // Nothing was created under the unknown name either.
    expect((await json('tenants', 'list', '--json')) as { id: string }[]).toHaveLength(3);
  });
});
