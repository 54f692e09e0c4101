import { forwardTrust, installer, openaiBase } from './common.js';
import { binPath, nodeOrNative } from './npm-bin.js';
import type { AgentPreset } from './types.js';

/*
 * GitHub Copilot CLI (npm @github/copilot): an npm loader (npm-loader.js) that starts the native
 * build from @github/copilot-<platform>, which unpacks itself into ~/.cache/copilot. With a
 * provider of its own (COPILOT_PROVIDER_*) it needs no GitHub login and speaks Chat Completions.
 * Verified by `npm run test:agents` (test/agents-e2e/copilot.test.ts); docs/agents.md.
 */

export const COPILOT_STUB_MODEL = 'gpt-4o';

export const copilot: AgentPreset = {
  name: 'copilot',
  npmPackage: '@github/copilot',
  dialect: 'openai-chat',
  baseUrlVar: 'COPILOT_PROVIDER_BASE_URL',
  status: {
    verified: [{ version: '1.0.102', routes: ['forward', 'reverse'] }],
    notes: [
      'COPILOT_PROVIDER_TYPE=openai: the base URL is used as given (/chat/completions appended). With TYPE=anthropic it appends /v1/messages, so a base ending in /v1 gives /v1/v1/messages.',
      'It writes a device id to ~/.cache/Microsoft/DeveloperTools/deviceid on first start; with --disable-client-telemetry nothing but the model call was seen.',
      'CA: NODE_EXTRA_CA_CERTS (a Node single-executable build).',
    ],
  },
  install: installer('copilot', '@github/copilot'),
  command(installDir, prompt, extraArgs = []) {
    return [...nodeOrNative(binPath(installDir, '@github/copilot', 'copilot')), ...extraArgs, '-p', prompt, '--disable-client-telemetry'];
  },
  env(ctx) {
    const env: Record<string, string> = {
      COPILOT_PROVIDER_TYPE: 'openai',
      COPILOT_PROVIDER_BASE_URL: openaiBase(ctx),
      COPILOT_PROVIDER_API_KEY: 'sk-dummy',
      COPILOT_MODEL: COPILOT_STUB_MODEL,
      COPILOT_AUTO_UPDATE: 'false',
    };
    if (ctx.route === 'forward') Object.assign(env, forwardTrust(ctx));
    return env;
  },
  async prepareHome() {
    // Nothing: no login with a provider of its own.
  },
};
