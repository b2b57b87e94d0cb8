import { OAuth2Client } from 'google-auth-library';
import type { Principal } from '../../core/auth/principal.js';
import { type Clock, systemClock } from '../../core/clock.js';
import { ForbiddenError, orUnavailable, UnauthenticatedError } from '../../core/errors.js';
import type { Certificates } from './googleIdToken.js';
import type { PrincipalDirectory } from './googleIdTokenAuthenticator.js';

/** The header Identity-Aware Proxy adds to every request it lets through. */
export const IAP_ASSERTION_HEADER = 'x-goog-iap-jwt-assertion';

const IAP_ISSUER = 'https://cloud.google.com/iap';

/**
 * IAP audiences: `/projects/<number>/global/backendServices/<id>` behind a load balancer, or
 * `/projects/<number>/locations/<region>/services/<name>` when IAP is enabled on the Cloud Run service itself.
 */
export const iapAudiencePattern =
  /^\/projects\/[0-9]+\/(global\/backendServices\/[0-9]+|locations\/[a-z0-9-]+\/services\/[a-z][a-z0-9-]{0,62})$/;

const ASSERTION_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const MAX_ASSERTION_CHARS = 8_192;
const KEYS_TTL_MS = 3_600_000;
const KEYS_REFRESH_MIN_MS = 60_000;

function keyIdOf(jwt: string): string | undefined {
  try {
    const header = JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString('utf8')) as unknown;
    const kid = (header as { kid?: unknown } | null)?.kid;
    return typeof kid === 'string' ? kid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The reviewer console sits behind Identity-Aware Proxy: IAP signs in the person and forwards every request
 * with an ES256 JWT in `x-goog-iap-jwt-assertion`. The JWT is verified with google-auth-library against IAP's
 * published keys (signature, expiry, issuer, the backend's audience), so a request that reached the service
 * around the proxy cannot pass as signed in. Its email maps to a tenant and roles through the same directory
 * as ID tokens.
 */
export class IapJwtAuthenticator {
  private readonly client = new OAuth2Client();
  private readonly getPublicKeys: () => Promise<Certificates>;

  constructor(
    private readonly options: {
      audience: string;
      principals: PrincipalDirectory;
      /** IAP's published keys (PEM by key id) unless a test supplies its own. */
      getPublicKeys?: () => Promise<Certificates>;
      clock?: Clock;
    },
  ) {
    if (!iapAudiencePattern.test(options.audience)) {
      throw new Error(
        'the IAP audience must be /projects/<number>/global/backendServices/<id> or the Cloud Run form',
      );
    }
    this.getPublicKeys =
      options.getPublicKeys ??
      (async () => (await this.client.getIapPublicKeysAsync()).pubkeys as unknown as Certificates);
  }

  private cached: { keys: Certificates; at: number } | null = null;

  /**
   * IAP's keys, kept for an hour; fetched again sooner when a token names a key id we do not hold (IAP
   * rotates its keys), at most once a minute so that forged key ids cannot make us hammer the key endpoint.
   */
  private async keysFor(kid: string | undefined): Promise<Certificates> {
    const now = (this.options.clock ?? systemClock)();
    const age = this.cached ? now - this.cached.at : Number.POSITIVE_INFINITY;
    const unknownKid = kid !== undefined && this.cached !== null && !(kid in this.cached.keys);
    if (age > KEYS_TTL_MS || (unknownKid && age > KEYS_REFRESH_MIN_MS)) {
      this.cached = { keys: await this.getPublicKeys(), at: now };
    }
    return this.cached!.keys;
  }

  async authenticate(assertion: string | undefined): Promise<Principal> {
    const jwt = assertion?.trim() ?? '';
    if (!jwt || jwt.length > MAX_ASSERTION_CHARS || !ASSERTION_SHAPE.test(jwt)) {
      throw new UnauthenticatedError('missing or malformed IAP assertion');
    }
    const keys = await orUnavailable('IAP verification keys', () => this.keysFor(keyIdOf(jwt)));
    let email: string | undefined;
    try {
      const ticket = await this.client.verifySignedJwtWithCertsAsync(jwt, keys, this.options.audience, [
        IAP_ISSUER,
      ]);
      email = ticket.getPayload()?.email;
    } catch {
      throw new UnauthenticatedError('invalid IAP assertion');
    }
    if (!email) throw new UnauthenticatedError('the IAP assertion carries no email');
    const normalised = email.toLowerCase();
    const entry = this.options.principals[normalised];
    if (!entry) throw new ForbiddenError('this identity has no role in the gateway');
    return { subject: normalised, tenant: entry.tenant, roles: entry.roles };
  }
}
