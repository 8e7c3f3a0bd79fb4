/**
 * Shares model batches between concurrent callers. One document yields a handful of texts (its
 * sentences for the semantic chunker, then its chunks), far fewer than a batch; run one by one
 * the model would mostly see tiny batches. Here, while a batch runs, new texts queue; the next
 * batch takes up to `batchSize` of everything queued, shortest first, so batches stay full and
 * pad little whatever document the texts came from. One batch runs at a time: ONNX Runtime
 * already uses every core for one.
 */
interface Pending<In, Out> {
  input: In;
  text: string;
  resolve(output: Out): void;
  reject(err: unknown): void;
}

/** `In` carries a text plus whatever the batch runner needs to know about it (e.g. whether token vectors are wanted). */
export class BatchCoalescer<In extends { text: string } = { text: string }, Out = Float32Array> {
  private queue: Pending<In, Out>[] = [];
  private draining = false;

  constructor(
    private readonly runBatch: (inputs: In[]) => Promise<Out[]>,
    private readonly batchSize: number,
  ) {}

  /** With `signal`, an abort drops this call's texts still queued (a batch already running finishes). */
  embed(inputs: In[], signal?: AbortSignal): Promise<Out[]> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const mine: Pending<In, Out>[] = [];
    const vectors = inputs.map(
      (input) =>
        new Promise<Out>((resolve, reject) => {
          const pending = { input, text: input.text, resolve, reject };
          mine.push(pending);
          this.queue.push(pending);
        }),
    );
    if (!this.draining) {
      this.draining = true;
      // Let callers that start in the same tick add their texts before the first batch is cut.
      setImmediate(() => void this.drain());
    }
    const all = Promise.all(vectors);
    if (!signal) return all;
    const abandon = () => {
      const dropped = new Set(mine);
      this.queue = this.queue.filter((p) => !dropped.has(p));
      for (const p of mine) p.reject(signal.reason);
    };
    signal.addEventListener('abort', abandon, { once: true });
    const forget = () => signal.removeEventListener('abort', abandon);
    all.then(forget, forget);
    return all;
  }

  /** Texts waiting for a batch (for tests and metrics). */
  get queued(): number {
    return this.queue.length;
  }

  private async drain(): Promise<void> {
    while (this.queue.length) {
      this.queue.sort((a, b) => a.text.length - b.text.length);
      const batch = this.queue.splice(0, this.batchSize);
      try {
        const vectors = await this.runBatch(batch.map((p) => p.input));
        batch.forEach((p, i) => p.resolve(vectors[i]!));
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
    this.draining = false;
  }
}
