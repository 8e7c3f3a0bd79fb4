import { type Command, InvalidArgumentError, Option } from 'commander';
import { RaglineError, notFound } from '../../core/errors.ts';
import { handoffStoreFor } from '../../facade/handoffs.ts';
import { HANDOFF_STATES } from '../../store/handoffs.ts';
import { printJson, withRagline } from '../context.ts';
import { cliActor, tenantOption } from './tenancy.ts';

function pageSize(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 200) throw new InvalidArgumentError('expected an integer from 1 to 200');
  return n;
}

/** `ragline handoffs list|resolve`: the human handoff queue, on the store directly (docs/handoffs-batches.md). */
export function register(program: Command) {
  const handoffs = program
    .command('handoffs')
    .description('Questions handed off to a person: not covered or answered with low confidence.');
  handoffs
    .command('list')
    .description("List a tenant's handoffs, newest first.")
    .addOption(tenantOption())
    .addOption(new Option('--state <state>', 'open or resolved').choices([...HANDOFF_STATES]))
    .option('--collection <name>', 'only this collection')
    .option('--limit <n>', 'at most this many (1–200)', pageSize, 50)
    .option('--json', 'print JSON')
    .action(
      async (opts: { tenant: string; state?: (typeof HANDOFF_STATES)[number]; collection?: string; limit: number; json?: boolean }) => {
        await withRagline(async (ragline) => {
          const collection = opts.collection ? await ragline.store.getCollection(opts.collection, opts.tenant) : undefined;
          if (opts.collection && !collection) throw notFound(`collection "${opts.collection}" not found in tenant ${opts.tenant}`);
          const rows = await handoffStoreFor(ragline.store).list({
            tenantId: opts.tenant,
            state: opts.state,
            collectionId: collection?.id,
            limit: opts.limit,
            offset: 0,
          });
          if (opts.json) return printJson(rows);
          if (!rows.length) return console.log(`no handoffs in tenant ${opts.tenant}`);
          console.table(
            rows.map((h) => ({
              id: h.id,
              state: h.state,
              reason: h.reason,
              collection: h.collectionName,
              asked: h.occurrences,
              question: h.question.length > 80 ? `${h.question.slice(0, 77)}...` : h.question,
              webhook: h.webhook.state,
            })),
          );
        });
      },
    );
  handoffs
    .command('resolve')
    .description('Resolve a handoff with a note (and optionally the answer it should have had).')
    .argument('<id>', 'handoff id')
    .addOption(tenantOption())
    .requiredOption('--note <text>', 'what was found or done')
    .option('--answer <text>', 'the answer the question should have had')
    .option('--json', 'print the resolved handoff as JSON')
    .action(async (id: string, opts: { tenant: string; note: string; answer?: string; json?: boolean }) => {
      const note = opts.note.trim();
      if (!note || note.length > 4_000) throw new RaglineError('bad_request', '--note must be 1 to 4000 characters');
      if (opts.answer !== undefined && (!opts.answer.trim() || opts.answer.length > 20_000)) {
        throw new RaglineError('bad_request', '--answer must be 1 to 20000 characters');
      }
      await withRagline(async (ragline) => {
        const outcome = await handoffStoreFor(ragline.store).resolve(id, opts.tenant, {
          note,
          answer: opts.answer?.trim() ?? null,
          by: cliActor(opts.tenant).keyId,
        });
        if (!outcome) throw notFound(`handoff "${id}" not found in tenant ${opts.tenant}`);
        if (!outcome.changed) throw new RaglineError('conflict', `handoff "${id}" is already resolved`);
        if (opts.json) return printJson(outcome.handoff);
        console.log(`handoff ${id} resolved`);
      });
    });
}
