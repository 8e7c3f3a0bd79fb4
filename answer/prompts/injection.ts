import type { ContextChunk } from '../types.ts';

/**
 * Heuristics for text that tries to instruct the model. A match is reported, not removed: the chunk
 * still goes to the model, delimited as data, and the caller sees which chunk looked hostile.
 */
const PATTERNS: Array<{ name: string; re: RegExp }> = [
  {
    name: 'ignore-instructions',
    re: /\b(?:ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}?\b(?:previous|prior|above|earlier|preceding|all|any|your|the|system)\b[^.\n]{0,20}?\b(?:instructions?|prompts?|rules|directions|guidelines|context)\b/i,
  },
  { name: 'new-instructions', re: /\b(?:new|updated|real|actual)\s+(?:system\s+)?instructions?\s*:/i },
  { name: 'role-change', re: /\byou\s+are\s+now\b|\bfrom\s+now\s+on,?\s+you\b|\bpretend\s+(?:to\s+be|you\s+are)\b/i },
  {
    name: 'prompt-exfiltration',
    re: /\b(?:reveal|print|show|repeat|output)\b[^.\n]{0,30}?\b(?:system\s+prompt|your\s+(?:instructions|prompt|rules))\b/i,
  },
  { name: 'chat-markup', re: /<\|im_(?:start|end)\|>|\[\/?INST\]|<<\/?SYS>>|^\s*(?:system|assistant)\s*:/im },
  { name: 'delimiter-escape', re: /<\s*\/?\s*documents?\b/i },
];

export interface InjectionFlag {
  marker: number;
  chunkId: string;
  source: string;
  patterns: string[];
  /** The first matching text, for a human to judge. */
  excerpt: string;
}

export function detectInjection(text: string): { patterns: string[]; excerpt: string } | null {
  const hits = PATTERNS.map((p) => ({ name: p.name, m: p.re.exec(text) })).filter((h) => h.m);
  if (!hits.length) return null;
  return { patterns: hits.map((h) => h.name), excerpt: hits[0]!.m![0].trim().slice(0, 160) };
}

export function flagInjections(context: ContextChunk[]): InjectionFlag[] {
  const flags: InjectionFlag[] = [];
  for (const item of context) {
    const found = detectInjection(item.chunk.text);
    if (found) flags.push({ marker: item.marker, chunkId: item.chunk.id, source: item.chunk.source, ...found });
  }
  return flags;
}
