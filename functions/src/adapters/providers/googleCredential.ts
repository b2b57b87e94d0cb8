/**
 * What the Google-authenticated SDKs (`@google/genai`, `@anthropic-ai/vertex-sdk`) need from a credential:
 * the headers to send. Production passes none and the SDKs use Application Default Credentials (the
 * function's service account); tests pass a fixed token so no network is involved.
 *
 * Each SDK bundles its own copy of google-auth-library, whose `AuthClient` class an object of any other copy
 * is not, and both only ever call `getRequestHeaders()` on it: hence the one cast below, at the SDK boundary.
 */
export type GoogleCredential = { getRequestHeaders(url?: string | URL): Promise<Headers> };

export function asSdkAuthClient<T>(credential: GoogleCredential): T {
  return credential as unknown as T;
}
