import * as cheerio from 'cheerio';
import { lexer, type MarkedToken, type Token, type Tokens } from 'marked';
import { DocumentError } from '../../core/errors.ts';
import type { LoadedDocument, Loader } from '../types.ts';
import { DocumentBuilder, cleanControlChars, decodeUtf8, fileNameOf, tidyTitle } from './document-builder.ts';
import { HeadingTrail } from './heading-trail.ts';

/** YAML (---) or TOML (+++) front matter at the very start of the file. */
const FRONT_MATTER = /^(---|\+\+\+)[ \t]*\n[\s\S]*?\n\1[ \t]*(\n|$)/;
/** mdBook preprocessor directives such as {{#include ../listings/x.rs}}; their targets are not in the file. */
const MDBOOK_DIRECTIVE = /\{\{#[a-z_]+[^}]*\}\}/g;

/**
 * Markdown via marked's lexer: headings make the heading path, fenced and indented code
 * become 'code' sections, tables 'table' sections, everything else prose. The title is the
 * first level-1 heading.
 */
export const markdownLoader: Loader = {
  mimes: ['text/markdown'],
  async load(bytes: Uint8Array, source: string): Promise<LoadedDocument> {
    const raw = cleanControlChars(decodeUtf8(bytes, source));
    const hasFrontMatter = FRONT_MATTER.test(raw);
    const markdown = raw.replace(FRONT_MATTER, '').replace(MDBOOK_DIRECTIVE, '');

    const builder = new DocumentBuilder();
    const headings = new HeadingTrail();
    let firstH1: string | undefined;

    for (const token of lexer(markdown) as MarkedToken[]) {
      const place = { headingPath: headings.path };
      switch (token.type) {
        case 'heading': {
          const heading = inlineText(token.tokens);
          headings.enter(token.depth, heading);
          if (token.depth === 1) firstH1 ??= heading;
          break;
        }
        case 'code':
          builder.addCode(token.text, place);
          break;
        case 'table':
          builder.addTable(
            [token.header, ...token.rows].map((row) => row.map((cell) => inlineText(cell.tokens))),
            place,
          );
          break;
        default:
          builder.addText(blockText(token), place);
      }
    }
    if (builder.isEmpty) throw new DocumentError(source, 'contains no text');

    return builder.build({
      source,
      title: tidyTitle(firstH1) ?? fileNameOf(source),
      mime: 'text/markdown',
      metadata: { bytes: bytes.length, frontMatter: hasFrontMatter },
    });
  },
};

/** Readable text of a block that is not a heading, code or top-level table. */
function blockText(token: MarkedToken): string {
  switch (token.type) {
    case 'paragraph':
      return inlineText(token.tokens);
    case 'text':
      return token.tokens ? inlineText(token.tokens) : decodeEntities(token.text);
    case 'list':
      return listText(token);
    case 'blockquote':
      return blocksText(token.tokens);
    case 'heading':
      return inlineText(token.tokens);
    case 'code':
      return token.text;
    case 'table':
      return [token.header, ...token.rows].map((row) => row.map((cell) => inlineText(cell.tokens)).join(' | ')).join('\n');
    case 'html':
      return htmlText(token.text);
    default: // space, hr, def (link reference definitions) carry no prose
      return '';
  }
}

function blocksText(tokens: Token[]): string {
  return (tokens as MarkedToken[]).map(blockText).filter(Boolean).join('\n');
}

function listText(list: Tokens.List): string {
  const start = typeof list.start === 'number' ? list.start : 1;
  return list.items
    .map((item, i) => {
      const marker = list.ordered ? `${start + i}. ` : '- ';
      const checkbox = item.task ? (item.checked ? '[x] ' : '[ ] ') : '';
      return marker + checkbox + blocksText(item.tokens);
    })
    .join('\n');
}

/** Plain text of inline tokens: emphasis and links reduced to their words, images to their alt text. */
function inlineText(tokens: Token[] | undefined): string {
  return ((tokens ?? []) as MarkedToken[])
    .map((token) => {
      switch (token.type) {
        case 'text':
          return token.tokens ? inlineText(token.tokens) : decodeEntities(token.text);
        case 'escape':
          return token.text;
        case 'codespan':
          return token.text; // code spans show entities literally, so no decoding
        case 'br':
          return '\n';
        case 'html':
          return ''; // an inline tag alone; the text between tags is in the neighbouring tokens
        case 'image':
          return token.text;
        case 'link':
        case 'strong':
        case 'em':
        case 'del':
          return inlineText(token.tokens);
        default:
          return '';
      }
    })
    .join('');
}

function htmlText(html: string): string {
  return cheerio.load(html, null, false).text();
}

function decodeEntities(text: string): string {
  return text.includes('&') ? htmlText(text.replace(/</g, '&lt;')) : text;
}
