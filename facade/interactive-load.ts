/**
 * Interactive requests in flight in this process, so background work (batch questions) can step
 * aside: `quiet()` resolves once nothing interactive has run for `quietMs`, or after `maxWaitMs` at
 * the latest, so a busy server slows batches down without starving them.
 */
export class InteractiveLoad {
  private inFlight = 0;
  private lastActive = 0;

  enter(): void {
    this.inFlight++;
    this.lastActive = Date.now();
  }

  leave(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    this.lastActive = Date.now();
  }

  get busy(): boolean {
    return this.inFlight > 0;
  }

  async quiet(quietMs: number, maxWaitMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + maxWaitMs;
    for (;;) {
      const idleFor = Date.now() - this.lastActive;
      if ((this.inFlight === 0 && idleFor >= quietMs) || Date.now() >= deadline || signal?.aborted) return;
      const wait = this.inFlight === 0 ? quietMs - idleFor : Math.min(10, quietMs);
      await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.min(wait, deadline - Date.now()))));
    }
  }
}
