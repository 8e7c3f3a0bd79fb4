/**
 * Load: autocannon against a `ragline serve` process on 127.0.0.1, over a collection of distinct
 * synthetic chunks on Postgres (100k by default, built once in the bench database and reused).
 *
 * - /search (hybrid, top-10): the connection count is stepped up; the sustained rate is the best
 *   requests/s of a step whose accepted-request p95 stays ≤ 100 ms.
 * - past saturation (more connections than the search in-flight limit): the share of 503s, how
 *   fast they come back, the p99 of the accepted requests, and the server's RSS across all steps.
 * - /answer (extractive, answer cache off so every request retrieves and composes).
 *
 * The server's query-embedding cache is warmed with every query first: these steps measure
 * retrieval + HTTP, not the ONNX model (bench query-length reports embedding on its own).
 *
 *   npm run bench load [-- --chunks 100000 --seconds 10 --connections 1,2,4,8,16 --saturate 128 --answer-connections 1,4,32]
 */
import autocannon from 'autocannon';
import { defaultSearchInFlight } from '../core/config.ts';
import { printTable, summarize, writeResults } from '../eval/results.ts';
import { BenchArgsError, BenchFlags, machineLoad, ms } from './bench-args.ts';
import { startServe, type ServeProcess } from './serve-process.ts';
import { benchQueries, DEFAULT_SEEDS, ensureSyntheticCollection, loadBenchEmbedder } from './synthetic-store.ts';

export interface LoadOptions {
  chunks: number;
  seeds: number;
  seconds: number;
  connections: number[];
  saturate: number;
  answerConnections: number[];
  queries: number;
  /** In-flight limits handed to the server (RAGLINE_MAX_IN_FLIGHT_*). */
  maxInFlightSearch: number;
  maxInFlightAnswer: number;
  results: string;
}

export function parseLoadArgs(args: string[]): LoadOptions {
  const flags = new BenchFlags(args);
  const options: LoadOptions = {
    chunks: flags.positiveNumber('chunks', 100_000),
    seeds: flags.positiveNumber('seeds', DEFAULT_SEEDS),
    seconds: flags.positiveNumber('seconds', 10),
    connections: flags.numberList('connections', [1, 2, 4, 8, 16]),
    saturate: flags.positiveNumber('saturate', 128),
    answerConnections: flags.numberList('answer-connections', [1, 4, 32]),
    queries: flags.positiveNumber('queries', 100),
    maxInFlightSearch: flags.positiveNumber('max-in-flight-search', defaultSearchInFlight()),
    maxInFlightAnswer: flags.positiveNumber('max-in-flight-answer', 16),
    results: flags.resultsName('load'),
  };
  flags.finish();
  if (options.seconds > 60) throw new BenchArgsError('--seconds is at most 60 per step (the bench is bounded)');
  if (Math.max(...options.connections, options.saturate, ...options.answerConnections) > 512)
    throw new BenchArgsError('at most 512 connections');
  return options;
}

interface StepResult {
  route: string;
  connections: number;
  seconds: number;
  requests: number;
  requestsPerSecond: number;
  accepted: number;
  acceptedPerSecond: number;
  shed: number;
  shedShare: number;
  otherStatuses: Record<string, number>;
  errors: number;
  acceptedMs: ReturnType<typeof summarize>;
  shedMs: ReturnType<typeof summarize> | null;
  rssMaxBytes: number;
  loadAverage: [number, number, number];
}

async function step(
  server: ServeProcess,
  route: 'search' | 'answer',
  path: string,
  bodies: string[],
  connections: number,
  seconds: number,
): Promise<StepResult> {
  const accepted: number[] = [];
  const shed: number[] = [];
  const other: Record<string, number> = {};
  let next = 0;
  let rssMax = await server.rssBytes();
  const sampler = setInterval(() => {
    server
      .rssBytes()
      .then((b) => (rssMax = Math.max(rssMax, b)))
      .catch(() => {});
  }, 1000);
  let finished: (result: autocannon.Result) => void = () => {};
  let failed: (err: unknown) => void = () => {};
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    finished = resolve;
    failed = reject;
  });
  const instance = autocannon(
    {
      url: server.url,
      connections,
      duration: seconds,
      // A request that has not come back in 30 s counts as an error rather than hanging the step.
      timeout: 30,
      requests: [
        {
          method: 'POST',
          path,
          headers: { 'content-type': 'application/json' },
          setupRequest: (request) => ({ ...request, body: bodies[next++ % bodies.length] }),
        },
      ],
    },
    (err, result) => (err ? failed(err) : finished(result)),
  );
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    if (statusCode >= 200 && statusCode < 300) accepted.push(responseTime);
    else if (statusCode === 503) shed.push(responseTime);
    else other[statusCode] = (other[statusCode] ?? 0) + 1;
  });
  const result = await done;
  clearInterval(sampler);
  rssMax = Math.max(rssMax, await server.rssBytes());
  const requests = accepted.length + shed.length + Object.values(other).reduce((a, b) => a + b, 0);
  const elapsed = result.duration || seconds;
  return {
    route,
    connections,
    seconds: elapsed,
    requests,
    requestsPerSecond: requests / elapsed,
    accepted: accepted.length,
    acceptedPerSecond: accepted.length / elapsed,
    shed: shed.length,
    shedShare: requests ? shed.length / requests : 0,
    otherStatuses: other,
    errors: result.errors + result.timeouts,
    acceptedMs: summarize(accepted),
    shedMs: shed.length ? summarize(shed) : null,
    rssMaxBytes: rssMax,
    loadAverage: machineLoad().loadAverage,
  };
}

const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);

function row(s: StepResult): Record<string, string | number> {
  return {
    route: s.route,
    connections: s.connections,
    'req/s': Math.round(s.requestsPerSecond),
    '2xx/s': Math.round(s.acceptedPerSecond),
    '2xx p50/p95/p99 ms': `${ms(s.acceptedMs.p50)} / ${ms(s.acceptedMs.p95)} / ${ms(s.acceptedMs.p99)}`,
    '503 share': `${Math.round(s.shedShare * 1000) / 10} %`,
    '503 p99 ms': s.shedMs ? ms(s.shedMs.p99) : '–',
    'other/errors':
      `${Object.entries(s.otherStatuses)
        .map(([k, v]) => `${k}×${v}`)
        .join(' ')}${s.errors ? ` err×${s.errors}` : ''}`.trim() || '0',
    'RSS max MB': mb(s.rssMaxBytes),
    load: s.loadAverage[0],
  };
}

export async function runLoadBench(args: string[] = []): Promise<string> {
  const options = parseLoadArgs(args);
  const embedder = await loadBenchEmbedder();
  const queries = await benchQueries(embedder, options.queries);
  const { databaseUrl, collection, builtNow } = await ensureSyntheticCollection(embedder, options.chunks, options.seeds);
  await embedder.close();
  console.log(`collection ${collection.name} (${options.chunks} chunks) ${builtNow ? 'built now' : 'reused'}; starting ragline serve…`);

  const server = await startServe(databaseUrl, {
    env: {
      RAGLINE_MAX_IN_FLIGHT_SEARCH: String(options.maxInFlightSearch),
      RAGLINE_MAX_IN_FLIGHT_ANSWER: String(options.maxInFlightAnswer),
      RAGLINE_ANSWER_CACHE_SIZE: '0',
    },
  });
  const steps: StepResult[] = [];
  let rssStartBytes = 0;
  try {
    const searchPath = `/v1/collections/${collection.name}/search`;
    const answerPath = `/v1/collections/${collection.name}/answer`;
    const searchBodies = queries.map((q) => JSON.stringify({ query: q.text, mode: 'hybrid', topK: 10 }));
    const answerBodies = queries.map((q) => JSON.stringify({ question: q.text }));
    // Warm-up: every query once (fills the server's query-embedding cache), and one answer.
    for (const body of searchBodies) {
      const res = await fetch(`${server.url}${searchPath}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      if (res.status !== 200) throw new Error(`warm-up search answered ${res.status}: ${await res.text()}`);
    }
    const answer = await fetch(`${server.url}${answerPath}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: answerBodies[0],
    });
    if (answer.status !== 200) throw new Error(`warm-up answer answered ${answer.status}: ${await answer.text()}`);
    rssStartBytes = await server.rssBytes();

    for (const c of [...options.connections, options.saturate]) {
      const s = await step(server, 'search', searchPath, searchBodies, c, options.seconds);
      steps.push(s);
      console.log(
        `search c=${c}: ${Math.round(s.acceptedPerSecond)} 2xx/s, p95 ${ms(s.acceptedMs.p95)} ms, 503 ${Math.round(s.shedShare * 100)} %`,
      );
    }
    for (const c of options.answerConnections) {
      const s = await step(server, 'answer', answerPath, answerBodies, c, options.seconds);
      steps.push(s);
      console.log(
        `answer c=${c}: ${Math.round(s.acceptedPerSecond)} 2xx/s, p95 ${ms(s.acceptedMs.p95)} ms, 503 ${Math.round(s.shedShare * 100)} %`,
      );
    }
  } finally {
    await server.stop();
  }

  const withinTarget = steps.filter((s) => s.route === 'search' && s.shed === 0 && s.accepted > 0 && s.acceptedMs.p95 <= 100);
  const sustained = withinTarget.sort((a, b) => b.acceptedPerSecond - a.acceptedPerSecond)[0];
  const saturated = steps.find((s) => s.route === 'search' && s.connections === options.saturate);
  const summary = {
    sustainedSearchPerSecondAtP95Under100ms: sustained ? Math.round(sustained.acceptedPerSecond) : null,
    sustainedAtConnections: sustained?.connections ?? null,
    saturation: saturated
      ? {
          connections: saturated.connections,
          shedShare: saturated.shedShare,
          shedP99Ms: saturated.shedMs?.p99 ?? null,
          acceptedP99Ms: saturated.acceptedMs.p99,
        }
      : null,
    rssStartMb: mb(rssStartBytes),
    rssMaxMb: mb(Math.max(rssStartBytes, ...steps.map((s) => s.rssMaxBytes))),
  };
  const machine = machineLoad();
  printTable(
    `Load: autocannon → ragline serve (Postgres, ${options.chunks} distinct chunks), ${options.seconds} s per step, ` +
      `in-flight limits search ${options.maxInFlightSearch} / answer ${options.maxInFlightAnswer}; ${machine.uptime}`,
    steps.map(row),
  );
  printTable('Summary', [
    {
      'sustained /search 2xx/s at p95 ≤ 100 ms': summary.sustainedSearchPerSecondAtP95Under100ms ?? 'none',
      'at connections': summary.sustainedAtConnections ?? '–',
      [`503 share at ${options.saturate}`]: saturated ? `${Math.round(saturated.shedShare * 1000) / 10} %` : '–',
      'accepted p99 ms': saturated ? ms(saturated.acceptedMs.p99) : '–',
      'RSS start → max MB': `${summary.rssStartMb} → ${summary.rssMaxMb}`,
    },
  ]);
  return writeResults(options.results, { options, machine, collection: { name: collection.name, chunks: options.chunks }, summary, steps });
}
