import { forwardTrust } from './common.js';
import { isMusl, platformBinary, platformInstaller, type PlatformInstall } from './platform.js';
import type { AgentEnvContext, AgentPreset, PresetStatus } from './types.js';

/*
 * opencode (npm opencode-ai), a Bun-compiled binary in a platform package, talking Anthropic
 * Messages through the AI SDK. Kilo CLI is a fork of it with its own variable prefix, so the
 * family's knowledge lives here once (`opencodeFamily`) and kilo.ts names what differs.
 * Verified by `npm run test:agents` (test/agents-e2e/opencode.test.ts); docs/agents.md.
 */

export const OPENCODE_STUB_MODEL = 'anthropic/claude-sonnet-4-5';

/** opencode's platform builds: `opencode-linux-x64`, `opencode-linux-x64-musl`, `opencode-windows-x64`, ... */
export function opencodePlatformSuffix(): string {
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  return `${os}-${process.arch}${isMusl() ? '-musl' : ''}`;
}

export interface OpencodeFamily {
  name: string;
  install: PlatformInstall;
  /** The executable inside the platform package. */
  binary: string;
  /** Variable prefix: OPENCODE_ or KILO_ (…_CONFIG_CONTENT, …_DISABLE_MODELS_FETCH, …). */
  prefix: string;
  /** Switches beyond the family's own that keep this one from phoning home. */
  offline: Record<string, string>;
  /** Extra variables for the run's route (Kilo points its own API at the listener in the reverse route). */
  routeEnv?: (ctx: AgentEnvContext) => Record<string, string>;
  status: PresetStatus;
}

/**
 * The provider's base URL as the AI SDK wants it, with `/v1`: promptdiff's base URLs are
 * Claude-Code style (host and path prefix, `/v1/messages` appended by the client).
 */
export function aiSdkAnthropicBase(base: string): string {
  return `${base.replace(/\/+$/, '')}/v1`;
}

export function opencodeFamily(f: OpencodeFamily): AgentPreset {
  return {
    name: f.name,
    npmPackage: f.install.npmPackage,
    dialect: 'anthropic-messages',
    // The runner's base-URL axes and factors set it; the preset turns it into the provider's baseURL.
    baseUrlVar: 'ANTHROPIC_BASE_URL',
    status: f.status,
    install: platformInstaller(f.install),
    command(installDir, prompt, extraArgs = []) {
      const model = extraArgs.some((a) => a === '-m' || a === '--model' || a.startsWith('--model=')) ? [] : ['-m', OPENCODE_STUB_MODEL];
      return [platformBinary(installDir, f.install, f.binary), 'run', ...model, ...extraArgs, prompt];
    },
    env(ctx) {
      const env: Record<string, string> = {
        ANTHROPIC_API_KEY: 'sk-ant-dummy',
        // Without it the models list is fetched first (models.dev); the stub's {} then fails the run.
        [`${f.prefix}DISABLE_MODELS_FETCH`]: '1',
        [`${f.prefix}DISABLE_AUTOUPDATE`]: '1',
        [`${f.prefix}DISABLE_SHARE`]: '1',
        [`${f.prefix}DISABLE_LSP_DOWNLOAD`]: '1',
        ...f.offline,
        ...f.routeEnv?.(ctx),
      };
      if (ctx.route === 'forward') Object.assign(env, forwardTrust(ctx));
      // ANTHROPIC_BASE_URL alone would be taken as the SDK's baseURL without /v1; the config says it exactly.
      const base = ctx.route === 'reverse' ? (ctx.baseUrl ?? ctx.proxyUrl) : ctx.baseUrl;
      if (base) env[`${f.prefix}CONFIG_CONTENT`] = JSON.stringify({ provider: { anthropic: { options: { baseURL: aiSdkAnthropicBase(base) } } } });
      return env;
    },
    async prepareHome() {
      // Nothing: it creates ~/.config/<name> and ~/.local/share/<name> itself.
    },
  };
}

const OPENCODE_INSTALL: PlatformInstall = { name: 'opencode', npmPackage: 'opencode-ai', platformPackage: `opencode-${opencodePlatformSuffix()}` };

export const opencode: AgentPreset = opencodeFamily({
  name: 'opencode',
  install: OPENCODE_INSTALL,
  binary: 'bin/opencode',
  prefix: 'OPENCODE_',
  offline: {},
  // At start it looks up @opencode-ai/plugin in the npm registry for ~/.config/opencode. In the
  // reverse route no proxy variable is set, so the lookup is sent to the listener instead of npm.
  routeEnv: (ctx): Record<string, string> => (ctx.route === 'reverse' ? { npm_config_registry: `${ctx.proxyUrl.replace(/\/+$/, '')}/` } : {}),
  status: {
    verified: [{ version: '1.18.33', routes: ['forward', 'reverse'] }],
    notes: [
      `Runs \`opencode run -m ${OPENCODE_STUB_MODEL}\` unless args name a model. A second Anthropic request with no tools (the session title, claude-haiku-4-5) comes with every run.`,
      'At start it fetches https://registry.npmjs.org/@opencode-ai%2fplugin (its ~/.config/opencode dependencies); the stub answers {} and the background install fails harmlessly. In the reverse route npm_config_registry points it at the listener, which also hides a ~/.npmrc mirror: audit mirrors in the forward route.',
      'CA: NODE_EXTRA_CA_CERTS (Bun). Base URL: OPENCODE_CONFIG_CONTENT provider.anthropic.options.baseURL = ANTHROPIC_BASE_URL + /v1.',
    ],
  },
});
