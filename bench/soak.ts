/**
 * Soak: two `ragline serve` replicas on one Postgres database (a scratch database, dropped
 * afterwards), mixed ingest + search for --minutes (default 10):
 *
 * - an ingest loop through replica A (which runs the worker): a document with a unique token,
 *   then both replicas are polled with a BM25 search for that token; the time from the job's
 *   completion to the hit is the visibility delay (NOTIFY; target ≤ 1 s);
 * - every --delete-every ingests, the oldest live document is deleted through A and both replicas
 *   are polled until its token returns nothing; a hit still there 1 s later is a stale result;
 * - a search loop alternating between the replicas with real queries (hybrid);
 * - both replicas' RSS sampled every 5 s, with a least-squares slope per replica.
 *
 *   npm run bench soak [-- --minutes 10 --ingest-every-ms 2000 --delete-every 5 --search-every-ms 200]
 */
import { performance } from 'node:perf_hooks';
import { linearRegression } from 'simple-statistics';
import { printTable, summarize, writeResults } from '../eval/results.ts';
import { createScratchDatabase } from '../testkit/scratch-database.ts';
import { BenchArgsError, BenchFlags, machineLoad, ms } from './bench-args.ts';
import { realQueries } from './search.ts';
import { startServe, type ServeProcess } from './serve-process.ts';
import { seedDocuments } from './synthetic-corpus.ts';

export interface SoakOptions {
  minutes: number;
  ingestEveryMs: number;
  deleteEvery: number;
  searchEveryMs: number;
  /** Visibility target: a change not seen by a replica within this is counted as late. */
  visibleWithinMs: number;
  results: string;
}

export function parseSoakArgs(args: string[]): SoakOptions {
  const flags = new BenchFlags(args);
  const options = {
    minutes: flags.positiveNumber('minutes', 10),
    ingestEveryMs: flags.positiveNumber('ingest-every-ms', 2000),
    deleteEvery: flags.positiveNumber('delete-every', 5),
    searchEveryMs: flags.positiveNumber('search-every-ms', 200),
    visibleWithinMs: flags.positiveNumber('visible-within-ms', 1000),
    results: flags.resultsName('soak'),
  };
  flags.finish();
  if (options.minutes > 120) throw new BenchArgsError('--minutes: at most 120 (the soak is bounded)');
  return options;
}

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely
type Json = Record<string, any>;

const COLLECTION = 'soak';
const POLL_MS = 20;
/** How long a poll for visibility or disappearance goes on before it is recorded as missed. */
const GIVE_UP_MS = 10_000;

async function call(url: string, method: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  let parsed: Json = {};
  try {
    parsed = JSON.parse(text) as Json;
  } catch {
    parsed = { raw: text };
  }
  return { status: res.status, body: parsed };
}

const tokenHits = async (replica: ServeProcess, token: string) => {
  const res = await call(`${replica.url}/v1/collections/${COLLECTION}/search`, 'POST', { query: token, mode: 'bm25', topK: 3 });
  if (res.status !== 200) throw new Error(`token search answered ${res.status}: ${JSON.stringify(res.body)}`);
  return (res.body.hits as Json[]).filter((h) => String(h.chunk.text).includes(token)).length;
};

/** Polls until `done` holds; returns the time it took, or null after GIVE_UP_MS. */
async function timeUntil(done: () => Promise<boolean>, from: number): Promise<number | null> {
  for (;;) {
    if (await done()) return performance.now() - from;
    if (performance.now() - from > GIVE_UP_MS) return null;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

interface RssSample {
  minute: number;
  bytes: number;
}

export async function runSoakBench(args: string[] = []): Promise<string> {
  const options = parseSoakArgs(args);
  const db = await createScratchDatabase('soak');
  const texts = seedDocuments(400).map((d) => d.passages.join(' '));
  const queries = realQueries(60).map((q) => q.text);
  let a: ServeProcess | undefined;
  let b: ServeProcess | undefined;
  const errors: string[] = [];
  const visibility: Record<'a' | 'b', number[]> = { a: [], b: [] };
  const disappearance: Record<'a' | 'b', number[]> = { a: [], b: [] };
  let missedVisible = 0;
  let stale = 0;
  let ingests = 0;
  let deletes = 0;
  const searchMs: number[] = [];
  const rss: Record<'a' | 'b', RssSample[]> = { a: [], b: [] };
  const loadBefore = machineLoad();
  // Reset once both replicas are ready: start-up is not part of the soak.
  let started = performance.now();
  try {
    // Both at once: the migration runner's advisory lock lets one of them apply the migrations.
    [a, b] = await Promise.all([startServe(db.url, { worker: true }), startServe(db.url)]);
    const replicas = { a, b };
    const created = await call(`${a.url}/v1/collections`, 'POST', { name: COLLECTION });
    if (created.status !== 201) throw new Error(`creating the collection answered ${created.status}: ${JSON.stringify(created.body)}`);

    started = performance.now();
    const endAt = started + options.minutes * 60_000;
    const running = () => performance.now() < endAt;
    const minute = () => (performance.now() - started) / 60_000;

    const sampleRss = async () => {
      for (const [name, replica] of Object.entries(replicas) as ['a' | 'b', ServeProcess][]) {
        rss[name].push({ minute: minute(), bytes: await replica.rssBytes() });
      }
    };
    await sampleRss();
    const sampler = setInterval(() => sampleRss().catch((err) => errors.push(`rss: ${(err as Error).message}`)), 5000);

    const searchLoop = async () => {
      for (let i = 0; running(); i++) {
        const replica = i % 2 ? b! : a!;
        const t0 = performance.now();
        try {
          const res = await call(`${replica.url}/v1/collections/${COLLECTION}/search`, 'POST', {
            query: queries[i % queries.length],
            mode: 'hybrid',
            topK: 10,
          });
          if (res.status !== 200) errors.push(`search ${res.status}: ${JSON.stringify(res.body).slice(0, 200)}`);
          else searchMs.push(performance.now() - t0);
        } catch (err) {
          errors.push(`search: ${(err as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, options.searchEveryMs));
      }
    };

    const live: { id: string; token: string }[] = [];
    const ingestLoop = async () => {
      for (let n = 0; running(); n++) {
        const cycleStart = performance.now();
        const token = `soaktoken${n}q${Math.floor(Math.random() * 1e6)}`;
        try {
          const res = await call(`${a!.url}/v1/collections/${COLLECTION}/documents?wait=60`, 'POST', {
            source: `soak-${n}.txt`,
            text: `${texts[n % texts.length]} Marker ${token}.`,
          });
          const job = res.body.jobs?.[0] as Json | undefined;
          if (res.status !== 200 || job?.state !== 'succeeded') {
            errors.push(`ingest ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
          } else {
            ingests++;
            const doneAt = performance.now();
            for (const [name, replica] of Object.entries(replicas) as ['a' | 'b', ServeProcess][]) {
              const took = await timeUntil(async () => (await tokenHits(replica, token)) > 0, doneAt);
              if (took === null || took > options.visibleWithinMs) missedVisible++;
              if (took !== null) visibility[name].push(took);
            }
            const documentId = (job.result as Json | null)?.documentId as string | undefined;
            if (documentId) live.push({ id: documentId, token });
            else errors.push(`ingest result has no documentId: ${JSON.stringify(job.result)}`);
          }
          if (n % options.deleteEvery === options.deleteEvery - 1 && live.length) {
            const victim = live.shift()!;
            const del = await call(`${a!.url}/v1/collections/${COLLECTION}/documents/${victim.id}`, 'DELETE');
            if (del.status !== 200) errors.push(`delete ${del.status}: ${JSON.stringify(del.body).slice(0, 200)}`);
            else {
              deletes++;
              const deletedAt = performance.now();
              for (const [name, replica] of Object.entries(replicas) as ['a' | 'b', ServeProcess][]) {
                const took = await timeUntil(async () => (await tokenHits(replica, victim.token)) === 0, deletedAt);
                if (took === null || took > options.visibleWithinMs) stale++;
                if (took !== null) disappearance[name].push(took);
              }
            }
          }
        } catch (err) {
          errors.push(`ingest loop: ${(err as Error).message}`);
        }
        const wait = options.ingestEveryMs - (performance.now() - cycleStart);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    };

    const progress = setInterval(
      () =>
        process.stdout.write(
          `\r[soak] ${minute().toFixed(1)}/${options.minutes} min: ${ingests} ingests, ${deletes} deletes, ${searchMs.length} searches, ${errors.length} errors   `,
        ),
      5000,
    );
    await Promise.all([searchLoop(), ingestLoop()]);
    clearInterval(progress);
    clearInterval(sampler);
    await sampleRss();
  } finally {
    await Promise.all([a?.stop(), b?.stop()]);
    await db.drop();
  }

  const slope = (samples: RssSample[]) =>
    samples.length >= 2 ? linearRegression(samples.map((s) => [s.minute, s.bytes / 1024 / 1024])).m : Number.NaN;
  const durationMinutes = (performance.now() - started) / 60_000;
  const replicaRow = (name: 'a' | 'b') => {
    const vis = summarize(visibility[name]);
    const gone = summarize(disappearance[name]);
    const samples = rss[name];
    return {
      replica: name === 'a' ? 'A (ingest + worker)' : 'B',
      'RSS start → end MB': `${Math.round(samples[0]!.bytes / 1048576)} → ${Math.round(samples.at(-1)!.bytes / 1048576)}`,
      'RSS slope MB/min': ms(slope(samples)),
      'visible p50/p95/max ms': `${ms(vis.p50)} / ${ms(vis.p95)} / ${ms(Math.max(...visibility[name]))}`,
      'delete gone p50/p95/max ms': disappearance[name].length
        ? `${ms(gone.p50)} / ${ms(gone.p95)} / ${ms(Math.max(...disappearance[name]))}`
        : '–',
    };
  };
  const machine = machineLoad();
  const rows = [replicaRow('a'), replicaRow('b')];
  const search = summarize(searchMs);
  const summary = {
    minutes: Math.round(durationMinutes * 10) / 10,
    ingests,
    deletes,
    searches: searchMs.length,
    errors: errors.length,
    notVisibleWithin1s: missedVisible,
    staleAfterDelete: stale,
    searchP95Ms: search.p95,
  };
  printTable(`Soak: two replicas on one Postgres, ${summary.minutes} min of mixed ingest + search; ${machine.uptime}`, rows);
  printTable('Totals', [
    {
      minutes: summary.minutes,
      ingests,
      deletes,
      searches: summary.searches,
      errors: summary.errors,
      [`not visible in both within ${options.visibleWithinMs} ms`]: missedVisible,
      'stale after delete': stale,
      'search p50/p95 ms': `${ms(search.p50)} / ${ms(search.p95)}`,
    },
  ]);
  if (errors.length) console.log(`first errors:\n${errors.slice(0, 5).join('\n')}`);
  return writeResults(options.results, {
    options,
    machine,
    loadAverageBefore: loadBefore.loadAverage,
    summary,
    replicas: {
      a: { rssSlopeMbPerMinute: slope(rss.a), rss: rss.a, visibilityMs: summarize(visibility.a), deleteGoneMs: summarize(disappearance.a) },
      b: { rssSlopeMbPerMinute: slope(rss.b), rss: rss.b, visibilityMs: summarize(visibility.b), deleteGoneMs: summarize(disappearance.b) },
    },
    searchMs: search,
    errors: errors.slice(0, 20),
    rows,
  });
}
