import { writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { forwardTrust, installer, openaiBase } from './common.js';
import { binPath, nodeOrNative } from './npm-bin.js';
import type { AgentPreset } from './types.js';

/*
 * Continue CLI (npm @continuedev/cli, command `cn`), bundled JavaScript. Without --config it reads
 * ~/.continue/config.yaml; its `${{ secrets.NAME }}` templates are filled from the environment, so
 * the config names the base URL and key by variable and one HOME serves every route.
 * Verified by `npm run test:agents` (test/agents-e2e/continue.test.ts); docs/agents.md.
 */

export const CONTINUE_STUB_MODEL = 'gpt-4o';

const CONFIG = `# Written by promptdiff: one OpenAI-compatible model, its base URL and key from the environment.
name: promptdiff
version: 1.0.0
schema: v1
models:
  - name: stub
    provider: openai
    model: ${CONTINUE_STUB_MODEL}
    apiKey: \${{ secrets.OPENAI_API_KEY }}
    apiBase: \${{ secrets.OPENAI_BASE_URL }}
    roles: [chat, edit, apply]
`;

export const continueCli: AgentPreset = {
  name: 'continue',
  npmPackage: '@continuedev/cli',
  dialect: 'openai-chat',
  // Not a variable Continue knows: the config's template reads it (and an unset one is "Invalid URL").
  baseUrlVar: 'OPENAI_BASE_URL',
  status: {
    verified: [{ version: '1.5.47', routes: ['forward', 'reverse'] }],
    notes: [
      '~/.continue/config.yaml with one `openai` model whose apiBase is ${{ secrets.OPENAI_BASE_URL }}; without a config (or logged out of the hub) it would ask to log in.',
      'CA: NODE_EXTRA_CA_CERTS. CONTINUE_CLI_ENABLE_TELEMETRY=0 keeps its metrics off (they also need an OTLP endpoint).',
    ],
  },
  install: installer('continue', '@continuedev/cli'),
  command(installDir, prompt, extraArgs = []) {
    return [...nodeOrNative(binPath(installDir, '@continuedev/cli', 'cn')), ...extraArgs, '-p', prompt];
  },
  env(ctx) {
    const env: Record<string, string> = { OPENAI_API_KEY: 'sk-dummy', OPENAI_BASE_URL: openaiBase(ctx), CONTINUE_CLI_ENABLE_TELEMETRY: '0' };
    if (ctx.route === 'forward') Object.assign(env, forwardTrust(ctx));
    return env;
  },
  async prepareHome(homeDir) {
    await mkdir(path.join(homeDir, '.continue'), { recursive: true });
    await writeFile(path.join(homeDir, '.continue', 'config.yaml'), CONFIG);
  },
};
