import path from 'node:path';
import { forwardTrust, installer, openaiBase, writeJson } from './common.js';
import { binPath, nodeOrNative } from './npm-bin.js';
import type { AgentPreset } from './types.js';

/* Verified by `npm run test:agents` (test/agents-e2e/qwen-code.test.ts); measurements in docs/agents.md. */

export const qwenCode: AgentPreset = {
  name: 'qwen-code',
  npmPackage: '@qwen-code/qwen-code',
  dialect: 'openai-chat',
  baseUrlVar: 'OPENAI_BASE_URL',
  status: {
    verified: [{ version: '0.24.4', routes: ['forward', 'reverse'] }],
    notes: [
      'Runs on Node 20 despite its engines field. Slow to start (it relaunches itself twice): 7–30 s per run on a loaded 2-core machine.',
      'Without privacy.usageStatisticsEnabled=false it reports usage to a third-party RUM host (gb4w8c3ygj-default-sea.rum.aliyuncs.com).',
      'CA: NODE_EXTRA_CA_CERTS. Without it: exit 1 with "API Error: Connection error. (cause: SELF_SIGNED_CERT_IN_CHAIN …)".',
      'Sends prompt_cache_key only when OPENAI_BASE_URL is api.openai.com: a base-URL axis sees it.',
    ],
  },
  install: installer('qwen-code', '@qwen-code/qwen-code'),
  command(installDir, prompt, extraArgs = []) {
    return [...nodeOrNative(binPath(installDir, '@qwen-code/qwen-code', 'qwen')), ...extraArgs, '-p', prompt];
  },
  env(ctx) {
    const env: Record<string, string> = { OPENAI_API_KEY: 'sk-dummy', OPENAI_BASE_URL: openaiBase(ctx), OPENAI_MODEL: 'qwen3-coder-plus' };
    if (ctx.route === 'forward') Object.assign(env, forwardTrust(ctx));
    return env;
  },
  async prepareHome(homeDir) {
    await writeJson(path.join(homeDir, '.qwen', 'settings.json'), {
      memory: { enableManagedAutoMemory: false },
      privacy: { usageStatisticsEnabled: false },
    });
  },
};
