import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { installer, openaiBase, proxyVars } from './common.js';
import { binPath, nodeOrNative } from './npm-bin.js';
import type { AgentPreset } from './types.js';

/* Verified by `npm run test:agents` (test/agents-e2e/codex.test.ts); measurements in docs/agents.md. */

export const codex: AgentPreset = {
  name: 'codex',
  npmPackage: '@openai/codex',
  dialect: 'openai-responses',
  baseUrlVar: 'OPENAI_BASE_URL',
  status: {
    verified: [{ version: '0.169.0', routes: ['forward', 'reverse'] }],
    notes: [
      '404 MB installed (a Rust binary in @openai/codex-linux-x64). OPENAI_BASE_URL is ignored: the provider and its base URL come from -c options.',
      'CA: SSL_CERT_FILE or CODEX_CA_CERTIFICATE (either alone works); NODE_EXTRA_CA_CERTS is not read. Without the CA it prints "Reconnecting... waiting for network" forever (retry limits do not stop it), so a missing CA shows up as a timeout with no exchange captured.',
      '0.169 sends its tools as an `additional_tools` input item, not in `tools`.',
    ],
  },
  install: installer('codex', '@openai/codex'),
  command(installDir, prompt, extraArgs = [], ctx) {
    const provider = [
      'model_provider=stub',
      'model_providers.stub.name=stub',
      `model_providers.stub.base_url=${openaiBase(ctx)}`,
      'model_providers.stub.env_key=OPENAI_API_KEY',
      'model_providers.stub.wire_api=responses',
      'model_providers.stub.supports_websockets=false',
      'analytics.enabled=false',
      'otel.metrics_exporter=none',
    ].flatMap((c) => ['-c', c]);
    return [
      ...nodeOrNative(binPath(installDir, '@openai/codex', 'codex')),
      'exec',
      '--skip-git-repo-check',
      '--ephemeral',
      ...provider,
      '--disable',
      'plugins',
      '--disable',
      'remote_plugin',
      ...extraArgs,
      prompt,
    ];
  },
  env(ctx) {
    // Codex is Rust (rustls/native-tls): it reads SSL_CERT_FILE or its own CODEX_CA_CERTIFICATE, not NODE_EXTRA_CA_CERTS.
    const env: Record<string, string> = { OPENAI_API_KEY: 'sk-dummy' };
    if (ctx.route === 'forward') Object.assign(env, proxyVars(ctx.proxyUrl), { SSL_CERT_FILE: ctx.caCertPath, CODEX_CA_CERTIFICATE: ctx.caCertPath });
    return env;
  },
  async prepareHome(homeDir) {
    await mkdir(path.join(homeDir, '.codex'), { recursive: true });
  },
};
