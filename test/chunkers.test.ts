import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DocumentError, RaglineError } from '../core/errors.ts';
import { contextPrefix, contextualText, createChunker } from '../ingest/chunkers/index.ts';
import { loadFile } from '../ingest/loaders/index.ts';
import { splitSentences } from '../models/sentences.ts';
import { cosine } from '../core/vectors.ts';
import { buildBlocks } from '../ingest/chunkers/blocks.ts';
import { pooledVector } from '../ingest/chunkers/late.ts';
import { resolveLimits } from '../ingest/chunkers/limits.ts';
import { segmentsOf } from '../ingest/chunkers/plan.ts';
import { windowsOver, WindowStates } from '../ingest/chunkers/windows.ts';
import type { ChunkDraft, ChunkStrategy, ChunkerOptions, LoadedDocument, Section } from '../ingest/types.ts';
import type { Embedder } from '../models/types.ts';
import { testEmbedder } from '../testkit/embedder.ts';
import { DATASETS_DIR, describeShared } from './helpers/shared.ts';

const OPTIONS = { maxTokens: 256, minTokens: 48, targetTokens: 200 };

const PDF_DIR = path.join(DATASETS_DIR, 'pdfs');
const RUST_BOOK = path.join(DATASETS_DIR, 'docs-markdown', 'rust-book', 'src');
const listFiles = (dir: string, ext: string) =>
  fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((f) => f.endsWith(ext))
        .sort()
        .map((f) => path.join(dir, f))
    : [];

/** Each shared file is loaded once per test file: the 260-page PDF alone takes seconds. */
const loadedFiles = new Map<string, Promise<LoadedDocument>>();
function load(file: string): Promise<LoadedDocument> {
  let doc = loadedFiles.get(file);
  if (!doc) {
    doc = loadFile(file);
    loadedFiles.set(file, doc);
  }
  return doc;
}

/** A document built by hand: sections are laid out one after another, two newlines apart. */
function handDoc(parts: Array<Omit<Section, 'charStart'>>, title = 'Hand-made'): LoadedDocument {
  let text = '';
  const sections = parts.map((part) => {
    if (text) text += '\n\n';
    const section = { ...part, charStart: text.length };
    text += part.text;
    return section;
  });
  return { source: 'hand.txt', title, mime: 'text/plain', text, sections, metadata: {} };
}

/** The scifact abstracts, by id (read once, only when a test needs them). */
let scifact: Map<string, string> | undefined;
function abstract(id: string): string {
  scifact ??= new Map(
    fs
      .readFileSync(path.join(DATASETS_DIR, 'scifact', 'corpus.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { _id: string; text: string })
      .map((d) => [d._id, d.text]),
  );
  const text = scifact.get(id);
  if (!text) throw new Error(`scifact abstract ${id} not found`);
  return text;
}

/** Sections whose text overlaps [start, end). */
function sectionsUnder(doc: LoadedDocument, start: number, end: number): Section[] {
  return doc.sections.filter((s) => s.charStart < end && s.charStart + s.text.length > start);
}

/**
 * Everything a chunk list must satisfy, checked against the document rather than the chunker's
 * own bookkeeping: sizes counted again with the model's tokenizer, text found again in doc.text,
 * heading paths/pages/kinds read again from the sections the chunk overlaps, no letter lost.
 */
function expectWellFormed(chunks: ChunkDraft[], doc: LoadedDocument, embedder: Embedder, cap: number, label: string): void {
  const count = (t: string) => embedder.tokenizer.count(t);
  const covered = new Uint8Array(doc.text.length);
  chunks.forEach((chunk, i) => {
    const where = `${label} chunk ${i}`;
    expect(chunk.ordinal, where).toBe(i);
    expect(chunk.text.trim().length, where).toBeGreaterThan(0);
    expect(chunk.tokenCount, where).toBe(count(chunk.text));
    expect(chunk.tokenCount, where).toBeGreaterThan(0);
    expect(chunk.tokenCount, where).toBeLessThanOrEqual(cap);
    expect(count(contextualText(chunk, doc)), `${where} with context`).toBeLessThanOrEqual(cap);

    expect(chunk.charStart, where).toBeGreaterThanOrEqual(0);
    expect(chunk.charEnd, where).toBeLessThanOrEqual(doc.text.length);
    expect(chunk.charEnd, where).toBeGreaterThan(chunk.charStart);
    const slice = doc.text.slice(chunk.charStart, chunk.charEnd);
    if (chunk.text !== slice) {
      // Only a piece of a split table differs: it opens with the table's header row.
      const header = chunk.text.slice(0, chunk.text.length - slice.length - 1);
      expect(chunk.text, where).toBe(`${header}\n${slice}`);
      expect(doc.text.lastIndexOf(header, chunk.charStart), where).toBeGreaterThanOrEqual(0);
    }
    covered.fill(1, chunk.charStart, chunk.charEnd);

    const under = sectionsUnder(doc, chunk.charStart, chunk.charEnd);
    expect(under.length, where).toBeGreaterThan(0);
    for (const section of under) expect(section.headingPath, `${where} spans two heading paths`).toEqual(chunk.headingPath);
    const pages = under.map((s) => s.page).filter((p): p is number => p !== undefined);
    expect(chunk.pageStart, where).toBe(pages.length ? Math.min(...pages) : null);
    expect(chunk.pageEnd, where).toBe(pages.length ? Math.max(...pages) : null);
    const kinds = new Set(under.map((s) => s.kind));
    expect(chunk.kind, where).toBe(kinds.size === 1 ? under[0]!.kind : 'mixed');
  });
  for (const section of doc.sections) {
    for (let i = 0; i < section.text.length; i++) {
      if (/[\p{L}\p{N}]/u.test(section.text[i]!) && !covered[section.charStart + i]) {
        throw new Error(`${label}: text lost at ${section.charStart + i}: "${section.text.slice(i, i + 40)}"`);
      }
    }
  }
}

/**
 * A crumb (< minTokens) may remain only where merging it was impossible: its neighbours are under
 * another heading path, or the merged text would not fit next to the context prefix.
 */
function expectCrumbsMerged(chunks: ChunkDraft[], doc: LoadedDocument, embedder: Embedder, cap: number, label: string): void {
  const count = (t: string) => embedder.tokenizer.count(t);
  chunks.forEach((chunk, i) => {
    if (chunk.tokenCount >= OPTIONS.minTokens) return;
    const room = cap - count(contextPrefix(doc.title, chunk.headingPath));
    for (const neighbour of [chunks[i - 1], chunks[i + 1]]) {
      if (!neighbour || neighbour.headingPath.join('\u0000') !== chunk.headingPath.join('\u0000')) continue;
      const merged = count(doc.text.slice(Math.min(chunk.charStart, neighbour.charStart), Math.max(chunk.charEnd, neighbour.charEnd)));
      expect(merged, `${label}: crumb ${i} (${chunk.tokenCount} tokens) could have joined a neighbour`).toBeGreaterThan(room);
    }
  });
}

/** An embedder that records the calls made to the real one. */
function recording(embedder: Embedder): Embedder & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    modelId: embedder.modelId,
    dimensions: embedder.dimensions,
    maxTokens: embedder.maxTokens,
    tokenizer: embedder.tokenizer,
    calls,
    embed: (texts, kind) => {
      calls.push(texts);
      return embedder.embed(texts, kind);
    },
  };
}

describe('splitSentences', () => {
  it('returns sentences whose offsets slice the input exactly and cover every word', () => {
    const text = '  Dr. Smith arrived at 3 p.m. on Monday.  He left early!\n\nA new paragraph starts here. It has\ntwo lines?';
    const sentences = splitSentences(text);
    for (const s of sentences) expect(text.slice(s.start, s.end)).toBe(s.text);
    expect(sentences.map((s) => s.text)).toEqual([
      'Dr. Smith arrived at 3 p.m. on Monday.',
      'He left early!',
      'A new paragraph starts here.',
      'It has\ntwo lines?',
    ]);
  });

  it('handles empty, blank and punctuation-free input', () => {
    expect(splitSentences('')).toEqual([]);
    expect(splitSentences(' \n\n\t ')).toEqual([]);
    const words = Array.from({ length: 5000 }, (_, i) => `word${i}`).join(' ');
    const sentences = splitSentences(words);
    expect(sentences.map((s) => s.text).join(' ')).toBe(words);
  });
});

describeShared('splitSentences on the 260-page PDF', () => {
  it('keeps every word of a long real document, with exact offsets', async () => {
    const doc = await load(path.join(PDF_DIR, 'nist-sp-800-160v1-systems-security-engineering.pdf'));
    const sentences = splitSentences(doc.text);
    expect(sentences.length).toBeGreaterThan(3000);
    let previousEnd = 0;
    for (const s of sentences) {
      expect(s.start).toBeGreaterThanOrEqual(previousEnd);
      expect(doc.text.slice(previousEnd, s.start).trim()).toBe('');
      expect(doc.text.slice(s.start, s.end)).toBe(s.text);
      previousEnd = s.end;
    }
    expect(doc.text.slice(previousEnd).trim()).toBe('');
  });
});

describeShared('chunkers (real MiniLM model)', () => {
  let embedder: Embedder;
  let cap: number;
  const chunk = (strategy: ChunkStrategy, doc: LoadedDocument, options = OPTIONS, using: Embedder = embedder) =>
    createChunker(strategy, using, options).chunk(doc);

  beforeAll(async () => {
    embedder = await testEmbedder();
    cap = Math.min(OPTIONS.maxTokens, embedder.maxTokens - 2);
  });

  describe('sentence strategy over the whole shared corpus', () => {
    const pdfs = listFiles(PDF_DIR, '.pdf');
    const edgeCases = listFiles(path.join(PDF_DIR, 'edge-cases'), '.pdf');

    it('covers the 21 valid PDFs', () => expect(pdfs).toHaveLength(21));

    it.each(pdfs.map((f) => [path.basename(f), f]))('%s: well-formed chunks under the cap, crumbs merged', async (name, file) => {
      const doc = await load(file);
      const chunks = await chunk('sentence', doc);
      expect(chunks.length).toBeGreaterThan(0);
      expectWellFormed(chunks, doc, embedder, cap, name);
      expectCrumbsMerged(chunks, doc, embedder, cap, name);
    });

    it('edge-case PDFs either load and chunk correctly or are refused with a DocumentError', async () => {
      let chunked = 0;
      for (const file of edgeCases) {
        const doc = await load(file).catch((err: unknown) => {
          expect(err, path.basename(file)).toBeInstanceOf(DocumentError);
          return undefined;
        });
        if (!doc) continue;
        expectWellFormed(await chunk('sentence', doc), doc, embedder, cap, path.basename(file));
        chunked++;
      }
      expect(chunked).toBeGreaterThan(0);
    });

    it('all rust-book chapters: well-formed chunks under the cap, crumbs merged', async () => {
      const files = listFiles(RUST_BOOK, '.md');
      expect(files.length).toBeGreaterThanOrEqual(100);
      for (const file of files) {
        const doc = await load(file);
        const chunks = await chunk('sentence', doc);
        expectWellFormed(chunks, doc, embedder, cap, path.basename(file));
        expectCrumbsMerged(chunks, doc, embedder, cap, path.basename(file));
      }
    });
  });

  describe('semantic strategy on a subset', () => {
    /** Pages [first, last] of a PDF: a document of its own, still indexing the same text. */
    const pages = (doc: LoadedDocument, first: number, last: number): LoadedDocument => ({
      ...doc,
      sections: doc.sections.filter((s) => s.page !== undefined && s.page >= first && s.page <= last),
    });

    it('long PDFs (page slices), a short PDF and rust-book chapters: well-formed, one embed call each', async () => {
      const docs: Array<[string, LoadedDocument]> = [
        ['sp800-160 p.20-23', pages(await load(path.join(PDF_DIR, 'nist-sp-800-160v1-systems-security-engineering.pdf')), 20, 23)],
        ['sp800-207 p.10-13', pages(await load(path.join(PDF_DIR, 'nist-sp-800-207-zero-trust-architecture.pdf')), 10, 13)],
        ['docling multi-page', await load(path.join(PDF_DIR, 'docling-multi-page-word-processor-history.pdf'))],
        ['ch03-01', await load(path.join(RUST_BOOK, 'ch03-01-variables-and-mutability.md'))],
        ['ch06-03', await load(path.join(RUST_BOOK, 'ch06-03-if-let.md'))],
        ['appendix-02', await load(path.join(RUST_BOOK, 'appendix-02-operators.md'))],
      ];
      for (const [label, doc] of docs) {
        const spy = recording(embedder);
        const chunks = await chunk('semantic', doc, OPTIONS, spy);
        expectWellFormed(chunks, doc, embedder, cap, label);
        expectCrumbsMerged(chunks, doc, embedder, cap, label);
        expect(spy.calls, `${label}: one embed call for the whole document`).toHaveLength(1);
      }
    });

    it('embeds nothing when every section already fits in one chunk', async () => {
      const doc = handDoc([
        { text: abstract('2526777').slice(0, 300), headingPath: ['A'], kind: 'text' },
        { text: abstract('8734695').slice(0, 300), headingPath: ['B'], kind: 'text' },
      ]);
      const spy = recording(embedder);
      const chunks = await chunk('semantic', doc, OPTIONS, spy);
      expect(chunks.map((c) => c.headingPath)).toEqual([['A'], ['B']]);
      expect(spy.calls).toHaveLength(0);
    });

    /**
     * Three unrelated abstracts (short, long, short: ~90/190/90 tokens) run together as one section.
     * The semantic chunker must cut at (or within one sentence of) both topic shifts; fixed windows
     * do not, and neither does the same algorithm fed a constant embedding (no meaning signal), which
     * shows the cuts come from the model rather than from the lengths.
     */
    it.each([[['30379039', '11913139', '45276789']], [['8065561', '12652963', '32927401']], [['43557480', '28107602', '1544804']]])(
      'cuts at the topic shifts of abstracts %j, where fixed windows do not',
      async (ids) => {
        const parts = ids.map(abstract);
        const text = parts.join(' ');
        const doc = handDoc([{ text, headingPath: ['Three abstracts'], kind: 'text' }]);
        const shifts = [parts[0]!.length + 1, parts[0]!.length + parts[1]!.length + 2];
        const sentences = splitSentences(text);
        const shiftSentence = shifts.map((at) => sentences.findIndex((s) => s.start === at));
        expect(shiftSentence.every((i) => i > 0 && i < sentences.length - 1)).toBe(true);
        // A cut is "at" a shift when it lies between the start of the sentence before it and the start of the sentence after it.
        const cutsBothShifts = (chunks: ChunkDraft[]) =>
          shiftSentence.every((i) =>
            chunks.slice(1).some((c) => c.charStart >= sentences[i - 1]!.start && c.charStart <= sentences[i + 1]!.start),
          );
        const constant: Embedder = {
          ...recording(embedder),
          embed: async (texts) => texts.map(() => Float32Array.from({ length: embedder.dimensions }, (_, i) => (i === 0 ? 1 : 0))),
        };

        const semantic = await chunk('semantic', doc);
        const fixed = await chunk('fixed', doc);
        expectWellFormed(semantic, doc, embedder, cap, 'semantic');
        expectWellFormed(fixed, doc, embedder, cap, 'fixed');
        expect(cutsBothShifts(semantic), `semantic cuts at ${semantic.map((c) => c.charStart)} vs shifts ${shifts}`).toBe(true);
        expect(cutsBothShifts(fixed), `fixed cuts at ${fixed.map((c) => c.charStart)} vs shifts ${shifts}`).toBe(false);
        expect(cutsBothShifts(await chunk('semantic', doc, OPTIONS, constant)), 'without a meaning signal').toBe(false);
      },
    );
  });

  describe('late strategy: cuts and chunk vectors from one model pass', () => {
    /** Counts what the real embedder is asked for: pooled texts (embed) and windows read for their token vectors. */
    const counting = () => {
      const calls = { embed: [] as string[][], windows: [] as string[][][] };
      const spy: Embedder = {
        modelId: embedder.modelId,
        dimensions: embedder.dimensions,
        maxTokens: embedder.maxTokens,
        tokenizer: embedder.tokenizer,
        embed: (texts, kind) => {
          calls.embed.push(texts);
          return embedder.embed(texts, kind);
        },
        embedTokens: (inputs, kind) => {
          calls.windows.push(inputs);
          return embedder.embedTokens!(inputs, kind);
        },
      };
      return { spy, calls };
    };
    const lateChunks = (doc: LoadedDocument, using: Embedder = embedder, options: ChunkerOptions = OPTIONS) =>
      createChunker('late', using, options).chunkWithVectors(doc);
    const shiftFixtures = [
      ['30379039', '11913139', '45276789'],
      ['8065561', '12652963', '32927401'],
      ['43557480', '28107602', '1544804'],
    ];

    it.each(shiftFixtures.map((ids) => [ids]))(
      'cuts at the topic shifts of abstracts %j, from one pass and no embed() call',
      async (ids) => {
        const parts = ids.map(abstract);
        const text = parts.join(' ');
        const doc = handDoc([{ text, headingPath: ['Three abstracts'], kind: 'text' }]);
        const sentences = splitSentences(text);
        const shiftSentence = [parts[0]!.length + 1, parts[0]!.length + parts[1]!.length + 2].map((at) =>
          sentences.findIndex((s) => s.start === at),
        );
        const { spy, calls } = counting();
        const { drafts, vectors } = await lateChunks(doc, spy);
        expectWellFormed(drafts, doc, embedder, cap, 'late');
        const cuts = drafts.slice(1).map((c) => c.charStart);
        for (const i of shiftSentence) {
          const near = cuts.some((at) => at >= sentences[i - 1]!.start && at <= sentences[i + 1]!.start);
          expect(near, `late cuts at ${cuts} vs shift before sentence ${i} (${sentences[i]!.start})`).toBe(true);
        }
        // One pass: the windows hold each sentence once, plus at most one overlapping sentence per window edge.
        expect(calls.embed).toHaveLength(0);
        expect(calls.windows).toHaveLength(1);
        const read = calls.windows[0]!.reduce((n, w) => n + w.slice(1).reduce((m, piece) => m + embedder.tokenizer.count(piece), 0), 0);
        expect(read).toBeLessThan(1.3 * embedder.tokenizer.count(text));
        expect(vectors.every((v) => v instanceof Float32Array)).toBe(true);
      },
    );

    it('a chunk that is a whole window gets the vector of embedding it alone; chunks of the real cut stay close to theirs', async () => {
      const doc = handDoc([{ text: `${abstract('4550036')} ${abstract('1259359')}`, headingPath: ['Two abstracts'], kind: 'text' }]);
      const [block] = buildBlocks(doc, embedder.tokenizer, resolveLimits(embedder, OPTIONS), 'sentences');
      const [segment] = segmentsOf(block!);
      const windows = windowsOver(block!, 0, segment!, 32);
      expect(windows.length).toBe(2);
      const prefix = contextPrefix(doc.title, block!.headingPath);
      const inputs = windows.map((w) => [prefix, ...block!.units.slice(w.from, w.to).map((u) => doc.text.slice(u.start, u.end))]);
      const states = await embedder.embedTokens!(inputs, 'passage');
      const read = new Map([[segment!, windows.map((w, i) => new WindowStates(w, states[i]!, 1))]]);
      for (const w of windows) {
        const text = doc.text.slice(block!.units[w.from]!.start, block!.units[w.to - 1]!.end);
        const [alone] = await embedder.embed([`${prefix}\n\n${text}`], 'passage');
        expect(cosine(pooledVector(block!, w, [segment!], read)!, alone!)).toBeGreaterThan(0.99);
      }

      const { drafts, vectors } = await lateChunks(doc);
      expect(drafts.length).toBeGreaterThan(1);
      const alone = await embedder.embed(
        drafts.map((d) => contextualText(d, doc)),
        'passage',
      );
      // Read beside other text, a chunk's vector leans towards it (that is the point of late chunking), yet stays close to its own.
      drafts.forEach((_, i) => expect(cosine(vectors[i]!, alone[i]!), `chunk ${i}`).toBeGreaterThan(0.75));
      for (const v of vectors) expect(Math.hypot(...v!)).toBeCloseTo(1, 5);
    });

    it('a frame weight changes only the pooled vectors, not the cuts; 1 is the default', async () => {
      const doc = handDoc([{ text: `${abstract('4550036')} ${abstract('1259359')}`, headingPath: ['Two abstracts'], kind: 'text' }]);
      const plain = await lateChunks(doc);
      const alone = await embedder.embed(
        plain.drafts.map((d) => contextualText(d, doc)),
        'passage',
      );
      const similarity = async (frameWeight: number) => {
        const weighted = await lateChunks(doc, embedder, { ...OPTIONS, lateFrameWeight: frameWeight });
        expect(weighted.drafts).toEqual(plain.drafts);
        return weighted.vectors.map((v, i) => cosine(v!, alone[i]!));
      };
      expect(await similarity(1)).toEqual(plain.vectors.map((v, i) => cosine(v!, alone[i]!)));
      const [none, heavy] = [await similarity(0), await similarity(8)];
      plain.vectors.forEach((v, i) => {
        const one = cosine(v!, alone[i]!);
        expect(Math.abs(none[i]! - one), `chunk ${i} without the frame`).toBeGreaterThan(1e-4);
        expect(Math.abs(heavy[i]! - one), `chunk ${i} with a heavy frame`).toBeGreaterThan(1e-4);
      });
    });

    it('keeps the hard token cap, and windows never exceed the model input', async () => {
      const small = { maxTokens: 64, minTokens: 16, targetTokens: 50 };
      const doc = handDoc(
        [{ text: [abstract('2526777'), abstract('8734695')].join(' '), headingPath: ['Obstetrics'], kind: 'text' }],
        'SciFact',
      );
      const { spy, calls } = counting();
      const { drafts, vectors } = await lateChunks(doc, spy, small);
      expectWellFormed(drafts, doc, embedder, 64, 'late max 64');
      for (const pieces of calls.windows[0]!) expect(embedder.tokenizer.count(pieces.join(' '))).toBeLessThanOrEqual(64);
      expect(vectors.filter(Boolean).length).toBe(drafts.length);
    });

    it('falls back to the two-pass semantic chunker for an embedder without token vectors', async () => {
      const text = shiftFixtures[0]!.map(abstract).join(' ');
      const doc = handDoc([{ text, headingPath: ['Three abstracts'], kind: 'text' }]);
      const spy = recording(embedder); // has no embedTokens, like the OpenAI embedder
      const { drafts, vectors } = await lateChunks(doc, spy);
      expect(drafts).toEqual(await chunk('semantic', doc));
      expect(vectors.every((v) => v === undefined)).toBe(true);
      expect(spy.calls).toHaveLength(1);
    });
  });

  describe('tables and code', () => {
    it('splits a real oversized table at row boundaries and repeats its header row on every piece', async () => {
      const doc = await load(path.join(RUST_BOOK, 'appendix-02-operators.md'));
      const table = doc.sections.find((s) => s.kind === 'table' && embedder.tokenizer.count(s.text) > cap)!;
      expect(table).toBeDefined();
      const header = table.text.split('\n')[0]!;
      const tableEnd = table.charStart + table.text.length;
      const chunks = await chunk('sentence', doc);
      const pieces = chunks.filter((c) => c.charStart < tableEnd && c.charEnd > table.charStart);
      expect(pieces.length).toBeGreaterThan(1);
      const rows = new Set(table.text.split('\n').map((row) => row.trim()));
      for (const piece of pieces) {
        expect(piece.text.split('\n')[0]).toBe(header);
        for (const line of piece.text.split('\n')) expect(rows.has(line.trim()), line).toBe(true);
      }
      // Pieces after the first add the header copy to exactly the rows they cover.
      for (const piece of pieces.slice(1)) expect(piece.text).toBe(`${header}\n${doc.text.slice(piece.charStart, piece.charEnd)}`);
      expectWellFormed(chunks, doc, embedder, cap, 'appendix-02');
    });

    it('keeps a table that fits whole, even when larger than the target', async () => {
      const doc = await load(path.join(RUST_BOOK, 'appendix-02-operators.md'));
      const table = doc.sections.find(
        (s) => s.kind === 'table' && embedder.tokenizer.count(s.text) > OPTIONS.targetTokens && embedder.tokenizer.count(s.text) < cap - 20,
      )!;
      expect(table).toBeDefined();
      const chunks = await chunk('sentence', doc);
      expect(chunks.some((c) => c.charStart <= table.charStart && c.charEnd >= table.charStart + table.text.length)).toBe(true);
    });

    it('splits oversized code at line boundaries, keeping indentation', async () => {
      const doc = await load(path.join(RUST_BOOK, 'ch09-01-unrecoverable-errors-with-panic.md'));
      const code = doc.sections.find((s) => s.kind === 'code' && embedder.tokenizer.count(s.text) > cap)!;
      expect(code).toBeDefined();
      const codeEnd = code.charStart + code.text.length;
      const chunks = await chunk('semantic', doc);
      const pieces = chunks.filter((c) => c.charStart < codeEnd && c.charEnd > code.charStart);
      expect(pieces.length).toBeGreaterThan(1);
      const lines = new Set(code.text.split('\n'));
      for (const piece of pieces) {
        expect(piece.kind).toBe('code');
        for (const line of piece.text.split('\n')) expect(lines.has(line), JSON.stringify(line)).toBe(true);
      }
      expectWellFormed(chunks, doc, embedder, cap, 'ch09-01');
    });
  });

  describe('sizes, sections and crumbs', () => {
    it('cuts an over-long sentence at word boundaries and a space-free string between characters', async () => {
      const longSentence = abstract('2526777').replace(/[.!?]/g, ',').repeat(4);
      const noSpaces = abstract('8734695').replace(/\s+/g, '');
      const doc = handDoc([
        { text: longSentence, headingPath: ['Long'], kind: 'text' },
        { text: noSpaces, headingPath: ['No spaces'], kind: 'text' },
      ]);
      for (const strategy of ['fixed', 'sentence', 'semantic', 'late'] as const) {
        const chunks = await chunk(strategy, doc);
        expectWellFormed(chunks, doc, embedder, cap, strategy);
        const long = chunks.filter((c) => c.headingPath[0] === 'Long');
        expect(long.length).toBeGreaterThan(1);
        for (const c of long) {
          expect(/\s/.test(doc.text[c.charStart - 1] ?? ' ')).toBe(true);
          expect(/\s/.test(doc.text[c.charEnd] ?? ' ')).toBe(true);
        }
        expect(chunks.filter((c) => c.headingPath[0] === 'No spaces').length).toBeGreaterThan(1);
      }
    });

    it('honours a maxTokens below the model limit, and reserves room for the context prefix', async () => {
      const small = { maxTokens: 64, minTokens: 16, targetTokens: 50 };
      const doc = handDoc([{ text: abstract('4550036'), headingPath: ['Obstetrics', 'Hypertension'], kind: 'text' }], 'SciFact sample');
      for (const strategy of ['fixed', 'sentence', 'semantic', 'late'] as const) {
        const chunks = await chunk(strategy, doc, small);
        expectWellFormed(chunks, doc, embedder, 64, `${strategy} max 64`);
        expect(contextualText(chunks[0]!, doc)).toBe(`SciFact sample — Obstetrics › Hypertension\n\n${chunks[0]!.text}`);
      }
    });

    it('merges small consecutive sections under one heading path, never across heading paths', async () => {
      const sentences = splitSentences(abstract('1259359')).map((s) => s.text);
      const doc = handDoc([
        { text: sentences[0]!, headingPath: ['Malawi'], kind: 'text', page: 1 },
        { text: sentences[1]!, headingPath: ['Malawi'], kind: 'text', page: 2 },
        { text: sentences[2]!, headingPath: ['Malawi', 'Methods'], kind: 'text', page: 2 },
        { text: sentences[3]!, headingPath: ['Malawi', 'Methods'], kind: 'table', page: 3 },
      ]);
      for (const strategy of ['fixed', 'sentence', 'semantic', 'late'] as const) {
        const chunks = await chunk(strategy, doc);
        expectWellFormed(chunks, doc, embedder, cap, strategy);
        expect(chunks.map((c) => [c.headingPath, c.pageStart, c.pageEnd, c.kind])).toEqual([
          [['Malawi'], 1, 2, 'text'],
          [['Malawi', 'Methods'], 2, 3, 'mixed'],
        ]);
      }
    });

    it('leaves no crumb at the end of a long section (sentence, semantic and late)', async () => {
      const text = [abstract('2526777'), abstract('8734695'), abstract('4550036')].join(' ');
      const doc = handDoc([{ text, headingPath: ['Three'], kind: 'text' }]);
      for (const strategy of ['sentence', 'semantic', 'late'] as const) {
        const chunks = await chunk(strategy, doc);
        expectWellFormed(chunks, doc, embedder, cap, strategy);
        for (const c of chunks) expect(c.tokenCount, strategy).toBeGreaterThanOrEqual(OPTIONS.minTokens);
      }
    });

    it('returns no chunks for a document without text', async () => {
      const doc = handDoc([{ text: '   \n\n  ', headingPath: [], kind: 'text' }]);
      expect(await chunk('semantic', doc)).toEqual([]);
      expect(await chunk('sentence', { ...doc, sections: [] })).toEqual([]);
    });
  });

  describe('lists in PDF text', () => {
    /** A PDF's text as the layout reader gives it: items are paragraphs that open with their marker. */
    const listDoc = (): LoadedDocument => {
      const filler = splitSentences(abstract('4550036'))
        .slice(0, 4)
        .map((s) => s.text)
        .join(' ');
      const items = [
        '1. Every request is authenticated before it reaches a resource. Sessions that fail the check are closed at once.',
        '2) Access is granted per session and is never carried over to another resource. Each grant is logged.',
        '• Devices are inventoried, and an unknown device is treated as hostile. The inventory is checked daily.',
        '(iv) Keys are rotated every month by the key service. Old keys are destroyed after a week.',
        'a. Policies are reviewed by the owners of the data. Changes take effect on the next session.',
        // A symbol font's bullet, as CSF 1.1's come out of pdf.js (a private-use code point).
        '\uf0b7 Logs are kept for ninety days in one store. They are read by the auditors.',
      ];
      const text = `${filler}\n\nA zero trust network is run with adherence to the following basic rules:\n\n${items.join('\n\n')}\n\nIn short, the steps are as follows: 1. Inventory every device. 2. Authenticate every request.`;
      return { ...handDoc([{ text, headingPath: ['Rules'], kind: 'text', page: 3 }], 'Rules'), mime: 'application/pdf' };
    };
    const MARKER_AT_END = /(?:^|\s)(?:\d{1,3}[.)]|\((?:\d{1,3}|[a-z]|[ivx]+)\)|[a-z][.)]|[•\-*\uf0b7])$/;
    const targets = [40, 55, 70, 90, 120, 200];

    it('splits "1." off as a sentence, as wink does (what the chunker has to undo)', () => {
      const sentences = splitSentences(listDoc().text).map((s) => s.text.trim());
      expect(sentences).toContain('1.');
      expect(sentences.some((s) => s.endsWith('as follows: 1.'))).toBe(true);
    });

    it('never ends a chunk on a list marker, at any target, under the cap (sentence, semantic, late)', async () => {
      const doc = listDoc();
      for (const strategy of ['sentence', 'semantic', 'late'] as const) {
        for (const targetTokens of targets) {
          const options = { maxTokens: Math.max(64, targetTokens), minTokens: 8, targetTokens };
          const chunks = await chunk(strategy, doc, options);
          expectWellFormed(chunks, doc, embedder, Math.min(options.maxTokens, cap), `${strategy} target ${targetTokens}`);
          for (const c of chunks) expect(c.text.trimEnd(), `${strategy} target ${targetTokens}`).not.toMatch(MARKER_AT_END);
          // Each marker is in the chunk that holds the first words of its item.
          for (const [marker, first] of [
            ['1.', 'Every request'],
            ['2)', 'Access is granted'],
            ['(iv)', 'Keys are'],
            ['a.', 'Policies'],
            ['\uf0b7', 'Logs are kept'],
            ['1.', 'Inventory every'],
            ['2.', 'Authenticate every'],
          ]) {
            expect(
              chunks.some((c) => c.text.includes(`${marker} ${first}`)),
              `${strategy} target ${targetTokens}: ${marker} ${first}`,
            ).toBe(true);
          }
        }
      }
    });

    it('keeps a lead-in ending in a colon with the first item of its list', async () => {
      const doc = listDoc();
      // The two are joined when they take at most half the target (here ~27 tokens).
      for (const strategy of ['sentence', 'semantic', 'late'] as const) {
        for (const targetTokens of targets.filter((t) => t >= 70)) {
          const chunks = await chunk(strategy, doc, { maxTokens: Math.max(64, targetTokens), minTokens: 8, targetTokens });
          const leadIn = chunks.find((c) => c.text.includes('the following basic rules:'))!;
          expect(leadIn.text, `${strategy} target ${targetTokens}`).toContain('rules:\n\n1. Every request is authenticated');
          const inShort = chunks.find((c) => c.text.includes('as follows:'))!;
          expect(inShort.text, `${strategy} target ${targetTokens}`).toContain('as follows: 1. Inventory every device.');
        }
      }
    });

    it('keeps the hard cap when the item after a marker is longer than a chunk', async () => {
      const long = abstract('2526777').replace(/[.!?]/g, ',').repeat(3);
      const text = `Three rules apply:\n\n1. ${long}\n\n2. ${long}`;
      const doc = { ...handDoc([{ text, headingPath: ['Long items'], kind: 'text' }]), mime: 'application/pdf' };
      for (const strategy of ['sentence', 'semantic', 'late'] as const) {
        const chunks = await chunk(strategy, doc);
        expectWellFormed(chunks, doc, embedder, cap, strategy);
        expect(chunks.length, strategy).toBeGreaterThan(3);
        for (const c of chunks) expect(c.text.trimEnd(), strategy).not.toMatch(MARKER_AT_END);
      }
    });

    it('leaves numbers that end a wrapped line, and other formats, as they were', () => {
      const limits = resolveLimits(embedder, OPTIONS);
      const unitsOf = (doc: LoadedDocument) =>
        buildBlocks(doc, embedder.tokenizer, limits, 'sentences')[0]!.units.map((u) => doc.text.slice(u.start, u.end).trim());
      const wrapped = {
        ...handDoc([{ text: 'We come back to this in Chapter\n12.\n\nHere is more.', headingPath: [], kind: 'text' }]),
        mime: 'application/pdf',
      };
      expect(unitsOf(wrapped)).toEqual(['We come back to this in Chapter\n12.', 'Here is more.']);
      const list = 'Two rules:\n\n1. You must lock first.';
      const pdf = { ...handDoc([{ text: list, headingPath: [], kind: 'text' }]), mime: 'application/pdf' };
      expect(unitsOf(pdf)).toEqual([list]);
      const markdown = { ...handDoc([{ text: list, headingPath: [], kind: 'text' }]), mime: 'text/markdown' };
      expect(unitsOf(markdown)).toEqual(['Two rules:', '1.', 'You must lock first.']);
    });
  });

  describe('bad input gives a clear error', () => {
    it('rejects an unknown strategy and invalid options', () => {
      expect(() => createChunker('paragraph' as ChunkStrategy, embedder, OPTIONS)).toThrow(/Unknown chunk strategy "paragraph"/);
      expect(() => createChunker('sentence', embedder, { ...OPTIONS, maxTokens: 0 })).toThrow(RaglineError);
      expect(() => createChunker('sentence', embedder, { ...OPTIONS, targetTokens: Number.NaN })).toThrow(/targetTokens/);
    });

    it('rejects documents whose sections do not match their text', async () => {
      const doc = handDoc([{ text: 'Some text here.', headingPath: [], kind: 'text' }]);
      await expect(chunk('sentence', { ...doc, sections: [{ ...doc.sections[0]!, charStart: 3 }] })).rejects.toThrow(
        /section 0 does not match the document text/,
      );
      await expect(chunk('sentence', { ...doc, sections: [{ ...doc.sections[0]!, kind: 'image' as 'text' }] })).rejects.toBeInstanceOf(
        DocumentError,
      );
      await expect(chunk('sentence', null as unknown as LoadedDocument)).rejects.toBeInstanceOf(DocumentError);
    });

    it('refuses a maxTokens too small to hold the context prefix', async () => {
      const doc = handDoc(
        [{ text: 'Short text.', headingPath: ['A rather long heading about many things'], kind: 'text' }],
        'A long document title',
      );
      await expect(chunk('sentence', doc, { maxTokens: 12, minTokens: 0, targetTokens: 10 })).rejects.toThrow(/too small/);
    });
  });
});
