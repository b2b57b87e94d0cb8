/**
 * The one retry-timing helper: capped exponential backoff. Attempt 1 waits `minMs`, each further attempt
 * doubles it, never beyond `maxMs`. No jitter: the local task scheduler mirrors Cloud Tasks' queue retry
 * settings, which do not jitter either, and tests can compute the exact next attempt time.
 */
export type Backoff = { minMs: number; maxMs: number };

export function backoffDelayMs(attempt: number, backoff: Backoff): number {
  const doublings = Math.max(0, Math.min(attempt - 1, 30));
  return Math.min(backoff.maxMs, backoff.minMs * 2 ** doublings);
}

/**
 * The one deadline helper: waits for `work` at most `ms`, then rejects with `onTimeout()` (which may also
 * cancel the work, e.g. abort its signal). The work itself is not otherwise cancelled (SDK calls cannot
 * always be), and its late failure is swallowed here so that it never becomes an unhandled rejection. The
 * timer alone never keeps a process alive (the work it bounds does, while it runs).
 */
export async function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  work.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
    timer.unref();
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
