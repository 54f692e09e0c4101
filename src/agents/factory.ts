import path from 'node:path';
import { proxyVars, writeJson } from './common.js';
import { platformBinary, platformInstaller, type PlatformInstall } from './platform.js';
import type { AgentEnvContext, AgentPreset } from './types.js';
import { anthropicMessages } from '../dialects/anthropic-messages.js';

/*
 * Factory's droid (npm @factory/cli), a Bun-compiled binary in @factory/cli-<platform>, with a
 * bring-your-own-key model (customModels in ~/.factory/settings.json, provider anthropic). It
 * talks to Factory's own API all the same (login check, feature flags, sessions, the session's
 * messages, telemetry); the stub's answers pass. Verified by `npm run test:agents`
 * (test/agents-e2e/factory.test.ts); docs/agents.md.
 */

export const FACTORY_STUB_MODEL = 'claude-sonnet-4-5';

const INSTALL: PlatformInstall = {
  name: 'factory',
  npmPackage: '@factory/cli',
  platformPackage: `@factory/cli-${process.platform}-${process.arch}`,
};

/** The model's base URL: the listener (reverse), the host it believes in (forward), Anthropic's by default. */
function modelBase(ctx: AgentEnvContext | undefined): string {
  if (ctx?.route === 'reverse') return ctx.baseUrl ?? ctx.proxyUrl;
  return ctx?.baseUrl ?? anthropicMessages.baseUrl;
}

export const factory: AgentPreset = {
  name: 'factory',
  npmPackage: INSTALL.npmPackage,
  dialect: 'anthropic-messages',
  // droid reads no such variable: prepareHome() writes the run's base URL into customModels.
  baseUrlVar: 'ANTHROPIC_BASE_URL',
  status: {
    verified: [{ version: '0.225.1', routes: ['forward', 'reverse'] }],
    notes: [
      '@factory/cli@0.225.1 (the only release published) names @factory/cli-linux-x64@0.225.1, which the registry lacks; the preset installs 0.225.2, the nearest build, beside it (`droid --version` says 0.225.2).',
      'With a custom model it still calls api.factory.ai ~20 times per run (whoami, feature-flags, sessions/create, message/create with the conversation, update-settings, llm/custom/usage) and telemetry.factory.ai; the stub answers them. In the reverse route FACTORY_API_BASE_URL and FACTORY_TELEMETRY_INGEST_BASE_URL point them at the listener.',
      'FACTORY_AIRGAP_ENABLED=1 (not set) stops those calls but changes the prompt (6 tools instead of 8).',
      'CA: FACTORY_EXTRA_CA_CERTS (NODE_EXTRA_CA_CERTS too).',
    ],
  },
  install: platformInstaller(INSTALL),
  command(installDir, prompt, extraArgs = []) {
    const model = extraArgs.some((a) => a === '-m' || a === '--model' || a.startsWith('--model=')) ? [] : ['-m', `custom:${FACTORY_STUB_MODEL}`];
    return [platformBinary(installDir, INSTALL, 'bin/droid'), 'exec', ...model, ...extraArgs, prompt];
  },
  env(ctx) {
    const env: Record<string, string> = {
      ANTHROPIC_API_KEY: 'sk-ant-dummy',
      // Any key passes the login check against the stub; without one exec asks to log in.
      FACTORY_API_KEY: 'fk-dummy',
      FACTORY_DISABLE_KEYRING: '1',
      FACTORY_DROID_AUTO_UPDATE_ENABLED: 'false',
    };
    if (ctx.route === 'forward') Object.assign(env, proxyVars(ctx.proxyUrl), { FACTORY_EXTRA_CA_CERTS: ctx.caCertPath, NODE_EXTRA_CA_CERTS: ctx.caCertPath });
    else {
      const origin = ctx.proxyUrl.replace(/\/+$/, '');
      Object.assign(env, { FACTORY_API_BASE_URL: origin, FACTORY_TELEMETRY_INGEST_BASE_URL: origin });
    }
    return env;
  },
  async prepareHome(homeDir, ctx) {
    // apiKey takes ${VAR}; baseUrl does not (a ${VAR} there is sent literally), hence the route here.
    await writeJson(path.join(homeDir, '.factory', 'settings.json'), {
      customModels: [
        { model: FACTORY_STUB_MODEL, displayName: 'promptdiff stub', baseUrl: modelBase(ctx), apiKey: '${ANTHROPIC_API_KEY}', provider: 'anthropic', maxOutputTokens: 8192 },
      ],
    });
  },
};
