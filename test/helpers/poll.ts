/**
 * Polls `probe` until it returns something other than undefined, null or false, and resolves with
 * it; fails after `timeoutMs` naming what it waited for. Bounds waits without fixed sleeps.
 */
export async function pollUntil<T>(
  probe: () => T | Promise<T>,
  what: string,
  timeoutMs: number,
  intervalMs = 10,
): Promise<Exclude<T, undefined | null | false>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value as Exclude<T, undefined | null | false>;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
