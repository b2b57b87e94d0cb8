import type { Authenticator, Principal, Role } from '../../core/auth/principal.js';
import { ForbiddenError } from '../../core/errors.js';
import { type Certificates, GoogleIdTokenVerifier } from './googleIdToken.js';

export type PrincipalDirectory = Record<string, { tenant: string; roles: readonly Role[] }>;

/**
 * Production authentication: a Google-signed ID token, verified for signature, expiry and audience with
 * google-auth-library. The verified email maps to a tenant and roles through configuration; an email that is
 * not in the directory is not a principal. Emails compare case-insensitively: the verifier lower-cases the
 * token's email, and the directory's keys are lower-cased here, so `Alice@Hospital.example` in the
 * configuration signs in as the token's `alice@hospital.example`.
 */
export class GoogleIdTokenAuthenticator implements Authenticator {
  private readonly verifier: GoogleIdTokenVerifier;
  private readonly principals: ReadonlyMap<string, PrincipalDirectory[string]>;

  constructor(options: {
    audience: string;
    principals: PrincipalDirectory;
    /** Where verification keys come from; Google's published certificates unless a test supplies its own. */
    getCerts?: () => Promise<Certificates>;
    issuers?: string[];
  }) {
    // config.ts refuses two entries that differ only in case, so lower-casing loses nothing.
    this.principals = new Map(
      Object.entries(options.principals).map(([email, entry]) => [email.trim().toLowerCase(), entry]),
    );
    this.verifier = new GoogleIdTokenVerifier({
      audiences: [options.audience],
      ...(options.getCerts ? { getCerts: options.getCerts } : {}),
      ...(options.issuers ? { issuers: options.issuers } : {}),
    });
  }

  async authenticate(header: string | undefined): Promise<Principal> {
    const email = await this.verifier.verifiedEmail(header);
    const entry = this.principals.get(email.toLowerCase());
    // Authenticated, but granted nothing here.
    if (!entry) throw new ForbiddenError('this identity has no role in the gateway');
    return { subject: email, tenant: entry.tenant, roles: entry.roles };
  }
}
