import path from 'node:path';
import { forwardTrust, installer, writeJson } from './common.js';
import { binPath, nodeOrNative } from './npm-bin.js';
import type { AgentPreset } from './types.js';

/* Verified by `npm run test:agents` (test/agents-e2e/gemini-cli.test.ts); measurements in docs/agents.md. */

export const GEMINI_STUB_MODEL = 'gemini-2.5-flash';

export const geminiCli: AgentPreset = {
  name: 'gemini-cli',
  npmPackage: '@google/gemini-cli',
  dialect: 'gemini',
  baseUrlVar: 'GOOGLE_GEMINI_BASE_URL',
  status: {
    verified: [{ version: '0.61.0', routes: ['forward', 'reverse'] }],
    notes: [
      `Runs with -m ${GEMINI_STUB_MODEL} unless args name a model: without one a router call (JSON fitting a responseJsonSchema) picks the model first, and the main prompt is longer.`,
      'CA: NODE_EXTRA_CA_CERTS. Without it every call fails with "fetch failed" and it retries with backoff (a timeout, no exchange captured).',
      'Without privacy.usageStatisticsEnabled=false it posts usage logs to play.googleapis.com.',
    ],
  },
  install: installer('gemini-cli', '@google/gemini-cli'),
  command(installDir, prompt, extraArgs = []) {
    const model = extraArgs.some((a) => a === '-m' || a === '--model' || a.startsWith('--model=')) ? [] : ['-m', GEMINI_STUB_MODEL];
    return [...nodeOrNative(binPath(installDir, '@google/gemini-cli', 'gemini')), ...model, ...extraArgs, '-p', prompt];
  },
  env(ctx) {
    const env: Record<string, string> = { GEMINI_API_KEY: 'dummy', GEMINI_CLI_TRUST_WORKSPACE: 'true' };
    if (ctx.route === 'reverse') env.GOOGLE_GEMINI_BASE_URL = ctx.baseUrl ?? ctx.proxyUrl;
    else {
      Object.assign(env, forwardTrust(ctx));
      if (ctx.baseUrl) env.GOOGLE_GEMINI_BASE_URL = ctx.baseUrl;
    }
    return env;
  },
  async prepareHome(homeDir) {
    await writeJson(path.join(homeDir, '.gemini', 'settings.json'), {
      security: { auth: { selectedType: 'gemini-api-key' } },
      privacy: { usageStatisticsEnabled: false },
    });
  },
};
