import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { installer, proxyVars } from './common.js';
import { binPath, nodeOrNative } from './npm-bin.js';
import type { AgentEnvContext, AgentPreset } from './types.js';

/*
 * Codex, Gemini CLI and Qwen Code, each verified by `npm run test:agents` (test/agents-e2e/) on
 * the versions in `status.verified`: offline, stub upstream, fresh empty HOME, no API key, exit 0
 * printing the stub's text. Measurements are in docs/agents.md.
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
