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

  embed(inputs: In[]): Promise<Out[]> {
    const vectors = inputs.map(
      (input) => new Promise<Out>((resolve, reject) => this.queue.push({ input, text: input.text, resolve, reject })),
    );
    if (!this.draining) {
      this.draining = true;
      // Let callers that start in the same tick add their texts before the first batch is cut.
      setImmediate(() => void this.drain());
    }
    return Promise.all(vectors);
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
