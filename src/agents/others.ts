import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { installer, proxyVars } from './common.js';
import { binPath, nodeOrNative } from './npm-bin.js';
import type { AgentEnvContext, AgentPreset } from './types.js';

/*
 * Codex, Gemini CLI and Qwen Code as the issue author measured them (latest releases, Node 20,
 * stub upstream, fresh HOME). promptdiff's own tests do not drive them yet: `status.verified`
 * stays empty until `npm run test:agents` records a result in docs/agents.md.
 */

function forwardTrust(ctx: AgentEnvContext): Record<string, string> {
  return { ...proxyVars(ctx.proxyUrl), NODE_EXTRA_CA_CERTS: ctx.caCertPath };
}

async function writeJson(file: string, value: unknown): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** Base URL for OpenAI-style clients: the proxy itself (reverse) or the host they believe in (forward). */
function openaiBase(ctx: AgentEnvContext | undefined): string {
  if (!ctx) return 'https://api.openai.com/v1';
  if (ctx.route === 'reverse') return ctx.baseUrl ?? `${ctx.proxyUrl.replace(/\/+$/, '')}/v1`;
  return ctx.baseUrl ?? 'https://api.openai.com/v1';
}

export const codex: AgentPreset = {
  name: 'codex',
  npmPackage: '@openai/codex',
  dialect: 'openai-responses',
  baseUrlVar: 'OPENAI_BASE_URL',
  status: {
    verified: [],
    notes: [
      'Reported for 0.169 (404 MB installed): OPENAI_BASE_URL is ignored, the provider comes from -c options; without the CA it retries forever, so a missing CA shows up as a timeout.',
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

export const GEMINI_STUB_MODEL = 'gemini-2.5-flash';

export const geminiCli: AgentPreset = {
  name: 'gemini-cli',
  npmPackage: '@google/gemini-cli',
  dialect: 'gemini',
  baseUrlVar: 'GOOGLE_GEMINI_BASE_URL',
  status: {
    verified: [],
    notes: ['Reported for 0.61: without -m a router call wants JSON matching a responseJsonSchema first and loops on plain text, so the preset always passes -m.'],
  },
  install: installer('gemini-cli', '@google/gemini-cli'),
  command(installDir, prompt, extraArgs = []) {
    return [...nodeOrNative(binPath(installDir, '@google/gemini-cli', 'gemini')), '-m', GEMINI_STUB_MODEL, ...extraArgs, '-p', prompt];
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

export const qwenCode: AgentPreset = {
  name: 'qwen-code',
  npmPackage: '@qwen-code/qwen-code',
  dialect: 'openai-chat',
  baseUrlVar: 'OPENAI_BASE_URL',
  status: {
    verified: [],
    notes: ['Reported for 0.24: runs on Node 20 despite its engines field; without privacy.usageStatisticsEnabled=false it reports usage to a third-party RUM host.'],
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
