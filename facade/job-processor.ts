import type { Ragline } from './ragline.ts';
import { JobFailure, isPermanentCode, type JobProcessor } from '../ingest/jobs/worker.ts';

/** The real processor: the stored upload through Ragline's ingestion pipeline. */
export function pipelineProcessor(ragline: Ragline): JobProcessor {
  return async (job, upload, report, signal) => {
    const collection = await ragline.collectionById(job.collectionId);
    const pipeline = await ragline.pipeline();
    const outcome = await pipeline.ingest(
      collection,
      {
        source: upload.source,
        bytes: upload.bytes,
        mime: upload.mimeHint ?? undefined,
        title: upload.title ?? undefined,
        metadata: upload.metadata,
        uploadSeq: upload.seq,
      },
      (p) => report({ stage: p.stage, pages: p.pages, chunksDone: p.chunksDone, chunksTotal: p.chunksTotal }),
      signal,
    );
    switch (outcome.status) {
      case 'failed':
        throw new JobFailure(outcome.error, isPermanentCode(outcome.error.code));
      case 'skipped':
        return {
          documentId: outcome.document.id,
          status: 'skipped',
          chunks: outcome.document.chunkCount,
          pages: outcome.document.pageCount,
        };
      default:
        return { documentId: outcome.document.id, status: outcome.status, chunks: outcome.chunks, pages: outcome.pages };
    }
  };
}
