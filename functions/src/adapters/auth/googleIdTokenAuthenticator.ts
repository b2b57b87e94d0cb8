import type { Authenticator, Principal, Role } from '../../core/auth/principal.js';
import { ForbiddenError } from '../../core/errors.js';
import { type Certificates, GoogleIdTokenVerifier } from './googleIdToken.js';

export type PrincipalDirectory = Record<string, { tenant: string; roles: readonly Role[] }>;

/**
 * Production authentication: a Google-signed ID token, verified for signature, expiry and audience with
 * google-auth-library. The verified email maps to a tenant and roles through configuration; an email that is
 * not in the directory is not a principal.
 */
export class GoogleIdTokenAuthenticator implements Authenticator {
  private readonly verifier: GoogleIdTokenVerifier;

  constructor(
    private readonly options: {
      audience: string;
      principals: PrincipalDirectory;
      /** Where verification keys come from; Google's published certificates unless a test supplies its own. */
      getCerts?: () => Promise<Certificates>;
      issuers?: string[];
    },
  ) {
    this.verifier = new GoogleIdTokenVerifier({
      audiences: [options.audience],
      ...(options.getCerts ? { getCerts: options.getCerts } : {}),
      ...(options.issuers ? { issuers: options.issuers } : {}),
    });
  }

  async authenticate(header: string | undefined): Promise<Principal> {
    const email = await this.verifier.verifiedEmail(header);
    const entry = this.options.principals[email];
    // Authenticated, but granted nothing here.
    if (!entry) throw new ForbiddenError('this identity has no role in the gateway');
    return { subject: email, tenant: entry.tenant, roles: entry.roles };
  }
}
