import type { Command } from 'commander';
import { badRequest } from '../../core/errors.ts';
import { ledgerStoreFor } from '../../facade/operations.ts';
import { ledgerReport, type LedgerReport } from '../../store/ledger-report.ts';
import { printJson, withRagline } from '../context.ts';

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `7d`, `24h`, `30m`, `2w`, or an ISO date. */
export function parseSince(value: string, now = Date.now()): Date {
  const relative = /^(\d{1,6})([mhdw])$/.exec(value.trim());
  if (relative) return new Date(now - Number(relative[1]) * UNIT_MS[relative[2]!]!);
  const date = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(date.getTime())) {
    throw badRequest(`--since: expected a duration like 7d, 24h, 30m or 2w, or an ISO date; got "${value}"`, { since: value });
  }
  return date;
}

const ms = (v: number | null) => (v === null ? '-' : v < 10 ? v.toFixed(2) : v.toFixed(0));
const pct = (v: number) => `${(v * 100).toFixed(1)} %`;

function print(r: LedgerReport) {
  console.log(
    `Requests since ${r.since}: ${r.requests.total} (${r.requests.answer} answers, ${r.requests.search} searches, ${r.requests.cacheHits} cache hits)`,
  );
  console.log(
    `Answers: ${pct(r.answerOutcomes.answered)} answered, ${pct(r.answerOutcomes.notCovered)} not covered, ${pct(r.answerOutcomes.fallback)} fallback, ${pct(r.answerOutcomes.error)} errors`,
  );
  console.log(
    `Feedback: ${r.feedback.count} (${pct(r.feedback.rate)} of answers), average rating ${r.feedback.averageRating ?? '-'}\n\nLatency by stage (ms, cache misses):`,
  );
  console.table(
    Object.fromEntries(
      Object.entries(r.latency)
        .filter(([, p]) => p.p50 !== null)
        .map(([stage, p]) => [stage.replace(/Ms$/, ''), { p50: ms(p.p50), p95: ms(p.p95) }]),
    ),
  );
  console.log('\nTokens and cost by tenant, key and model:');
  console.table(
    r.usage.map((u) => ({
      tenant: u.tenantId ?? '(cli)',
      key: u.keyId ?? '-',
      model: u.model ?? '-',
      requests: u.requests,
      tokensIn: u.tokensIn,
      tokensOut: u.tokensOut,
      costUsd: u.costUsd.toFixed(6),
    })),
  );
  if (r.routing.routed) {
    const g = r.routing;
    console.log(
      `\nModel routing: ${g.small} small, ${g.strong} strong; cost $${g.costUsd.toFixed(6)} against $${g.strongOnlyCostUsd.toFixed(6)} with the strong model only: saved $${g.savedUsd.toFixed(6)}`,
    );
  }
  if (r.worstRated.length) {
    console.log('\nWorst-rated answers:');
    for (const w of r.worstRated) console.log(`  ${w.rating}/5  ${w.question}${w.comment ? `  — "${w.comment}"` : ''}`);
  }
  if (r.unanswered.length) {
    console.log('\nMost repeated unanswered questions (corpus gaps):');
    for (const u of r.unanswered) console.log(`  ${String(u.count).padStart(4)}×  ${u.question}`);
  }
}

/** `ragline report [--since 7d] [--json]`: volume, latency by stage, outcomes, cost, feedback and corpus gaps from the ledger. */
export function register(program: Command) {
  program
    .command('report')
    .description('Summarize the request ledger: volume, latency per stage, outcomes, tokens and cost, feedback, corpus gaps.')
    .option('--since <when>', 'a duration (7d, 24h, 30m, 2w) or an ISO date', '7d')
    .option('--json', 'print JSON')
    .action(async (opts: { since: string; json?: boolean }) => {
      const since = parseSince(opts.since);
      await withRagline(async (ragline) => {
        const report = await ledgerReport(ledgerStoreFor(ragline.store), since);
        if (opts.json) printJson(report);
        else print(report);
      });
    });
}
