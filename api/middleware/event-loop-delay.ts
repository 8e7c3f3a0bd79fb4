import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';

/**
 * How late this process's event loop has recently been to run what was due: the mean delay of its
 * timer ticks in the current window or the one before, whichever is larger, in ms. The mean, not
 * the maximum: one long synchronous step (a PGlite query, a GC pause) delays one tick and should
 * not shed, while a loop that is behind on every tick (each new request waits about that long)
 * should. One monitor per process (the event loop is the process's), started on first use; its
 * timers never keep the process alive.
 */
export interface EventLoopDelay {
  recentMs(): number;
}

/** Long enough to smooth single timer ticks, short enough that shedding stops soon after the loop recovers. */
const WINDOW_MS = 500;
/** The histogram's sampling interval: delays shorter than this go unseen, which is fine for a threshold of tens of ms. */
const RESOLUTION_MS = 10;

let shared: EventLoopDelay | undefined;

export function processEventLoopDelay(): EventLoopDelay {
  shared ??= startMonitor();
  return shared;
}

function startMonitor(): EventLoopDelay {
  const histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  let previousMs = 0;
  // Each recorded tick includes the sampling interval itself; what is left is how late it was.
  const currentMs = () => (histogram.count > 0 ? Math.max(0, histogram.mean / 1e6 - RESOLUTION_MS) : 0);
  // A blocked loop also delays this rotation, so the block lands in one of the two windows read below.
  const rotation = setInterval(() => {
    previousMs = currentMs();
    histogram.reset();
  }, WINDOW_MS);
  rotation.unref();
  return {
    recentMs: () => Math.max(previousMs, currentMs()),
  };
}
