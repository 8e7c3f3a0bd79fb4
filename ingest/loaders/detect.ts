import { fileTypeFromBuffer } from 'file-type';
import { DocumentError } from '../../core/errors.ts';

export const PDF_MIME = 'application/pdf';
export const TEXT_MIMES = ['text/plain', 'text/markdown', 'text/html'] as const;
export type TextMime = (typeof TEXT_MIMES)[number];
export const DOCX_MIME = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
export const PPTX_MIME = 'application/vnd.openxmlformats-officedocument.presentationml.presentation';
export const XLSX_MIME = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
export const EPUB_MIME = 'application/epub+zip';
/** OLE compound files: legacy .doc/.xls/.ppt, and every password-protected Office file. */
export const CFB_MIME = 'application/x-cfb';
export const CSV_MIME = 'text/csv';
export const EMAIL_MIME = 'message/rfc822';
export const IMAGE_MIMES = ['image/png', 'image/jpeg'] as const;
const ZIP_MIMES = [DOCX_MIME, PPTX_MIME, XLSX_MIME, EPUB_MIME] as const;
type ZipMime = (typeof ZIP_MIMES)[number];
type ImageMime = (typeof IMAGE_MIMES)[number];
export type SupportedMime = TextMime | typeof PDF_MIME | ZipMime | ImageMime | typeof CFB_MIME | typeof CSV_MIME | typeof EMAIL_MIME;

export interface Detection {
  mime: SupportedMime;
  /** What decided the type: the file's bytes, the caller's declared type, its extension, or a look at its text. */
  via: 'magic-bytes' | 'declared' | 'extension' | 'content';
}

const EXTENSION_MIMES: Record<string, TextMime> = {
  txt: 'text/plain',
  text: 'text/plain',
  md: 'text/markdown',
  markdown: 'text/markdown',
  mdown: 'text/markdown',
  html: 'text/html',
  htm: 'text/html',
  xhtml: 'text/html',
};

/** Zip containers are told apart by what is inside; a broken one falls back to its name, so its loader can say what is wrong. */
const ZIP_EXTENSIONS: Record<string, ZipMime> = { docx: DOCX_MIME, pptx: PPTX_MIME, xlsx: XLSX_MIME, epub: EPUB_MIME };
const OFFICE_EXTENSIONS = new Set(['docx', 'pptx', 'xlsx', 'doc', 'xls', 'ppt']);

/** Text formats that are not prose: the name or declared type says which. */
const STRUCTURED_TEXT_EXTENSIONS: Record<string, typeof CSV_MIME | typeof EMAIL_MIME> = { csv: CSV_MIME, eml: EMAIL_MIME };
const DECLARED_STRUCTURED = new Set<string>([CSV_MIME, EMAIL_MIME]);

const DECLARED_ALIASES: Record<string, SupportedMime> = {
  'application/csv': CSV_MIME,
  'text/x-markdown': 'text/markdown',
  'application/xhtml+xml': 'text/html',
};

/** Magic-byte results that are really text: file-type recognises XML, which XHTML pages start with. */
const TEXTUAL_MAGIC = new Set(['application/xml', 'text/xml']);

export interface DetectOptions {
  /**
   * Whether the whole file is UTF-8 text without NULs, when `bytes` is only its head (a streamed
   * upload checks that while it arrives); by default it is judged from `bytes`.
   */
  isText?: boolean;
}

/**
 * Decides how to read a document. Binary formats are recognised by their magic bytes, which
 * win over names (a PDF named notes.txt is still a PDF); every other recognised binary is refused
 * unless its bytes are plain UTF-8 text.
 * A file declared or named as PDF without the magic bytes goes to the PDF loader, which
 * reports it as corrupt if pdf.js cannot read it. Text must be valid UTF-8 without NULs; its
 * flavour comes from the declared MIME type, then the extension, then a look at the content.
 */
export async function detectType(
  bytes: Uint8Array,
  source: string,
  declaredMime?: string,
  options: DetectOptions = {},
): Promise<Detection> {
  const magic = await fileTypeFromBuffer(bytes);
  if (magic?.mime === PDF_MIME) return { mime: PDF_MIME, via: 'magic-bytes' };
  const byContainer = containerMime(magic?.mime, extensionOf(source));
  if (byContainer) return { mime: byContainer, via: 'magic-bytes' };
  const isText = options.isText ?? isUtf8Text(bytes);
  // Some signatures are two printable letters ("BM" is a bitmap): text that happens to start
  // with them is still text. Real binaries carry NULs or invalid UTF-8.
  if (magic && !TEXTUAL_MAGIC.has(magic.mime) && !isText) {
    throw new DocumentError(source, `unsupported file type ${magic.ext} (${magic.mime})`, { mime: magic.mime });
  }

  const declared = canonicalMime(declaredMime);
  const extension = extensionOf(source);
  // pdf.js accepts a header a little way into the file, which magic bytes miss; let it judge.
  if (declared === PDF_MIME) return { mime: PDF_MIME, via: 'declared' };
  if (extension === 'pdf' && !isText) return { mime: PDF_MIME, via: 'extension' };
  // Mail is often 8-bit in a legacy charset; mailparser decodes it by its own headers.
  if (declared === EMAIL_MIME) return { mime: EMAIL_MIME, via: 'declared' };
  if (extension === 'eml') return { mime: EMAIL_MIME, via: 'extension' };
  if (!isText) {
    throw new DocumentError(source, 'unsupported file type binary (not UTF-8 text and not a known document format)');
  }
  if (declared) return { mime: declared, via: 'declared' };

  const byExtension = EXTENSION_MIMES[extension] ?? STRUCTURED_TEXT_EXTENSIONS[extension];
  if (byExtension) return { mime: byExtension, via: 'extension' };
  return { mime: sniffTextFlavour(new TextDecoder().decode(bytes.subarray(0, 4096))), via: 'content' };
}

/** 'Text/HTML; charset=utf-8' → 'text/html'; undefined for types no loader reads. */
export function canonicalMime(mime: string | undefined): SupportedMime | undefined {
  const bare = mime?.split(';')[0]?.trim().toLowerCase();
  if (!bare) return undefined;
  if (bare === PDF_MIME || (TEXT_MIMES as readonly string[]).includes(bare) || DECLARED_STRUCTURED.has(bare)) {
    return bare as SupportedMime;
  }
  return DECLARED_ALIASES[bare];
}

/** Office, EPUB and image formats by their magic bytes; undefined for everything else. */
function containerMime(magicMime: string | undefined, extension: string): SupportedMime | undefined {
  if (!magicMime) return undefined;
  if ((ZIP_MIMES as readonly string[]).includes(magicMime)) return magicMime as ZipMime;
  if ((IMAGE_MIMES as readonly string[]).includes(magicMime)) return magicMime as ImageMime;
  if (magicMime === 'application/zip') return ZIP_EXTENSIONS[extension];
  if (magicMime === CFB_MIME && (OFFICE_EXTENSIONS.has(extension) || extension === '')) return CFB_MIME;
  return undefined;
}

function isUtf8Text(bytes: Uint8Array): boolean {
  if (bytes.includes(0)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

function extensionOf(source: string): string {
  const name =
    source
      .replace(/[?#].*$/, '')
      .split(/[\\/]/)
      .pop() ?? '';
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
}

/** A message starts with header fields, one of them a sender or a mail transport trace. */
const EMAIL_HEADERS = /^(?:[A-Za-z-]+:[^\n]*\n(?:[ \t][^\n]*\n)*)*?(?:From|Received|Return-Path|Message-ID|MIME-Version):[^\n]*\n/i;

function sniffTextFlavour(head: string): TextMime | typeof EMAIL_MIME {
  const unix = head.replace(/\r\n/g, '\n');
  if (/^[A-Za-z-]+:/.test(unix) && EMAIL_HEADERS.test(unix) && /^Subject:/im.test(unix)) return EMAIL_MIME;
  const start = head
    .replace(/^\uFEFF/, '')
    .trimStart()
    .toLowerCase();
  if (/^(<!doctype html|<html|<head|<body|<\?xml[^>]*>\s*<html)/.test(start)) return 'text/html';
  if (/^#{1,6} \S/m.test(head) || /^```/m.test(head)) return 'text/markdown';
  return 'text/plain';
}
