import { ConfigError } from '../../config.js';

/**
 * A second line behind config.ts: the development stand-ins (dev tokens, dev OIDC tokens, the local task
 * scheduler) refuse to exist on Cloud Run, which sets K_SERVICE, even if something builds them without going
 * through the configuration.
 */
export function refuseOnCloudRun(what: string, env: NodeJS.ProcessEnv = process.env): void {
  if (env.K_SERVICE) {
    throw new ConfigError(`K_SERVICE: ${what} is for local development and is refused on Cloud Run`);
  }
}
