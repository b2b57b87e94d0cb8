import { OAuth2Client } from 'google-auth-library';
import type { ServiceCaller, ServiceCallerVerifier } from '../../core/auth/serviceCaller.js';
import { DependencyUnavailableError, ForbiddenError, UnauthenticatedError } from '../../core/errors.js';
import { bearerToken } from './devAuthenticator.js';

type Certificates = Record<string, string>;

const GOOGLE_ISSUERS = ['accounts.google.com', 'https://accounts.google.com'];

/**
 * Production: the OIDC ID token Cloud Tasks or Cloud Scheduler attaches, verified with google-auth-library
 * (Google's signature, expiry, our audience), and its verified email must be one of the allowed service
 * accounts. Cloud Run's invoker IAM already keeps others out; this check does not rely on it.
 */
export class GoogleServiceCallerVerifier implements ServiceCallerVerifier {
  private readonly client = new OAuth2Client();
  private readonly allowed: ReadonlySet<string>;
  private readonly getCerts: () => Promise<Certificates>;

  constructor(
    private readonly options: {
      /** Accepted audiences: Cloud Scheduler and Cloud Tasks default to the target URL if none is set. */
      audiences: readonly string[];
      allowedEmails: readonly string[];
      /** Verification keys; Google's published certificates unless a test supplies its own. */
      getCerts?: () => Promise<Certificates>;
      issuers?: string[];
    },
  ) {
    this.allowed = new Set(options.allowedEmails.map((e) => e.toLowerCase()));
    this.getCerts =
      options.getCerts ??
      (async () => (await this.client.getFederatedSignonCertsAsync()).certs as Certificates);
  }

  async verify(header: string | undefined): Promise<ServiceCaller> {
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
        [...this.options.audiences],
        this.options.issuers ?? GOOGLE_ISSUERS,
      );
      email = ticket.getPayload()?.email;
      verified = ticket.getPayload()?.email_verified;
    } catch {
      throw new UnauthenticatedError('invalid bearer token');
    }
    if (!email || verified !== true) throw new UnauthenticatedError('the token carries no verified email');
    return allowedCaller(this.allowed, email);
  }
}

const DEV_PREFIX = 'dev-oidc:';

/** The local stand-in for an OIDC token, sent by the local task scheduler and the local sweeper cron. */
export const devOidcToken = (serviceAccountEmail: string): string => `${DEV_PREFIX}${serviceAccountEmail}`;

/**
 * Local development only (config.ts refuses dev auth when GATEWAY_ENV=production): accepts
 * `Bearer dev-oidc:<service account email>` for an allowed service account.
 */
export class DevServiceCallerVerifier implements ServiceCallerVerifier {
  private readonly allowed: ReadonlySet<string>;

  constructor(allowedEmails: readonly string[]) {
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
