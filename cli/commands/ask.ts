import type { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { AnswerService, type AnswerRequestInput, type AnswerResponse } from '../../answer/service.ts';
import { openOperations } from '../../facade/operations.ts';
import type { RequestContext, TracedQueries } from '../../facade/traced-queries.ts';
import type { Collection } from '../../store/types.ts';
import { printJson, withRagline } from '../context.ts';
import { addSearchOptions, searchRequestFromOptions } from './search.ts';
import { resolveTenant } from './tenancy.ts';

function describeKind(r: Omit<AnswerResponse, 'chunks'>): string | undefined {
  if (r.refusal) return `refused by a guardrail (${r.refusal.reason}): ${r.refusal.message}`;
  if (r.fallback) return `extractive answer: the language model was unavailable (${r.fallback.reason})`;
  if (r.kind === 'extractive') return 'extractive answer: sentences quoted from the documents, no language model';
  return undefined;
}

function printSources(r: Omit<AnswerResponse, 'chunks'>) {
  if (r.citations.length) {
    console.log('\nSources:');
    for (const c of r.citations) {
      const where = [c.source, c.page !== null ? `p. ${c.page}` : ''].filter(Boolean).join(', ');
      console.log(`  [${c.marker}] ${where}\n      "${c.quote.replace(/\s+/g, ' ')}"`);
    }
  }
  const note = describeKind(r);
  const cost = r.usage.costUsd === null ? 'cost unknown' : `$${r.usage.costUsd.toFixed(6)}`;
  console.log(
    `\n${[note, `${r.model ?? 'no model'} · ${r.promptVersion ?? '-'} · ${r.timings.totalMs.toFixed(0)} ms · ${cost}`].filter(Boolean).join('\n')}`,
  );
  if (r.strippedMarkers.length) console.log(`removed citations of unknown sources: ${r.strippedMarkers.map((m) => `[${m}]`).join(' ')}`);
  if (r.suspiciousChunks.length) {
    console.log(
      `warning: ${r.suspiciousChunks.length} retrieved chunk(s) look like prompt injection: ${r.suspiciousChunks.map((f) => `[${f.marker}] ${f.source}`).join(', ')}`,
    );
  }
}

/** `ragline ask "<question>"`: a grounded answer with numbered sources. */
export function register(program: Command) {
  addSearchOptions(
    program.command('ask').description('Answer a question from a collection, citing the chunks used.').argument('<question>'),
  )
    .option('--json', 'print the full JSON response (with --stream: one JSON event per line)')
    .option('--stream', 'print the answer as it is generated')
    .option('--allow-any-top-k', 'allow --top-k outside 5–10')
    .option('--config <name>', "a named config of the collection instead of its active one (or its experiment's variant)")
    .option('--user <id>', 'the end user an experiment assigns a variant by')
    .action(async (question: string, opts: Record<string, unknown>) => {
      const { query: _query, ...search } = searchRequestFromOptions(question, opts);
      // Options left out stay unset, so the collection's config (then the defaults) fills them.
      const request: AnswerRequestInput = {
        ...search,
        question,
        ...(opts.allowAnyTopK ? { allowAnyTopK: true } : {}),
        ...(typeof opts.config === 'string' ? { config: opts.config } : {}),
        ...(typeof opts.user === 'string' ? { user: opts.user } : {}),
      };
      await withRagline(async (ragline) => {
        // The CLI's answers are traced too (in the --tenant tenant; key "cli"), written before the command exits.
        const operations = openOperations(ragline, AnswerService.fromConfig(ragline));
        const service = operations.queries;
        const tenantId = await resolveTenant(ragline, String(opts.tenant));
        const context = { requestId: randomUUID(), tenantId, keyId: 'cli' };
        // Resolved inside the traced call, like the HTTP route, so a miss is traced too.
        const collection = () => ragline.collection(String(opts.collection), tenantId);
        try {
          if (!opts.stream) {
            const response = await service.answer(context, collection, request);
            if (opts.json) return printJson(response);
            console.log(response.answer);
            return printSources(response);
          }
          await streamAnswer(service, context, collection, request, Boolean(opts.json));
        } finally {
          await operations.close();
        }
      });
    });
}

async function streamAnswer(
  service: TracedQueries,
  context: RequestContext,
  collection: () => Promise<Collection>,
  request: AnswerRequestInput,
  json: boolean,
) {
  const controller = new AbortController();
  const onInterrupt = () => controller.abort();
  process.once('SIGINT', onInterrupt);
  try {
    for await (const e of service.stream(context, collection, request, controller.signal)) {
      if (json) console.log(JSON.stringify(e));
      else if (e.event === 'token') process.stdout.write(e.data.delta);
      else if (e.event === 'done') {
        process.stdout.write('\n');
        printSources(e.data);
      }
    }
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}
