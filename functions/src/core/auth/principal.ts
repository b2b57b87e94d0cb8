import { ForbiddenError } from '../errors.js';

export const roles = ['clinician', 'reviewer', 'admin'] as const;
export type Role = (typeof roles)[number];

/** Who is calling, after authentication: a subject inside one tenant, with roles. */
export type Principal = { subject: string; tenant: string; roles: readonly Role[] };

/** Verifies the bearer token of a request. Throws `UnauthenticatedError` for a missing or invalid token. */
export interface Authenticator {
  authenticate(authorizationHeader: string | undefined): Promise<Principal>;
}

export function requireRole(principal: Principal, role: Role): void {
  if (!principal.roles.includes(role)) throw new ForbiddenError(`this action needs the ${role} role`);
}
