import * as cheerio from 'cheerio';
import type { CheerioAPI } from 'cheerio';
import { DocumentError } from '../../core/errors.ts';
import type { LoadedDocument, Loader } from '../types.ts';
import { DocumentBuilder, cleanControlChars, decodeUtf8, fileNameOf, tidyTitle } from './document-builder.ts';
import { HeadingTrail } from './heading-trail.ts';

/** cheerio's node type (domhandler's AnyNode), named without importing a transitive dependency. */
type DomNode = ReturnType<ReturnType<CheerioAPI['root']>['contents']>[number];

/** Page furniture and non-content that would only pollute retrieval. */
const DROPPED = 'script, style, nav, header, footer, aside, noscript, template, svg, iframe';
const BLOCK_TAGS = new Set([
  'address',
  'article',
  'blockquote',
  'body',
  'center',
  'dd',
  'details',
  'div',
  'dl',
  'dt',
  'fieldset',
  'figcaption',
  'figure',
  'form',
  'hr',
  'li',
  'main',
  'ol',
  'p',
  'section',
  'summary',
  'ul',
]);
const HEADING = /^h([1-6])$/;

/** go.dev pages start with a JSON comment such as <!--{ "Title": "Effective Go", "Template": true }-->. */
const JSON_FRONT_MATTER = /^\s*<!--\s*(\{[\s\S]*?\})\s*-->/;
/** A Go template action; group 1 is set when the action just prints a string literal, e.g. {{"{{if .}}"}}. */
const GO_TEMPLATE_ACTION = /\{\{-?\s*("(?:[^"\\]|\\.)*")\s*-?\}\}|\{\{[\s\S]*?\}\}/g;

/**
 * HTML via cheerio: headings h1–h6 make the heading path, <pre> becomes 'code' sections,
 * <table> 'table' sections (cells joined by ' | ', header row kept), the rest prose.
 * Scripts, styles, navigation, headers, footers, asides and comments are dropped.
 */
export const htmlLoader: Loader = {
  mimes: ['text/html'],
  async load(bytes: Uint8Array, source: string): Promise<LoadedDocument> {
    let html = cleanControlChars(decodeUtf8(bytes, source));
    const frontMatter = readJsonFrontMatter(html);
    if (frontMatterField(frontMatter, 'template') === true) html = expandGoTemplateActions(html);

    const $ = cheerio.load(html);
    const titleTag = tidyTitle($('title').first().text());
    const firstH1 = tidyTitle($('h1').first().text());
    $(DROPPED).remove();

    const builder = new DocumentBuilder();
    const body = $('body')[0];
    new BodyWalker($, builder).walk(body ?? $.root()[0]!);
    if (builder.isEmpty) throw new DocumentError(source, 'contains no text');

    const declaredTitle = frontMatterField(frontMatter, 'title');
    const frontMatterTitle = typeof declaredTitle === 'string' ? tidyTitle(declaredTitle) : undefined;
    return builder.build({
      source,
      title: titleTag ?? firstH1 ?? frontMatterTitle ?? fileNameOf(source),
      mime: 'text/html',
      metadata: { bytes: bytes.length, ...(frontMatter ? { frontMatter } : {}) },
    });
  },
};

/**
 * Adds the body of an HTML page to a builder with the same rules as the HTML loader. Formats
 * that are HTML underneath (Word converted by mammoth, EPUB chapters) share them through this.
 */
export function addHtmlBody(html: string, builder: DocumentBuilder): void {
  const $ = cheerio.load(cleanControlChars(html));
  $(DROPPED).remove();
  new BodyWalker($, builder).walk($('body')[0] ?? $.root()[0]!);
}

/** Walks the DOM in reading order, collecting inline text until a block boundary. Comments carry no text and are skipped. */
class BodyWalker {
  private readonly headings = new HeadingTrail();
  private inline = '';
  /** '- ' while inside a list item whose text has not been written yet. */
  private listMarker = '';

  constructor(
    private readonly $: CheerioAPI,
    private readonly builder: DocumentBuilder,
  ) {}

  walk(root: DomNode): void {
    this.visit(root);
    this.flush();
  }

  private visit(node: DomNode): void {
    if (node.type === 'text') {
      this.inline += node.data.replace(/\s+/g, ' '); // HTML collapses whitespace
      return;
    }
    if (!('children' in node)) return;
    const tag = 'name' in node ? node.name.toLowerCase() : '';
    const headingLevel = HEADING.exec(tag)?.[1];
    if (headingLevel) {
      this.flush();
      this.headings.enter(Number(headingLevel), this.$(node).text());
    } else if (tag === 'pre') {
      this.flush();
      this.builder.addCode(this.$(node).text(), this.place);
    } else if (tag === 'table') {
      this.flush();
      this.builder.addTable(this.tableRows(node), this.place);
    } else if (tag === 'br') {
      this.inline += '\n';
    } else {
      const isBlock = BLOCK_TAGS.has(tag);
      if (isBlock) this.flush();
      if (tag === 'li') this.listMarker = '- ';
      for (const child of node.children) this.visit(child);
      if (isBlock) this.flush();
      if (tag === 'li') this.listMarker = ''; // an item without text leaves no marker behind
    }
  }

  /** Rows of this table only: rows of a table nested in a cell stay in that cell's text. */
  private tableRows(table: DomNode): string[][] {
    const $ = this.$;
    return $(table)
      .find('tr')
      .filter((_, row) => $(row).closest('table')[0] === table)
      .toArray()
      .map((row) =>
        $(row)
          .children('th, td')
          .toArray()
          .map((cell) => $(cell).text()),
      );
  }

  private get place() {
    return { headingPath: this.headings.path };
  }

  private flush(): void {
    if (this.inline.trim() === '') return;
    this.builder.addText(this.listMarker + this.inline, this.place);
    this.inline = '';
    this.listMarker = '';
  }
}

function readJsonFrontMatter(html: string): Record<string, unknown> | undefined {
  const json = JSON_FRONT_MATTER.exec(html)?.[1];
  if (!json) return undefined;
  try {
    const parsed: unknown = JSON.parse(json);
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined; // a comment that merely looks like JSON is just a comment
  }
}

/** A front-matter field looked up case-insensitively: go.dev pages use both "Title" and "title". */
function frontMatterField(frontMatter: Record<string, unknown> | undefined, key: string): unknown {
  return Object.entries(frontMatter ?? {}).find(([name]) => name.toLowerCase() === key)?.[1];
}

/**
 * go.dev renders pages marked "Template": true through Go's text/template. We cannot run the
 * actions ({{code "file.go"}} includes files we do not have), so they are removed, except
 * string literals, which print themselves. Pages not marked as templates keep their braces:
 * there they are content, e.g. `go list -f '{{.Target}}'`.
 */
function expandGoTemplateActions(html: string): string {
  return html.replace(GO_TEMPLATE_ACTION, (_action, literal: string | undefined) => {
    if (literal === undefined) return '';
    try {
      return String(JSON.parse(literal));
    } catch {
      return literal.slice(1, -1);
    }
  });
}
