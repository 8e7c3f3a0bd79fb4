import { byFusedScore, type FusedHit, type FusionMethod, type Weights } from './fusion.ts';
import type { RankedList } from './types.ts';

/**
 * Fusion that counts documents, not chunks, in each retriever's list, and still returns every chunk.
 *
 * Chunk fusion lets a document's extra chunks crowd a list: when five chunks of one document fill
 * dense ranks 1–5, the next document stands at rank 6, and with min-max normalisation the list's
 * floor is set by chunks of documents already represented. Late chunking makes this worse (the
 * chunks of one document share a window, so their vectors sit close together). Here each entry is
 * placed among the list's distinct documents: its rank is the number of distinct documents up to
 * it, and its normalised score is taken against the spread of the documents' best scores.
 *
 * A document is scored as a whole by adding, per retriever, its best chunk's contribution (its
 * best dense chunk and its best BM25 chunk may differ); the document's best chunk carries that
 * score, and its other chunks keep their own fused score, which is never higher, so they follow
 * in their own order instead of being dropped (answers need neighbouring chunks of one document).
 */

interface Standing {
  /** The chunk's 1-based rank in the list, as shown in explanations. */
  rank: number;
  score: number;
  /** The entry's rank among the list's distinct documents (x.5 for a document's further chunks). */
  documentRank: number;
  /** Min-max over the documents' best scores; below the lowest of them it goes negative. */
  spread: number;
}

/** Each chunk's first (best) entry in the list, placed among the list's distinct documents. */
function standings(list: RankedList): { byChunk: Map<string, Standing>; documentOf: Map<string, string> } {
  const documentOf = new Map<string, string>();
  const seen = new Set<string>();
  const leadScores: number[] = [];
  const placed: { id: string; rank: number; score: number; documentRank: number }[] = [];
  list.ids.forEach((id, i) => {
    if (documentOf.has(id)) return;
    const document = list.documents?.[i] ?? id;
    documentOf.set(id, document);
    const score = list.scores[i]!;
    let lastLead: string | undefined;
    if (!seen.has(document)) {
      seen.add(document);
      leadScores.push(score);
      lastLead = document;
    }
    // A further chunk of a document already seen has no document rank of its own: it sits just
    // below the last document above it.
    placed.push({ id, rank: i + 1, score, documentRank: document === lastLead ? seen.size : seen.size + 0.5 });
  });
  const max = Math.max(...leadScores);
  const range = max - Math.min(...leadScores);
  // One document (or equal bests) has no spread to normalise: the best is 1, as in minMax, and the
  // rest fall below 0 in their own order.
  const flat = !(range > 0) || !Number.isFinite(range);
  const byChunk = new Map<string, Standing>();
  for (const p of placed) {
    byChunk.set(p.id, { ...p, spread: flat ? (p.score >= max ? 1 : p.score - max) : (p.score - max) / range + 1 });
  }
  return { byChunk, documentOf };
}

/** Dense and BM25 chunk lists fused over their distinct documents; every chunk of either list is returned. */
export function fuseByDocument(
  method: FusionMethod,
  dense: RankedList,
  bm25: RankedList,
  options: { k: number; weights: Weights },
): FusedHit[] {
  const { k, weights } = options;
  const lists = { dense: standings(dense), bm25: standings(bm25) } as const;
  const retrievers = ['dense', 'bm25'] as const;
  // rrf: weighted reciprocal document rank; convex: weighted min-max over documents, floored at 0
  // (a chunk below every document's best counts as much as a chunk the retriever did not return).
  const contribution = (s: Standing, r: 'dense' | 'bm25') =>
    method === 'rrf' ? weights[r] / (k + s.documentRank) : weights[r] * Math.max(0, s.spread);
  // Orders chunks whose document-level contributions tie: the tail below every document's best
  // (convex), a document's further chunks between the same two documents (rrf).
  const unfloored = (s: Standing, r: 'dense' | 'bm25') => (method === 'rrf' ? weights[r] / (k + s.rank) : weights[r] * s.spread);

  const chunks: (FusedHit & { document: string; tieBreak: number })[] = [];
  const documentScore = new Map<string, Record<'dense' | 'bm25', number>>();
  for (const id of new Set([...dense.ids, ...bm25.ids])) {
    const d = lists.dense.byChunk.get(id);
    const b = lists.bm25.byChunk.get(id);
    const document = lists.dense.documentOf.get(id) ?? lists.bm25.documentOf.get(id)!;
    const best = documentScore.get(document) ?? { dense: 0, bm25: 0 };
    for (const r of retrievers) {
      const s = r === 'dense' ? d : b;
      if (s) best[r] = Math.max(best[r], contribution(s, r));
    }
    documentScore.set(document, best);
    chunks.push({
      id,
      document,
      fusedScore: (d ? contribution(d, 'dense') : 0) + (b ? contribution(b, 'bm25') : 0),
      tieBreak: (d ? unfloored(d, 'dense') : 0) + (b ? unfloored(b, 'bm25') : 0),
      denseRank: d?.rank ?? null,
      denseScore: d?.score ?? null,
      bm25Rank: b?.rank ?? null,
      bm25Score: b?.score ?? null,
    });
  }
  const ordered = chunks.sort((x, y) => y.fusedScore - x.fusedScore || y.tieBreak - x.tieBreak || byFusedScore(x, y));
  const led = new Set<string>();
  for (const chunk of ordered) {
    if (led.has(chunk.document)) continue;
    led.add(chunk.document);
    const best = documentScore.get(chunk.document)!;
    chunk.fusedScore = best.dense + best.bm25;
  }
  return ordered
    .sort((x, y) => y.fusedScore - x.fusedScore || y.tieBreak - x.tieBreak || byFusedScore(x, y))
    .map(({ document: _document, tieBreak: _tieBreak, ...hit }) => hit);
}
