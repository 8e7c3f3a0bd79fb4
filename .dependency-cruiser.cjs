/**
 * The layer rules (README, "The shape of it"). Each folder is one stage; a module imports only
 * from its own layer or below:
 *
 *   core → models → store → ingest | retrieval → answer → facade → api | eval | testkit → cli | bench
 *
 * `npm run lint:layers` checks them; test/layers.test.ts proves each rule fires.
 */
const layer = (...folders) => `^(${folders.join('|')})/`;

const BELOW = {
  core: [],
  models: ['core'],
  store: ['core', 'models'],
  ingest: ['core', 'models', 'store'],
  retrieval: ['core', 'models', 'store'],
  answer: ['core', 'models', 'store', 'ingest', 'retrieval'],
  facade: ['core', 'models', 'store', 'ingest', 'retrieval', 'answer'],
  api: ['core', 'models', 'store', 'ingest', 'retrieval', 'answer', 'facade'],
  eval: ['core', 'models', 'store', 'ingest', 'retrieval', 'answer', 'facade'],
  testkit: ['core', 'models', 'store', 'ingest', 'retrieval', 'answer', 'facade'],
  cli: ['core', 'models', 'store', 'ingest', 'retrieval', 'answer', 'facade', 'api', 'eval'],
  bench: ['core', 'models', 'store', 'ingest', 'retrieval', 'answer', 'facade', 'api', 'eval', 'testkit'],
};
const ALL = Object.keys(BELOW);

module.exports = {
  forbidden: [
    ...ALL.map((name) => ({
      name: `${name}-imports-only-downward`,
      comment: `${name}/ may import only from: ${[name, ...BELOW[name]].join(', ')}`,
      severity: 'error',
      from: { path: layer(name) },
      to: { path: layer(...ALL), pathNot: layer(name, ...BELOW[name]) },
    })),
    {
      name: 'ingest-and-retrieval-are-siblings',
      comment: 'ingest/ and retrieval/ sit side by side: neither imports the other',
      severity: 'error',
      from: { path: layer('ingest', 'retrieval') },
      to: { path: layer('ingest', 'retrieval'), pathNot: '^$1/' },
    },
    {
      name: 'nothing-imports-test',
      comment: 'test/ is a leaf: production, bench and eval code never import it',
      severity: 'error',
      from: { pathNot: '^test/' },
      to: { path: '^test/' },
    },
    {
      name: 'console-is-a-leaf',
      comment: 'console/ is browser code served as files: it imports only console/, and nothing imports it',
      severity: 'error',
      from: { path: '^console/' },
      to: { pathNot: '^console/' },
    },
    {
      name: 'nothing-imports-console',
      comment: 'api/ serves console/ as static files; no module imports them',
      severity: 'error',
      from: { pathNot: '^console/' },
      to: { path: '^console/' },
    },
    {
      name: 'no-cycles',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|\\.ragline|bench/results)' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs'] },
  },
};
