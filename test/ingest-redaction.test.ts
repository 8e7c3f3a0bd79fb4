import { afterAll, beforeAll, expect, it } from 'vitest';
import { configSchema } from '../core/config.ts';
import { Ragline } from '../facade/ragline.ts';
import { openPgliteStore } from '../store/pglite.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { describeShared } from './helpers/shared.ts';

const DOC =
  '# Contacts for jane.doe@example.com\n\nThe on-call engineer is Jane Doe, reachable at jane.doe@example.com or +44 20 7946 0958. ' +
  'Refunds go to IBAN GB82 WEST 1234 5698 7654 32; the order number 1234567812345678 is not a card. ' +
  'Backups run nightly and are kept for 30 days.\n';

describeShared('PII redaction at ingestion (PGlite + real model)', () => {
  let store: SqlStore;
  const open = async (redactIngest: boolean) =>
    Ragline.open(configSchema.parse({ guardrails: { redactIngest, redactKinds: ['email', 'phone', 'iban', 'card'] } }), {
      store,
      embedder: await testEmbedder(),
    });

  beforeAll(async () => {
    store = await openPgliteStore();
  });
  afterAll(async () => {
    await store?.close();
  });

  const storedText = async (collection: string) => {
    const c = (await store.getCollection(collection))!;
    const { rows } = await store.db.query(
      'SELECT c.text, c.heading_path, d.title, d.metadata FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.collection_id = $1',
      [c.id],
    );
    return JSON.stringify(rows);
  };

  it('stores and indexes no PII when switched on, and keeps look-alikes', async () => {
    const ragline = await open(true);
    await ragline.createCollection('redacted');
    const [outcome] = await ragline.ingest('redacted', [
      { source: 'contacts.md', bytes: Buffer.from(DOC), metadata: { owner: 'jane.doe@example.com', team: 'ops' } },
    ]);
    expect(outcome!.status).toBe('ingested');
    const stored = await storedText('redacted');
    expect(stored).not.toMatch(/jane\.doe@example\.com|7946 0958|GB82 WEST/);
    expect(stored).toContain('[REDACTED EMAIL]');
    expect(stored).toContain('[REDACTED PHONE]');
    expect(stored).toContain('[REDACTED IBAN]');
    expect(stored).toContain('1234567812345678');
    expect(stored).toContain('"team":"ops"');

    const search = await ragline.search('redacted', { query: 'jane.doe@example.com', mode: 'bm25' });
    expect(JSON.stringify(search.hits)).not.toContain('jane.doe@example.com');
  });

  it('stores the text as written when off, and re-ingests an unchanged document once it is switched on', async () => {
    const plain = await open(false);
    await plain.createCollection('plain');
    const input = { source: 'contacts.md', bytes: Buffer.from(DOC) };
    expect((await plain.ingest('plain', [input]))[0]!.status).toBe('ingested');
    expect(await storedText('plain')).toContain('jane.doe@example.com');

    expect((await plain.ingest('plain', [input]))[0]!.status).toBe('skipped');
    const redacting = await open(true);
    expect((await redacting.ingest('plain', [input]))[0]!.status).toBe('updated');
    expect(await storedText('plain')).not.toContain('jane.doe@example.com');
  });
});
