import type { ServiceCaller, ServiceCallerVerifier } from '../../core/auth/serviceCaller.js';
import { ForbiddenError, UnauthenticatedError } from '../../core/errors.js';
import { refuseOnCloudRun } from './cloudRunGuard.js';
import { bearerToken } from './devAuthenticator.js';
import { type Certificates, GoogleIdTokenVerifier } from './googleIdToken.js';

/**
 * Production: the OIDC ID token Cloud Tasks or Cloud Scheduler attaches, verified with google-auth-library
 * (Google's signature, expiry, our audience), and its verified email must be one of the allowed service
 * accounts. Cloud Run's invoker IAM already keeps others out; this check does not rely on it.
 */
export class GoogleServiceCallerVerifier implements ServiceCallerVerifier {
  private readonly verifier: GoogleIdTokenVerifier;
  private readonly allowed: ReadonlySet<string>;

  constructor(options: {
    /** Accepted audiences: Cloud Scheduler and Cloud Tasks default to the target URL if none is set. */
    audiences: readonly string[];
    allowedEmails: readonly string[];
    /** Verification keys; Google's published certificates unless a test supplies its own. */
    getCerts?: () => Promise<Certificates>;
    issuers?: string[];
  }) {
    this.allowed = new Set(options.allowedEmails.map((e) => e.toLowerCase()));
    this.verifier = new GoogleIdTokenVerifier({
      audiences: options.audiences,
      ...(options.getCerts ? { getCerts: options.getCerts } : {}),
      ...(options.issuers ? { issuers: options.issuers } : {}),
    });
  }

  async verify(header: string | undefined): Promise<ServiceCaller> {
    return allowedCaller(this.allowed, await this.verifier.verifiedEmail(header));
  }
}

const DEV_PREFIX = 'dev-oidc:';

/** The local stand-in for an OIDC token, sent by the local task scheduler and the local sweeper cron. */
export const devOidcToken = (serviceAccountEmail: string): string => `${DEV_PREFIX}${serviceAccountEmail}`;

/**
 * Local development only (config.ts refuses dev auth when GATEWAY_ENV=production or K_SERVICE is set): accepts
 * `Bearer dev-oidc:<service account email>` for an allowed service account.
 */
export class DevServiceCallerVerifier implements ServiceCallerVerifier {
  private readonly allowed: ReadonlySet<string>;

  constructor(allowedEmails: readonly string[]) {
    refuseOnCloudRun('dev-oidc: service tokens');
    this.allowed = new Set(allowedEmails.map((e) => e.toLowerCase()));
  }

  async verify(header: string | undefined): Promise<ServiceCaller> {
    const token = bearerToken(header);
    const email = token.startsWith(DEV_PREFIX) ? token.slice(DEV_PREFIX.length) : '';
    if (!/^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+$/.test(email))
      throw new UnauthenticatedError('invalid bearer token');
    return allowedCaller(this.allowed, email);
  }
}

function allowedCaller(allowed: ReadonlySet<string>, email: string): ServiceCaller {
  const normalised = email.toLowerCase();
  if (!allowed.has(normalised)) throw new ForbiddenError('this identity may not call internal jobs');
  return { email: normalised };
}
