import type { RoutingConfig } from '../../config.js';
import type { ProviderClient } from '../../core/providers/provider.js';
import { OpenAiCompatibleProvider } from './openAiCompatible.js';

/**
 * One client per configured provider. API keys come from the environment variable the configuration names
 * (in production that variable is mounted from Secret Manager); they never reach a log or an error body.
 */
export function createProviderClients(
  routing: RoutingConfig,
  env: NodeJS.ProcessEnv = process.env,
): Map<string, ProviderClient> {
  const clients = new Map<string, ProviderClient>();
  for (const [name, provider] of Object.entries(routing.providers)) {
    switch (provider.kind) {
      case 'openai-compatible':
        clients.set(
          name,
          new OpenAiCompatibleProvider(name, {
            baseUrl: provider.baseUrl,
            apiKey: provider.apiKeyEnv ? env[provider.apiKeyEnv] : undefined,
          }),
        );
        break;
      default:
        throw new Error(`provider kind ${provider.kind} (${name}) is not supported yet`);
    }
  }
  return clients;
}
