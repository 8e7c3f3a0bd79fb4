import * as cheerio from 'cheerio';
import { tidyTitle } from './document-builder.ts';
import type { GuardedZip } from './zip.ts';

/** An XML part of an Office or EPUB container, parsed without HTML's rules. */
export function parseXml(xml: string) {
  return cheerio.load(xml, { xml: true });
}

/** Title and author from docProps/core.xml, the Dublin Core part every OOXML writer fills in. */
export async function coreProperties(zip: GuardedZip): Promise<{ title?: string; author?: string }> {
  const xml = await zip.text('docProps/core.xml');
  if (!xml) return {};
  const $ = parseXml(xml);
  const title = tidyTitle($('dc\\:title').first().text());
  const author = tidyTitle($('dc\\:creator').first().text());
  return { ...(title ? { title } : {}), ...(author ? { author } : {}) };
}

/** Targets of a part's relationships by id, resolved against the folder the part sits in. */
export async function relationships(zip: GuardedZip, partPath: string): Promise<Map<string, { target: string; type: string }>> {
  const folder = partPath.slice(0, partPath.lastIndexOf('/') + 1);
  const relsPath = `${folder}_rels/${partPath.slice(folder.length)}.rels`;
  const xml = await zip.text(relsPath);
  const out = new Map<string, { target: string; type: string }>();
  if (!xml) return out;
  const $ = parseXml(xml);
  $('Relationship').each((_, el) => {
    const id = $(el).attr('Id');
    const target = $(el).attr('Target');
    if (id && target) out.set(id, { target: resolvePartPath(folder, target), type: $(el).attr('Type') ?? '' });
  });
  return out;
}

/** 'ppt/slides/' + '../notesSlides/n1.xml' → 'ppt/notesSlides/n1.xml'; a leading '/' is the archive root. */
export function resolvePartPath(folder: string, target: string): string {
  const parts = target.startsWith('/') ? [] : folder.split('/').filter(Boolean);
  for (const piece of target.split('/')) {
    if (piece === '..') parts.pop();
    else if (piece !== '.' && piece !== '') parts.push(piece);
  }
  return parts.join('/');
}
