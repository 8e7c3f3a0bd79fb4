/** Moved to testkit (the Pinecone fake, which benches use, is built on it); kept here for the fakes that import it by this path. */
export * from '../../testkit/local-server.ts';
