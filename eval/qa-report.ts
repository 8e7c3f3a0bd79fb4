import { table } from './report.ts';
import type { QaMetrics } from './qa.ts';
import type { QaRun } from './qa-runner.ts';

const f3 = (n: number) => n.toFixed(3);

function metricsRow(label: string, m: QaMetrics): string[] {
  const answerable = m.answerable > 0;
  return [
    label,
    String(m.answerable),
    answerable ? f3(m.hit1) : '-',
    answerable ? f3(m.hit5) : '-',
    answerable ? f3(m.mrr10) : '-',
    answerable ? f3(m.containment5) : '-',
    m.unanswerable ? `${m.refused}/${m.unanswerable}` : '-',
    String(m.falseRefusals),
    m.meanPageSpan.toFixed(2),
  ];
}

/** The overall and per-kind table, then every question that missed and why. */
export function printQaReport(run: QaRun): void {
  const { overall, byKind, misses } = run.report;
  console.log(`\n${run.questions} questions on collection ${run.collection} (${run.seconds.toFixed(1)} s)\n`);
  console.log(
    table(
      ['kind', 'answerable', 'hit@1', 'hit@5', 'MRR@10', 'contain@5', 'refused (unanswerable)', 'false refusals', 'page span'],
      [metricsRow('all', overall), ...Object.entries(byKind).map(([kind, m]) => metricsRow(kind, m))],
    ),
  );
  if (!misses.length) return;
  console.log('\nmisses');
  for (const miss of misses) {
    console.log(`- ${miss.id} (${miss.kind}) ${miss.question}\n  ${miss.problems.join('; ')}`);
    for (const [i, t] of miss.top.entries()) console.log(`  ${i + 1}. ${t.source} p.${t.pages}: ${t.text}`);
  }
}
