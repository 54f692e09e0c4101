import { existsSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { AgentInstallError, packageDirOf } from './install.js';
import { installer, proxyVars } from './common.js';
import { binPath, readPackageJson } from './npm-bin.js';
import type { AgentPreset } from './types.js';

const NPM_PACKAGE = '@anthropic-ai/claude-code';

/** The platform suffix Claude Code's native packages use (`linux-x64`, `linux-x64-musl`, `darwin-arm64`, ...). */
export function claudePlatformKey(platform: NodeJS.Platform = process.platform, arch: string = process.arch): string {
  if (platform !== 'linux') return `${platform}-${arch}`;
  // glibcVersionRuntime is absent on musl; the wrapper's own installer tells them apart the same way.
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  const musl = report !== undefined && report.header?.glibcVersionRuntime === undefined;
  return `linux-${arch}${musl ? '-musl' : ''}`;
}

export interface ClaudeEntryPoint {
  /** javascript: an npm-era `cli.js` run with node (≤ 2.1.112); native: the Bun-compiled binary (≥ 2.1.113). */
  kind: 'javascript' | 'native';
  file: string;
  version: string;
}

/**
 * Finds what to execute in an installed Claude Code. Native-era wrappers point `bin` at a
 * placeholder that their postinstall overwrites; we go to the platform package's binary
 * directly, so an install whose scripts did not run (npm's allowScripts, --ignore-scripts) works.
 */
export function claudeEntryPoint(installDir: string): ClaudeEntryPoint {
  const pkgDir = packageDirOf(installDir, NPM_PACKAGE);
  const version = readPackageJson(pkgDir).version ?? '?';
  const bin = binPath(installDir, NPM_PACKAGE, 'claude');
  if (/\.[cm]?js$/.test(bin)) return { kind: 'javascript', file: bin, version };
  const key = claudePlatformKey();
  const exe = process.platform === 'win32' ? 'claude.exe' : 'claude';
  const platformPkg = `${NPM_PACKAGE}-${key}`;
  for (const candidate of [path.join(packageDirOf(installDir, platformPkg), exe), path.join(packageDirOf(pkgDir, platformPkg), exe)]) {
    if (existsSync(candidate)) return { kind: 'native', file: candidate, version };
  }
  // The placeholder is a few hundred bytes; a real binary is hundreds of megabytes.
  if (existsSync(bin) && statSync(bin).size > 1_000_000) return { kind: 'native', file: bin, version };
  throw new AgentInstallError(
    `${NPM_PACKAGE}@${version} in ${installDir} has no native binary for ${key}: ${platformPkg} was not installed ` +
      `(optional dependencies omitted, or no build for this platform); reinstall with optional dependencies included`,
  );
}

export const claudeCode: AgentPreset = {
  name: 'claude-code',
  npmPackage: NPM_PACKAGE,
  dialect: 'anthropic-messages',
  baseUrlVar: 'ANTHROPIC_BASE_URL',
  status: {
    verified: [
      { version: '2.1.112', routes: ['forward', 'reverse'] },
      { version: '2.1.113', routes: ['forward', 'reverse'] },
      { version: '2.1.331', routes: ['forward', 'reverse'] },
    ],
    notes: [
      '≤ 2.1.112 ship cli.js (run with this Node; Node 20 works); ≥ 2.1.113 ship a native Bun binary in @anthropic-ai/claude-code-<platform>, which runs regardless of the wrapper\'s engines field (≥ 22 from about 2.1.200).',
      'The native binary trusts the CA through NODE_EXTRA_CA_CERTS (SSL_CERT_FILE alone also works).',
    ],
  },
  install: installer('claude-code', NPM_PACKAGE),
  command(installDir, prompt, extraArgs = []) {
    const entry = claudeEntryPoint(installDir);
    const program = entry.kind === 'javascript' ? [process.execPath, entry.file] : [entry.file];
    // Extra arguments first: a variadic option among them (--add-dir a b) then ends at -p.
    return [...program, ...extraArgs, '-p', prompt];
  },
  env(ctx) {
    const env: Record<string, string> = {
      ANTHROPIC_API_KEY: 'sk-ant-dummy',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_TELEMETRY: '1',
      DISABLE_AUTOUPDATER: '1',
      // A TLS or stub failure otherwise turns into minutes of silent retries instead of an error.
      CLAUDE_CODE_MAX_RETRIES: '0',
    };
    if (ctx.route === 'reverse') {
      env.ANTHROPIC_BASE_URL = ctx.baseUrl ?? ctx.proxyUrl;
      return env;
    }
    Object.assign(env, proxyVars(ctx.proxyUrl));
    // Read by Node (cli.js) and by the Bun runtime inside the native binary alike.
    env.NODE_EXTRA_CA_CERTS = ctx.caCertPath;
    if (ctx.baseUrl) env.ANTHROPIC_BASE_URL = ctx.baseUrl;
    return env;
  },
  async prepareHome(homeDir) {
    // An empty HOME suffices for -p: no onboarding, no login with an API key in the environment.
    await mkdir(homeDir, { recursive: true });
  },
};
