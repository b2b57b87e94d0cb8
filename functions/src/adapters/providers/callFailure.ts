import { ProviderCallError } from '../../core/providers/provider.js';

/**
 * What a provider call's failure is when the SDK did not say (no status, no abort): an answer that is not JSON
 * (the SDK's parser throws a SyntaxError) or that was cut off after its status and headers arrived is
 * `malformed` (the provider answered, badly); anything else (connection refused or reset, DNS, credentials that
 * cannot be obtained) means the provider was not reached: `server_error`. Node's fetch (undici) fails reading
 * a cut-off body with `TypeError: terminated`, while a connection that fails before any answer is
 * `fetch failed`.
 */
export function callFailure(provider: string, e: unknown): ProviderCallError {
  const cutOff = e instanceof TypeError && e.message === 'terminated';
  return new ProviderCallError(provider, e instanceof SyntaxError || cutOff ? 'malformed' : 'server_error');
}
