import { expect } from 'vitest';
import { configSchema } from '../../core/config.ts';
import { DocumentError } from '../../core/errors.ts';
import { Ragline } from '../../facade/ragline.ts';
import { openPgliteStore } from '../../store/pglite.ts';
import { testEmbedder } from '../../testkit/embedder.ts';

/** The DocumentError a load must fail with; a 422 for the API. */
export async function refusal(loading: Promise<unknown>): Promise<DocumentError> {
  const err = await loading.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DocumentError);
  expect((err as DocumentError).httpStatus).toBe(422);
  return err as DocumentError;
}

/** Ragline on an in-memory PGlite with the real test model and one empty collection. */
export async function raglineWithCollection(collection: string): Promise<Ragline> {
  const ragline = await Ragline.open(configSchema.parse({}), { store: await openPgliteStore(), embedder: await testEmbedder() });
  await ragline.createCollection(collection);
  return ragline;
}
