import { afterAll, beforeAll, expect, it } from 'vitest';
import { JobQueue } from '../ingest/jobs/queue.ts';
import { BatchStore } from '../store/batches.ts';
import { HandoffStore } from '../store/handoffs.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { type ScratchStore, openScratchStore, describePostgres } from './helpers/postgres.ts';

/** Migration 012's SQL on the Postgres server (the other suites run it on PGlite). */
const describeIt = await describePostgres();

describeIt('handoffs and batches on the Postgres server', () => {
  let own: ScratchStore;
  let store: SqlStore;
  let collectionId: string;

  beforeAll(async () => {
    own = await openScratchStore('handoffs_batches');
    store = own.store;
    collectionId = (await store.createCollection({ name: 'guide', embeddingModel: 'test', dimensions: 3 })).id;
  });

  afterAll(async () => {
    await own?.close();
  });

  it('opens a handoff once and counts repeats of its question on it until it is resolved', async () => {
    const handoffs = new HandoffStore(store.db);
    const raise = (requestId: string, question: string) =>
      handoffs.record({
        tenantId: 'default',
        collectionId,
        collectionName: 'guide',
        requestId,
        question,
        reason: 'not_covered',
        confidence: 0.12,
        answer: 'not covered',
        webhookState: 'pending',
      });
    const first = await raise('r1', 'Where is the vault?');
    expect(first).toMatchObject({ created: true, handoff: { occurrences: 1, webhook: { state: 'pending' } } });
    const repeat = await raise('r2', '  where IS the vault? ');
    expect(repeat).toMatchObject({ created: false, handoff: { id: first.handoff.id, occurrences: 2, lastRequestId: 'r2' } });
    expect((await handoffs.resolve(first.handoff.id, 'other-tenant', { note: 'x', answer: null, by: 'k' })) ?? null).toBeNull();
    expect((await handoffs.resolve(first.handoff.id, 'default', { note: 'done', answer: null, by: 'k' }))?.changed).toBe(true);
    expect((await raise('r3', 'Where is the vault?')).created).toBe(true);
    await handoffs.setWebhookState(first.handoff.id, 'delivered', 2, null);
    expect((await handoffs.get(first.handoff.id, 'default'))?.webhook).toMatchObject({ state: 'delivered', attempts: 2 });
  });

  it('stores a batch with its questions in order and claims ingestion before its jobs', async () => {
    const batches = new BatchStore(store.db);
    const queue = new JobQueue(store.db);
    const { batch, itemIds } = await batches.create({
      tenantId: 'default',
      keyId: null,
      collectionId,
      collectionName: 'guide',
      settings: { mode: 'bm25' },
      questions: [{ question: 'one' }, { question: 'two', id: 'b' }],
    });
    expect(itemIds).toHaveLength(2);
    await queue.enqueueTasks(
      collectionId,
      'batch_question',
      itemIds.map((id, i) => ({ source: `batch:${batch.id}#${i}`, payload: { batchItemId: id } })),
      { priority: -10 },
    );
    const [ingest] = await queue.enqueue(collectionId, [{ source: 'later.txt', bytes: new TextEncoder().encode('later') }]);
    expect((await queue.claim('w'))?.id).toBe(ingest!.id);
    const next = await queue.claim('w');
    expect(next).toMatchObject({ kind: 'batch_question', priority: -10, payload: { batchItemId: itemIds[0] } });
    expect(await batches.finishItem(itemIds[1]!, 'succeeded', 'req-2', { answer: 'two!', kind: 'extractive', citations: [] })).toBe(true);
    expect(await batches.finishItem(itemIds[1]!, 'succeeded', 'req-late', { answer: 'dup' })).toBe(false);
    await queue.cancel(next!.id);
    const progress = await batches.progress(batch.id, 'default', collectionId);
    expect(progress).toMatchObject({ state: 'completed', succeeded: 1, failed: 1, queued: 0 });
    const items = await batches.items(batch.id, -1, 10);
    expect(items.map((i) => [i.position, i.question, i.label, i.state, i.requestId])).toEqual([
      [0, 'one', null, 'failed', null],
      [1, 'two', 'b', 'succeeded', 'req-2'],
    ]);
    expect(items[0]!.result?.error?.code).toBe('cancelled');
    expect(await batches.progress(batch.id, 'other-tenant', collectionId)).toBeNull();
  });
});
