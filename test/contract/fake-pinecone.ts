/** Moved to testkit so benches can run against it too; kept here for the tests that import it by this path. */
export * from '../../testkit/fake-pinecone.ts';
