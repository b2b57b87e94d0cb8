/**
 * A Google service calling an internal endpoint on our behalf: Cloud Tasks (deadline checks) or Cloud
 * Scheduler (the outbox sweep), identified by the service account whose OIDC token it carries.
 */
export type ServiceCaller = { email: string };

export interface ServiceCallerVerifier {
  /**
   * Verifies the bearer token: `UnauthenticatedError` if missing or invalid, `ForbiddenError` if valid but
   * not one of the allowed service accounts.
   */
  verify(authorizationHeader: string | undefined): Promise<ServiceCaller>;
}
