import { OAuth2Client } from 'google-auth-library';
import { orUnavailable, UnauthenticatedError } from '../../core/errors.js';
import { bearerToken } from './devAuthenticator.js';

export type Certificates = Record<string, string>;

const GOOGLE_ISSUERS = ['accounts.google.com', 'https://accounts.google.com'];

export type GoogleIdTokenOptions = {
  audiences: readonly string[];
  /** Verification keys; Google's published certificates unless a test supplies its own. */
  getCerts?: () => Promise<Certificates>;
  issuers?: string[];
};

/**
 * Verifies a Google-signed ID token with google-auth-library (signature, expiry, audience, issuer) and
 * returns its verified email, lower-cased. A bad token is `UnauthenticatedError`; failing to fetch Google's
 * keys is a retryable `DependencyUnavailableError`, not the caller's fault.
 */
export class GoogleIdTokenVerifier {
  private readonly client = new OAuth2Client();
  private readonly getCerts: () => Promise<Certificates>;

  constructor(private readonly options: GoogleIdTokenOptions) {
    this.getCerts =
      options.getCerts ??
      (async () => (await this.client.getFederatedSignonCertsAsync()).certs as Certificates);
  }

  async verifiedEmail(authorizationHeader: string | undefined): Promise<string> {
    const token = bearerToken(authorizationHeader);
    const certs = await orUnavailable('token verification keys', () => this.getCerts());
    let email: string | undefined;
    let verified: boolean | undefined;
    try {
      const ticket = await this.client.verifySignedJwtWithCertsAsync(
        token,
        certs,
        [...this.options.audiences],
        this.options.issuers ?? GOOGLE_ISSUERS,
      );
      email = ticket.getPayload()?.email;
      verified = ticket.getPayload()?.email_verified;
    } catch {
      throw new UnauthenticatedError('invalid bearer token');
    }
    if (!email || verified !== true) throw new UnauthenticatedError('the token carries no verified email');
    return email.toLowerCase();
  }
}
