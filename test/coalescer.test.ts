import { describe, expect, it } from 'vitest';
import { BatchCoalescer } from '../models/embedders/coalescer.ts';

/** A stand-in model: a text's "vector" is its length, so results can be matched to inputs. */
function recordingModel(options: { failOn?: string } = {}) {
  const batches: string[][] = [];
  const run = async (inputs: Array<{ text: string }>) => {
    const texts = inputs.map((i) => i.text);
    batches.push(texts);
    await new Promise((r) => setTimeout(r, 5));
    if (options.failOn && texts.includes(options.failOn)) throw new Error('model failed');
    return texts.map((t) => Float32Array.of(t.length));
  };
  return { batches, run };
}

const asInputs = (texts: string[]) => texts.map((text) => ({ text }));

describe('BatchCoalescer', () => {
  it('puts texts of concurrent callers into shared batches, shortest first, none over the batch size', async () => {
    const model = recordingModel();
    const coalescer = new BatchCoalescer(model.run, 4);
    const callers = [['aaaa', 'a'], ['aaa'], ['aa', 'aaaaaa', 'aaaaa']];
    const results = await Promise.all(callers.map((texts) => coalescer.embed(asInputs(texts))));
    results.forEach((vectors, c) => expect(vectors.map((v) => v[0])).toEqual(callers[c]!.map((t) => t.length)));
    expect(model.batches).toEqual([
      ['a', 'aa', 'aaa', 'aaaa'],
      ['aaaaa', 'aaaaaa'],
    ]);
  });

  it('texts queued while a batch runs go into the next one together', async () => {
    const model = recordingModel();
    const coalescer = new BatchCoalescer(model.run, 8);
    const first = coalescer.embed(asInputs(['x']));
    await new Promise((r) => setTimeout(r, 1)); // the first batch is running now
    const later = await Promise.all([coalescer.embed(asInputs(['yy'])), coalescer.embed(asInputs(['zzz']))]);
    await first;
    expect(model.batches).toEqual([['x'], ['yy', 'zzz']]);
    expect(later.map((v) => v[0]![0])).toEqual([2, 3]);
  });

  it('a failed batch rejects its own callers only; the queue keeps draining', async () => {
    const model = recordingModel({ failOn: 'bad' });
    const coalescer = new BatchCoalescer(model.run, 1);
    const [bad, good] = await Promise.allSettled([coalescer.embed(asInputs(['bad'])), coalescer.embed(asInputs(['good']))]);
    expect(bad.status).toBe('rejected');
    expect(good).toEqual({ status: 'fulfilled', value: [Float32Array.of(4)] });
    expect(await coalescer.embed([])).toEqual([]);
  });

  it("an abort drops the caller's queued texts: the model never sees them, other callers are served", async () => {
    const model = recordingModel();
    const coalescer = new BatchCoalescer(model.run, 2);
    const controller = new AbortController();
    const cancelled = coalescer.embed(asInputs(['a', 'bb', 'ccc', 'dddd', 'eeeee', 'ffffff']), controller.signal);
    const other = coalescer.embed(asInputs(['xxxxxxx']));
    await new Promise((r) => setTimeout(r, 1)); // the first batch (two shortest texts) is running now
    controller.abort(new Error('job cancelled'));
    await expect(cancelled).rejects.toThrow('job cancelled');
    expect(coalescer.queued).toBe(1);
    expect(await other).toEqual([Float32Array.of(7)]);
    expect(model.batches).toEqual([['a', 'bb'], ['xxxxxxx']]);
  });

  it('an already aborted signal queues nothing', async () => {
    const model = recordingModel();
    const coalescer = new BatchCoalescer(model.run, 4);
    await expect(coalescer.embed(asInputs(['a']), AbortSignal.abort(new Error('too late')))).rejects.toThrow('too late');
    expect(coalescer.queued).toBe(0);
    await new Promise((r) => setTimeout(r, 10));
    expect(model.batches).toEqual([]);
  });

  it('a signal that never fires changes nothing', async () => {
    const model = recordingModel();
    const coalescer = new BatchCoalescer(model.run, 4);
    const vectors = await coalescer.embed(asInputs(['aa', 'a']), new AbortController().signal);
    expect(vectors.map((v) => v[0])).toEqual([2, 1]);
  });
});
