import client from 'prom-client';
import type { JobQueue } from '../ingest/jobs/queue.ts';
import { JOB_STATES } from '../ingest/jobs/types.ts';

export interface ApiMetrics {
  registry: client.Registry;
  requests: client.Counter<'method' | 'route' | 'status'>;
  duration: client.Histogram<'method' | 'route' | 'status'>;
}

/**
 * One registry per API instance (tests build many): HTTP counts and latency by route and status,
 * and ingest jobs by state, read from the queue table at scrape time so every worker is counted.
 */
export function createMetrics(queue: JobQueue, options: { processMetrics?: boolean } = {}): ApiMetrics {
  const registry = new client.Registry();
  if (options.processMetrics) client.collectDefaultMetrics({ register: registry, prefix: 'ragline_' });
  const requests = new client.Counter({
    name: 'ragline_http_requests_total',
    help: 'HTTP requests by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new client.Histogram({
    name: 'ragline_http_request_duration_seconds',
    help: 'HTTP request latency by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  new client.Gauge({
    name: 'ragline_ingest_jobs',
    help: 'Ingestion jobs by state',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const counts = await queue.counts();
      for (const state of JOB_STATES) this.set({ state }, counts[state]);
    },
  });
  return { registry, requests, duration };
}
