import { type Authenticator, type Principal, type Role, roles } from '../../core/auth/principal.js';
import { UnauthenticatedError } from '../../core/errors.js';
import { refuseOnCloudRun } from './cloudRunGuard.js';

const part = /^[A-Za-z0-9._@-]{1,128}$/;

/**
 * Local development tokens, `dev:<tenant>:<role>:<subject>`. Never enabled in a deployed function:
 * config.ts refuses AUTH_MODE=dev unless GATEWAY_ENV=local, and on Cloud Run (K_SERVICE) in any case.
 */
export class DevAuthenticator implements Authenticator {
  constructor() {
    refuseOnCloudRun('AUTH_MODE=dev (dev: tokens)');
  }

  async authenticate(header: string | undefined): Promise<Principal> {
    const token = bearerToken(header);
    const [scheme, tenant, role, subject, ...rest] = token.split(':');
    if (
      scheme !== 'dev' ||
      rest.length > 0 ||
      !tenant ||
      !subject ||
      !part.test(tenant) ||
      !part.test(subject) ||
      !roles.includes(role as Role)
    ) {
      throw new UnauthenticatedError('invalid bearer token');
    }
    return { tenant, subject, roles: [role as Role] };
  }
}

/** The token of an `Authorization: Bearer <token>` header, or `UnauthenticatedError`. */
export function bearerToken(header: string | undefined): string {
  const match = /^Bearer +([\x21-\x7e]{1,4096})$/i.exec(header?.trim() ?? '');
  if (!match?.[1]) throw new UnauthenticatedError('missing or malformed Authorization: Bearer header');
  return match[1];
}
