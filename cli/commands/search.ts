import type { Command } from 'commander';
import { badRequest } from '../../core/errors.ts';
import type { SearchRequestInput } from '../../retrieval/types.ts';
import { printJson, withRagline } from '../context.ts';
import { resolveTenant, tenantScopeOption } from './tenancy.ts';

const int = (v: string) => Number.parseInt(v, 10);

function parseJsonOption(name: string, raw: string | undefined): unknown {
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    throw badRequest(`--${name} must be JSON`);
  }
}

/** Shared by `search` and `ask`: the CLI spelling of the search request. */
export function addSearchOptions(cmd: Command): Command {
  return cmd
    .option('-c, --collection <name>', 'collection name', 'default')
    .option('-k, --top-k <n>', 'results to return', int)
    .option('--mode <mode>', 'hybrid | dense | bm25')
    .option('--fusion <fusion>', 'rrf | convex')
    .option('--rrf-k <k>', 'RRF constant', Number)
    .option('--weights <dense,bm25>', 'retriever weights, e.g. 1,0.5')
    .option('--candidates <n>', 'candidates per retriever', int)
    .option('--filter <json>', 'metadata filter, e.g. {"source":{"prefix":"docs/"}}')
    .addOption(tenantScopeOption());
}

export function searchRequestFromOptions(query: string, o: Record<string, unknown>): SearchRequestInput {
  const weights = typeof o.weights === 'string' ? o.weights.split(',').map(Number) : undefined;
  if (weights && (weights.length !== 2 || weights.some((w) => !Number.isFinite(w)))) {
    throw badRequest('--weights takes two numbers: dense,bm25');
  }
  return {
    query,
    topK: o.topK as number | undefined,
    mode: o.mode as SearchRequestInput['mode'],
    fusion: o.fusion as SearchRequestInput['fusion'],
    k: o.rrfK as number | undefined,
    weights: weights ? { dense: weights[0]!, bm25: weights[1]! } : undefined,
    candidates: o.candidates as number | undefined,
    filter: parseJsonOption('filter', o.filter as string | undefined) as SearchRequestInput['filter'],
  };
}

export function registerSearchCommand(program: Command) {
  addSearchOptions(program.command('search').description('Hybrid search over a collection.').argument('<query>'))
    .option('--json', 'print the full JSON response')
    .action(async (query: string, opts: Record<string, unknown>) => {
      await withRagline(async (ragline) => {
        const collection = await ragline.collection(String(opts.collection), await resolveTenant(ragline, String(opts.tenant)));
        const response = await ragline.search(collection, searchRequestFromOptions(query, opts));
        if (opts.json) return printJson(response);
        response.hits.forEach((hit, i) => {
          const c = hit.chunk;
          const where = [c.source, c.pageStart ? `p.${c.pageStart}` : '', c.headingPath.join(' › ')].filter(Boolean).join(' · ');
          const e = hit.explanation;
          console.log(
            `${i + 1}. [${hit.score.toFixed(4)}] ${where}\n   dense #${e.denseRank ?? '-'} bm25 #${e.bm25Rank ?? '-'}\n   ${c.text.slice(0, 220).replace(/\s+/g, ' ')}…`,
          );
        });
        const t = response.timings;
        console.log(
          `\n${response.settings.mode}/${response.settings.fusion} in ${t.totalMs.toFixed(1)} ms (embed ${t.embedMs.toFixed(1)}, dense ${t.denseMs.toFixed(1)}, bm25 ${t.bm25Ms.toFixed(1)})`,
        );
      });
    });
}
