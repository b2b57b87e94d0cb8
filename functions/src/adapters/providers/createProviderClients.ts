import type { ProviderRouting } from '../../config.js';
import { ConfigError } from '../../config.js';
import type { ProviderClient } from '../../core/providers/provider.js';
import { AnthropicProvider } from './anthropic.js';
import { OpenAiCompatibleProvider } from './openAiCompatible.js';
import { VertexGeminiProvider } from './vertexGemini.js';

/**
 * One client per configured provider. API keys come from the environment variable the configuration names
 * (in production that variable is mounted from Secret Manager); they never reach a log or an error body. A
 * named variable that is missing or empty fails the start, naming the variable, never its value. Google
 * providers authenticate with Application Default Credentials (the function's service account).
 */
export function createProviderClients(
  routing: ProviderRouting,
  options: { project: string; env?: NodeJS.ProcessEnv },
): Map<string, ProviderClient> {
  const env = options.env ?? process.env;
  const keyFrom = (provider: string, variable: string): string => {
    const key = env[variable];
    if (!key) throw new ConfigError(`${variable}: the API key of provider ${provider} is not set`);
    return key;
  };
  const clients = new Map<string, ProviderClient>();
  for (const [name, provider] of Object.entries(routing.providers)) {
    switch (provider.kind) {
      case 'openai-compatible':
        clients.set(
          name,
          new OpenAiCompatibleProvider(name, {
            baseUrl: provider.baseUrl,
            apiKey: provider.apiKeyEnv ? keyFrom(name, provider.apiKeyEnv) : undefined,
          }),
        );
        break;
      case 'vertex-gemini':
        clients.set(
          name,
          new VertexGeminiProvider(name, {
            project: provider.project ?? options.project,
            location: provider.location,
            baseUrl: provider.baseUrl,
            maxOutputTokens: provider.maxOutputTokens,
          }),
        );
        break;
      case 'anthropic':
        clients.set(
          name,
          new AnthropicProvider(
            name,
            provider.mode === 'direct'
              ? {
                  mode: 'direct',
                  // config.ts refuses a direct-mode provider without apiKeyEnv.
                  apiKey: keyFrom(name, provider.apiKeyEnv ?? ''),
                  baseUrl: provider.baseUrl,
                  maxOutputTokens: provider.maxOutputTokens,
                }
              : {
                  mode: 'vertex',
                  project: provider.project ?? options.project,
                  location: provider.location ?? '',
                  baseUrl: provider.baseUrl,
                  maxOutputTokens: provider.maxOutputTokens,
                },
          ),
        );
        break;
    }
  }
  return clients;
}
