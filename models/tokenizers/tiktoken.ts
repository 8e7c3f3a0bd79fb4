import { Tiktoken, getEncodingNameForModel, type TiktokenModel } from 'js-tiktoken/lite';
import cl100k from 'js-tiktoken/ranks/cl100k_base';
import o200k from 'js-tiktoken/ranks/o200k_base';

/** BPE token counts for OpenAI models (and a close estimate for other OpenAI-compatible models). */

type EncodingName = 'cl100k_base' | 'o200k_base';
const RANKS = { cl100k_base: cl100k, o200k_base: o200k };
const encoders = new Map<EncodingName, Tiktoken>();

export function encoding(name: EncodingName): Tiktoken {
  let enc = encoders.get(name);
  if (!enc) {
    enc = new Tiktoken(RANKS[name]);
    encoders.set(name, enc);
  }
  return enc;
}

/** The model's own encoding when js-tiktoken knows the model; cl100k_base otherwise (e.g. a local Llama). */
export function encodingForModel(model: string): Tiktoken {
  let name: string;
  try {
    name = getEncodingNameForModel(model as TiktokenModel);
  } catch {
    name = 'cl100k_base';
  }
  return encoding(name === 'o200k_base' ? 'o200k_base' : 'cl100k_base');
}

/** Document text may contain strings like "<|endoftext|>": count them as plain text, never refuse. */
export function encode(enc: Tiktoken, text: string): number[] {
  return enc.encode(text, [], []);
}

export function countTokens(model: string, text: string): number {
  return encode(encodingForModel(model), text).length;
}

/** Chat formatting adds a few tokens per message (OpenAI's cookbook estimate). */
export function countChatTokens(model: string, messages: Array<{ content: string }>): number {
  return messages.reduce((sum, m) => sum + 4 + countTokens(model, m.content), 3);
}
