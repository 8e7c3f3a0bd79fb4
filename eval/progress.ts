import cliProgress from 'cli-progress';

/** A progress bar on a terminal, a plain line every few seconds otherwise (logs, CI, nohup). */
export interface Progress {
  start(label: string, total: number): void;
  tick(n?: number): void;
  stop(summary?: string): void;
}

export const silentProgress: Progress = { start() {}, tick() {}, stop() {} };

export function consoleProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  return stream.isTTY ? new BarProgress(stream) : new LineProgress(stream);
}

class BarProgress implements Progress {
  private bar: cliProgress.SingleBar | undefined;

  constructor(private readonly stream: NodeJS.WriteStream) {}

  start(label: string, total: number) {
    this.bar = new cliProgress.SingleBar(
      { format: `${label.padEnd(28)} {bar} {value}/{total} | {eta_formatted} left`, hideCursor: true, stream: this.stream },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(total, 0);
  }

  tick(n = 1) {
    this.bar?.increment(n);
  }

  stop(summary?: string) {
    this.bar?.stop();
    this.bar = undefined;
    if (summary) this.stream.write(`${summary}\n`);
  }
}

class LineProgress implements Progress {
  private label = '';
  private total = 0;
  private done = 0;
  private started = 0;
  private lastPrint = 0;

  constructor(private readonly stream: NodeJS.WriteStream) {}

  start(label: string, total: number) {
    Object.assign(this, { label, total, done: 0, started: Date.now(), lastPrint: Date.now() });
    this.stream.write(`${label}: 0/${total}\n`);
  }

  tick(n = 1) {
    this.done += n;
    const now = Date.now();
    if (now - this.lastPrint < 10_000 || this.done >= this.total) return;
    this.lastPrint = now;
    const rate = this.done / ((now - this.started) / 1000);
    const left = rate > 0 ? Math.round((this.total - this.done) / rate) : 0;
    this.stream.write(`${this.label}: ${this.done}/${this.total} (${rate.toFixed(1)}/s, ~${left} s left)\n`);
  }

  stop(summary?: string) {
    const seconds = ((Date.now() - this.started) / 1000).toFixed(1);
    this.stream.write(`${this.label}: ${this.done}/${this.total} in ${seconds} s${summary ? ` — ${summary}` : ''}\n`);
  }
}
