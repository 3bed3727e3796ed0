// Retrying a store write: a failed insert is retried with exponential backoff,
// never dropped; after the last attempt the error reaches the caller, which
// must not acknowledge what it was writing. Safe to repeat because every
// insert carries a deduplication token.

export interface RetryOptions {
  /** Total attempts per insert, including the first (>= 1). */
  attempts: number;
  /** Delay before the first retry; doubled for each further retry. */
  initialDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 5, initialDelayMs: 100, maxDelayMs: 5000 };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `fn` up to `retry.attempts` times; `onRetry` hears of each failure that
 * will be retried (attempt is 1-based). Throws the last attempt's error.
 */
export async function withRetry<T>(
  fn: () => Promise<T>,
  retry: RetryOptions = DEFAULT_RETRY,
  onRetry?: (attempt: number, error: unknown, delayMs: number) => void,
): Promise<T> {
  const { attempts, initialDelayMs, maxDelayMs } = retry;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= attempts) throw error;
      const delayMs = Math.min(maxDelayMs, initialDelayMs * 2 ** (attempt - 1));
      onRetry?.(attempt, error, delayMs);
      await sleep(delayMs);
    }
  }
}
