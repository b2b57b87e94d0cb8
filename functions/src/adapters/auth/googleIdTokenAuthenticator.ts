import { OAuth2Client } from 'google-auth-library';
import type { Authenticator, Principal, Role } from '../../core/auth/principal.js';
import { DependencyUnavailableError, ForbiddenError, UnauthenticatedError } from '../../core/errors.js';
import { bearerToken } from './devAuthenticator.js';

export type PrincipalDirectory = Record<string, { tenant: string; roles: readonly Role[] }>;

type Certificates = Record<string, string>;

const GOOGLE_ISSUERS = ['accounts.google.com', 'https://accounts.google.com'];

/**
 * Production authentication: a Google-signed ID token, verified for signature, expiry and audience with
 * google-auth-library. The verified email maps to a tenant and roles through configuration; an email that is
 * not in the directory is not a principal.
 */
export class GoogleIdTokenAuthenticator implements Authenticator {
  private readonly client = new OAuth2Client();
  private readonly getCerts: () => Promise<Certificates>;

  constructor(
    private readonly options: {
      audience: string;
      principals: PrincipalDirectory;
      /** Where verification keys come from; Google's published certificates unless a test supplies its own. */
      getCerts?: () => Promise<Certificates>;
      issuers?: string[];
    },
  ) {
    this.getCerts =
      options.getCerts ??
      (async () => (await this.client.getFederatedSignonCertsAsync()).certs as Certificates);
  }

  async authenticate(header: string | undefined): Promise<Principal> {
    const token = bearerToken(header);
    let certs: Certificates;
    try {
      certs = await this.getCerts();
    } catch (e) {
      throw new DependencyUnavailableError('token verification keys', 2, { cause: e });
    }
    let email: string | undefined;
    let verified: boolean | undefined;
    try {
      const ticket = await this.client.verifySignedJwtWithCertsAsync(
        token,
        certs,
        this.options.audience,
        this.options.issuers ?? GOOGLE_ISSUERS,
      );
      const payload = ticket.getPayload();
      email = payload?.email;
      verified = payload?.email_verified;
    } catch {
      throw new UnauthenticatedError('invalid bearer token');
    }
    if (!email || verified !== true) throw new UnauthenticatedError('the token carries no verified email');
    const entry = this.options.principals[email.toLowerCase()];
    // Authenticated, but granted nothing here.
    if (!entry) throw new ForbiddenError('this identity has no role in the gateway');
    return { subject: email.toLowerCase(), tenant: entry.tenant, roles: entry.roles };
  }
}
