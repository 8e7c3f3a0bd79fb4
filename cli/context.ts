import { loadConfig, type Config } from '../core/config.ts';
import { Ragline } from '../facade/ragline.ts';

/** Opens Ragline for one CLI command and always closes it, so PGlite flushes to disk. */
export async function withRagline<T>(fn: (ragline: Ragline, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const ragline = await Ragline.open(config);
  try {
    return await fn(ragline, config);
  } finally {
    await ragline.close();
  }
}

export function printJson(value: unknown) {
  console.log(JSON.stringify(value, null, 2));
}
