import type { LoadedDocument } from './types.ts';

/** The parts of an ingest input an attachment inherits or becomes (pipeline.ts's IngestInput fits it). */
interface DocumentInput {
  source: string;
  bytes: Uint8Array;
  mime?: string;
  metadata?: Record<string, unknown>;
  contentDate?: string;
}

/**
 * The files a document carried, as ingest inputs of their own: each source is the parent's
 * source + "/" + the file name, like a path inside the message (numbered when two share a name); its metadata links back
 * to the parent through attachmentOf.
 */
export function attachmentInputs(parent: DocumentInput, doc: LoadedDocument): DocumentInput[] {
  const seen = new Map<string, number>();
  return (doc.attachments ?? []).map((attachment) => {
    const count = (seen.get(attachment.fileName) ?? 0) + 1;
    seen.set(attachment.fileName, count);
    const name = count === 1 ? attachment.fileName : `${attachment.fileName} (${count})`;
    return {
      source: `${parent.source}/${name}`,
      bytes: attachment.bytes,
      ...(attachment.mime ? { mime: attachment.mime } : {}),
      metadata: { ...parent.metadata, attachmentOf: parent.source, attachmentName: attachment.fileName, parentTitle: doc.title },
      // An attachment is as old as the message that carried it.
      ...(doc.contentDate ? { contentDate: doc.contentDate } : {}),
    };
  });
}
