import { type AddressObject, simpleParser } from 'mailparser';
import { DocumentError } from '../../core/errors.ts';
import type { Attachment, LoadContext, LoadedDocument, Loader } from '../types.ts';
import { EMAIL_MIME } from './detect.ts';
import { DocumentBuilder, fileNameOf, tidyTitle } from './document-builder.ts';
import { addHtmlBody } from './html.ts';
import { DEFAULT_LOAD_CONTEXT } from './limits.ts';

/**
 * RFC 822 messages via mailparser: the subject is the title, sender, recipients and date go to
 * metadata (date as ISO 8601, and as the document's updatedAt, so recency ranks mail by when it was sent), the plain-text body (or the HTML body when there is none) is the
 * text. Attachments are handed back for the pipeline to ingest as documents of their own.
 */
export const emailLoader: Loader = {
  mimes: [EMAIL_MIME],
  async load(bytes: Uint8Array, source: string, { limits }: LoadContext = DEFAULT_LOAD_CONTEXT): Promise<LoadedDocument> {
    const mail = await simpleParser(Buffer.from(bytes), { skipImageLinks: true, skipTextToHtml: true });
    const attachments = mail.attachments.filter((a) => a.contentDisposition === 'attachment' || (a.filename && !a.related));
    if (attachments.length > limits.emailMaxAttachments) {
      throw new DocumentError(source, `has ${attachments.length} attachments, more than the limit of ${limits.emailMaxAttachments}`, {
        attachments: attachments.length,
        limit: limits.emailMaxAttachments,
      });
    }
    const oversized = attachments.find((a) => a.size > limits.emailMaxAttachmentBytes);
    if (oversized) {
      throw new DocumentError(
        source,
        `attachment ${oversized.filename ?? '(unnamed)'} is ${oversized.size} bytes, more than the limit of ${limits.emailMaxAttachmentBytes}`,
        {
          attachment: oversized.filename,
          limit: limits.emailMaxAttachmentBytes,
        },
      );
    }

    const builder = new DocumentBuilder();
    if (mail.text?.trim()) {
      for (const paragraph of mail.text.split(/\n\s*\n/)) builder.addText(paragraph, { headingPath: [] });
    } else if (typeof mail.html === 'string') addHtmlBody(mail.html, builder);
    const subject = tidyTitle(mail.subject);
    if (builder.isEmpty && !attachments.length) throw new DocumentError(source, 'has no body text and no attachments');
    // A message that is only a cover for its attachments is still findable by its headers.
    if (builder.isEmpty)
      builder.addText(`${subject ?? 'Message'} (attachments: ${attachments.map((a) => a.filename).join(', ')})`, { headingPath: [] });

    const files: Attachment[] = attachments.map((a, i) => ({
      fileName: a.filename?.trim() || `attachment-${i + 1}`,
      bytes: new Uint8Array(a.content),
      mime: a.contentType,
    }));
    const sent = mail.date && !Number.isNaN(mail.date.getTime()) ? mail.date : undefined;
    return {
      ...builder.build({
        source,
        title: subject ?? fileNameOf(source),
        mime: EMAIL_MIME,
        metadata: {
          bytes: bytes.length,
          ...(mail.from ? { from: mail.from.text } : {}),
          ...(addresses(mail.to) ? { to: addresses(mail.to) } : {}),
          ...(addresses(mail.cc) ? { cc: addresses(mail.cc) } : {}),
          ...(sent ? { date: sent.toISOString() } : {}),
          ...(mail.messageId ? { messageId: mail.messageId } : {}),
          attachments: files.map((f) => f.fileName),
        },
      }),
      attachments: files,
      // The message's age is its Date header (a claim of the sender, so never later than now).
      ...(sent ? { contentDate: new Date(Math.min(sent.getTime(), Date.now())).toISOString() } : {}),
    };
  },
};

function addresses(field: AddressObject | AddressObject[] | undefined): string | undefined {
  if (!field) return undefined;
  return (
    [field]
      .flat()
      .map((a) => a.text)
      .join(', ') || undefined
  );
}
