/**
 * Whether a provider SDK's error is an answer cut off after its status and headers arrived: Node's fetch
 * (undici) fails reading such a body with `TypeError: terminated`, while a connection that fails before any
 * answer is `fetch failed`. A cut-off answer is a `malformed` one (the provider answered, badly), not a
 * connection failure.
 */
export const isCutOffBody = (e: unknown): boolean => e instanceof TypeError && e.message === 'terminated';
