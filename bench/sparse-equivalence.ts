import os from 'node:os';
import { loadConfig } from '../core/config.ts';
import { datasetPath } from '../core/shared-data.ts';
import { evaluateRun, type Run } from '../eval/metrics.ts';
import { naturalQueries } from '../eval/query-kinds.ts';
import { printTable, summarize, writeResults } from '../eval/results.ts';
import { EVAL_TOP_K, EvalSession, documentRanking, type EvalMode } from '../eval/runner.ts';
import { Ragline } from '../facade/ragline.ts';
import { reconcileSparse } from '../facade/sparse-reconcile.ts';
import { openPgliteStore } from '../store/pglite.ts';
import { sparseIndexFromConfig } from '../store/pinecone-sparse.ts';
import { FakePinecone } from '../testkit/fake-pinecone.ts';
import { BenchFlags } from './bench-args.ts';

/**
 * Keyword search through Pinecone sparse vectors against the in-process BM25, on SciFact,
 * through the full path: the corpus is ingested once by a Ragline with RAGLINE_SPARSE=pinecone
 * (the sparse index is the local fake, through the real SDK), then every test query is searched
 * by that Ragline and by a second one on the same database with the in-process BM25, in BM25 and
 * hybrid mode, before and after `reconcile` (which re-encodes the vectors written while the
 * collection's average lengths were still moving). Prints nDCG@10 both ways.
 *
 * `npm run bench -- sparse-equivalence [--limit 1000] [--modes bm25,hybrid]`
 */
export async function runSparseEquivalenceBench(args: string[]): Promise<void> {
  const flags = new BenchFlags(args);
  const limit = flags.integer('limit', undefined);
  const modes = flags.oneOfList<EvalMode>('modes', ['dense', 'bm25', 'hybrid'], ['bm25', 'hybrid']);
  flags.finish();
  const fake = await new FakePinecone({ dimension: 0, vectorType: 'sparse' }).start();
  const base = loadConfig();
  const sparseConfig = loadConfig({
    ...process.env,
    RAGLINE_SPARSE: 'pinecone',
    PINECONE_SPARSE_INDEX: fake.indexName,
    PINECONE_SPARSE_HOST: fake.url,
    PINECONE_SPARSE_API_KEY: fake.apiKey,
  });
  const load = () => os.loadavg()[0]!.toFixed(1);
  const session = await EvalSession.open({
    config: sparseConfig,
    dataset: datasetPath('scifact'),
    splits: ['test'],
    limit,
    store: await openPgliteStore(),
  });
  const local = await Ragline.open(base, { store: session.ragline.store, embedder: session.embedder });
  try {
    const ingest = await session.ingestCorpus();
    console.log(`ingested ${ingest.documents} documents, ${ingest.chunks} chunks in ${ingest.seconds.toFixed(0)} s (load ${load()})`);
    const natural = naturalQueries(session.dataset, 'test');
    const qrels = natural.qrels;
    const measure = async (ragline: Ragline, mode: EvalMode) => {
      const run: Run = new Map();
      const bm25Ms: number[] = [];
      for (const query of natural.queries) {
        const response = await ragline.search(session.collection, { query: query.text, mode, topK: EVAL_TOP_K });
        run.set(query.id, documentRanking(response));
        bm25Ms.push(response.timings.bm25Ms);
      }
      return { ndcg10: evaluateRun(run, qrels, { excludeSelf: true }).mean.ndcg10, run, bm25: summarize(bm25Ms) };
    };
    const sameTop10 = (a: Run, b: Run) =>
      [...a.keys()].filter((id) => JSON.stringify(a.get(id)!.slice(0, 10)) === JSON.stringify(b.get(id)!.slice(0, 10))).length;

    const rows: Record<string, string | number>[] = [];
    const record = async (stage: string) => {
      for (const mode of modes) {
        const inProcess = await measure(local, mode);
        const pinecone = await measure(session.ragline, mode);
        rows.push({
          stage,
          mode,
          'in-process nDCG@10': inProcess.ndcg10,
          'Pinecone sparse nDCG@10': pinecone.ndcg10,
          difference: pinecone.ndcg10 - inProcess.ndcg10,
          'same top 10': `${sameTop10(inProcess.run, pinecone.run)}/${natural.queries.length}`,
          'BM25 p50 ms in-process / fake': `${inProcess.bm25.p50.toFixed(1)} / ${pinecone.bm25.p50.toFixed(1)}`,
          load: load(),
        });
      }
    };
    await record('as ingested');
    const report = await reconcileSparse(
      session.ragline.store,
      sparseIndexFromConfig(sparseConfig),
      (await session.ragline.collection(session.collection)).id,
    );
    console.log(`reconcile: ${report.stale} stale of ${report.chunks} re-encoded, ${report.missing} missing, ${report.orphaned} orphaned`);
    await record('after reconcile');
    printTable(`SciFact test, ${ingest.documents} documents, ${natural.queries.length} queries: BM25 in-process vs Pinecone sparse`, rows);
    writeResults('sparse-equivalence', {
      note: 'one ingest (RAGLINE_SPARSE=pinecone, fake sparse index through the real SDK), searched by two Ragline instances on the same database',
      documents: ingest.documents,
      chunks: ingest.chunks,
      queries: natural.queries.length,
      reconcile: report,
      rows,
    });
  } finally {
    await local.bm25.close();
    await local.collections.close();
    await session.close();
    await fake.stop();
  }
}
