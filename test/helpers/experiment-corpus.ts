/** Six one-line documents, each matching one word of EXPERIMENT_QUERY, so a variant's topK shows in its hit count. */
export const EXPERIMENT_TEXTS = [
  'Reciprocal rank fusion combines the dense and keyword rankings.',
  'Convex fusion mixes normalised scores with weights chosen per query.',
  'Chunks are cut at semantic boundaries under a token cap.',
  'The answer endpoint cites its sources with numbered markers.',
  'Durable jobs are claimed by workers with skip locked.',
  'Rate limits count requests per key and per tenant.',
];
export const EXPERIMENT_QUERY = 'fusion rankings chunks answer jobs limits';
