import { describe, it, expect, beforeAll } from 'vitest';
import { chmod, mkdir, readdir, readFile, writeFile, truncate } from 'node:fs/promises';
import path from 'node:path';
import {
  AgentInstallError,
  agentInstallDir,
  checkInstall,
  claudeCode,
  claudeEntryPoint,
  compareVersions,
  installAgent,
  listInstalled,
  nearestVersions,
  parseAgentSpec,
  resolveVersion,
  AGENT_PRESETS,
  matchingBuild,
  planPlatformRelease,
  opencode,
  kilo,
  factory,
  copilot,
  continueCli,
} from '../src/agents/index.js';
import { unknownStub } from '../src/dialects/index.js';
import { tmp } from './helpers/clients.js';

/*
 * Offline: a fake `npm` that understands `view` and `install --prefix`, publishing a package whose
 * versions are listed in its config. Real installs are covered by e2e-claude.test.ts.
 */
const FAKE_NPM = `#!/usr/bin/env node
const fs = require('fs'), path = require('path');
const cfg = JSON.parse(fs.readFileSync(path.join(__dirname, 'fake-npm.json'), 'utf8'));
const args = process.argv.slice(2);
fs.appendFileSync(path.join(__dirname, 'calls.log'), args.join(' ') + '\\n');
const cmp = (a, b) => { const x = a.split('.').map(Number), y = b.split('.').map(Number); return x[0]-y[0] || x[1]-y[1] || x[2]-y[2]; };
const specOf = (s) => { const at = s.lastIndexOf('@'); return [s.slice(0, at), s.slice(at + 1)]; };
if (args[0] === 'view') {
  const [name, want] = args[1].includes('@', 1) ? specOf(args[1]) : [args[1], undefined];
  if (name !== cfg.name) { console.error('npm error code E404\\nnpm error 404 Not Found - GET https://registry.npmjs.org/' + name); process.exit(1); }
  if (args[2] === 'versions') { console.log(JSON.stringify(cfg.versions)); process.exit(0); }
  const v = want === 'latest' ? cfg.versions[cfg.versions.length - 1] : want.startsWith('^') ? cfg.versions.filter((x) => x.split('.')[0] === want.slice(1).split('.')[0] && cmp(x, want.slice(1)) >= 0) : cfg.versions.includes(want) ? want : null;
  if (v === null || (Array.isArray(v) && v.length === 0)) { console.error('npm error code E404\\nnpm error 404 No match found for version ' + want); process.exit(1); }
  console.log(JSON.stringify(Array.isArray(v) && v.length === 1 ? v[0] : v)); process.exit(0);
}
if (args[0] === 'install') {
  const prefix = args[args.indexOf('--prefix') + 1];
  const [name, version] = specOf(args[args.length - 1]);
  if (cfg.fail) { console.error('npm error code ECONNRESET\\nnpm error network aborted'); process.exit(1); }
  if (!cfg.versions.includes(version)) { console.error('npm error code ETARGET\\nnpm error notarget No matching version found for ' + name + '@' + version + '.'); process.exit(1); }
  const dir = path.join(prefix, 'node_modules', ...name.split('/'));
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: cfg.installs || version, bin: { tool: 'bin/tool.js' } }));
  fs.writeFileSync(path.join(dir, 'bin', 'tool.js'), 'console.log("tool")\\n'.repeat(10));
  fs.writeFileSync(path.join(prefix, 'package-lock.json'), JSON.stringify({ lockfileVersion: 3, packages: { ['node_modules/' + name]: { version, integrity: 'sha512-fake' + version } } }));
  process.exit(0);
}
process.exit(2);
`;

let npmDir: string;
let npm: string;
const PKG = '@example/tool';

async function configure(cfg: { versions?: string[]; fail?: boolean; installs?: string }): Promise<void> {
  await writeFile(path.join(npmDir, 'fake-npm.json'), JSON.stringify({ name: PKG, versions: ['1.0.0', '1.2.0', '1.2.3', '2.0.0'], ...cfg }));
}

async function npmCalls(): Promise<string[]> {
  try {
    return (await readFile(path.join(npmDir, 'calls.log'), 'utf8')).trim().split('\n');
  } catch {
    return [];
  }
}

beforeAll(async () => {
  npmDir = await tmp('fake-npm');
  npm = path.join(npmDir, 'npm');
  await writeFile(npm, FAKE_NPM);
  await chmod(npm, 0o755);
  await configure({});
});

describe('versions', () => {
  it('orders versions by semver precedence', () => {
    const sorted = ['2.1.10', '2.1.9', '2.1.10-beta.2', '2.1.10-beta.10', '10.0.0', '2.1.100'].sort(compareVersions);
    expect(sorted).toEqual(['2.1.9', '2.1.10-beta.2', '2.1.10-beta.10', '2.1.10', '2.1.100', '10.0.0']);
  });

  it('names the published versions around a missing one', () => {
    expect(nearestVersions(['2.1.10', '2.1.11', '2.1.12', '2.1.14', '2.1.15'], '2.1.13', 2)).toEqual(['2.1.11', '2.1.12', '2.1.14', '2.1.15']);
  });

  it('resolves tags and ranges, and says which versions exist when none matches', async () => {
    expect(await resolveVersion(PKG, 'latest', { npm })).toBe('2.0.0');
    expect(await resolveVersion(PKG, '^1.1.0', { npm })).toBe('1.2.3');
    expect(await resolveVersion(PKG, '1.2.0', { npm })).toBe('1.2.0');
    await expect(resolveVersion(PKG, '1.1.0', { npm })).rejects.toThrow(/1\.1\.0: no such version in the registry \(nearest published: 1\.0\.0, 1\.2\.0/);
    await expect(resolveVersion('@example/missing', 'latest', { npm })).rejects.toThrow(/@example\/missing not found in the registry/);
  });

  it('parses preset specs', () => {
    expect(parseAgentSpec('claude-code@2.1.80')).toMatchObject({ version: '2.1.80', preset: { npmPackage: '@anthropic-ai/claude-code' } });
    expect(parseAgentSpec('codex').version).toBe('latest');
    expect(() => parseAgentSpec('nope@1.0.0')).toThrow(/unknown agent preset "nope" \(known: claude-code, codex, gemini-cli, qwen-code, opencode, copilot, kilo, continue, factory\)/);
  });
});

describe('installAgent', () => {
  it('installs once into <cache>/<name>@<version>, then reuses the checked copy', async () => {
    const cacheRoot = await tmp('agent-cache');
    const first = await installAgent({ name: 'tool', npmPackage: PKG, version: '1.2.3' }, { cacheRoot, npm });
    expect(first.fromCache).toBe(false);
    expect(first.dir).toBe(path.join(cacheRoot, 'tool@1.2.3'));
    expect(first.integrity).toBe('sha512-fake1.2.3');
    const second = await installAgent({ name: 'tool', npmPackage: PKG, version: '1.2.3' }, { cacheRoot, npm });
    expect(second.fromCache).toBe(true);
    expect((await npmCalls()).filter((c) => c.startsWith('install') && c.includes('@1.2.3'))).toHaveLength(1);
    expect((await listInstalled(cacheRoot)).map((x) => `${x.name}@${x.version}`)).toEqual(['tool@1.2.3']);
    // No temp directory is left next to it.
    expect(await readdir(cacheRoot)).toEqual(['tool@1.2.3']);
  });

  it('reinstalls a copy whose files changed since install', async () => {
    const cacheRoot = await tmp('agent-cache');
    const spec = { name: 'tool', npmPackage: PKG, version: '1.2.0' };
    const { dir, packageDir } = await installAgent(spec, { cacheRoot, npm });
    await truncate(path.join(packageDir, 'bin', 'tool.js'), 3);
    expect(await checkInstall(dir, spec)).toMatch(/tool\.js is 3 bytes/);
    const progress: string[] = [];
    const again = await installAgent(spec, { cacheRoot, npm, onProgress: (l) => progress.push(l) });
    expect(again.fromCache).toBe(false);
    expect(progress[0]).toMatch(/cached copy is damaged/);
    expect(await checkInstall(dir, spec)).toBeNull();
  });

  it('never leaves a failed install in the cache', async () => {
    const cacheRoot = await tmp('agent-cache');
    await configure({ fail: true });
    try {
      await expect(installAgent({ name: 'tool', npmPackage: PKG, version: '1.0.0' }, { cacheRoot, npm })).rejects.toThrow(/failed \(exit 1\):\nnpm error code ECONNRESET/);
    } finally {
      await configure({});
    }
    expect(await readdir(cacheRoot)).toEqual([]);
  });

  it('a temp directory from a killed install is not a cached version', async () => {
    const cacheRoot = await tmp('agent-cache');
    await mkdir(path.join(cacheRoot, '.tmp-tool@1.0.0-abc', 'node_modules'), { recursive: true });
    expect(await listInstalled(cacheRoot)).toEqual([]);
    const r = await installAgent({ name: 'tool', npmPackage: PKG, version: '1.0.0' }, { cacheRoot, npm });
    expect(r.fromCache).toBe(false);
  });

  it('a directory without the marker (killed before it was written) is installed again', async () => {
    const cacheRoot = await tmp('agent-cache');
    await mkdir(path.join(cacheRoot, 'tool@2.0.0', 'node_modules'), { recursive: true });
    const r = await installAgent({ name: 'tool', npmPackage: PKG, version: '2.0.0' }, { cacheRoot, npm });
    expect(r.fromCache).toBe(false);
  });

  it('refuses an install that delivers another version', async () => {
    const cacheRoot = await tmp('agent-cache');
    await configure({ installs: '9.9.9' });
    try {
      await expect(installAgent({ name: 'tool', npmPackage: PKG, version: '1.0.0' }, { cacheRoot, npm })).rejects.toThrow(/left @example\/tool@9\.9\.9/);
    } finally {
      await configure({});
    }
    expect(await readdir(cacheRoot)).toEqual([]);
  });

  it('says which versions exist when the exact one does not', async () => {
    const cacheRoot = await tmp('agent-cache');
    await expect(installAgent({ name: 'tool', npmPackage: PKG, version: '1.1.0' }, { cacheRoot, npm })).rejects.toThrow(
      /@example\/tool@1\.1\.0: no such version in the registry \(nearest published: 1\.0\.0, 1\.2\.0, 1\.2\.3, 2\.0\.0\)/,
    );
  });

  it('rejects names and versions that are not safe directory names', () => {
    expect(() => agentInstallDir('../x', '1.0.0', '/c')).toThrow(AgentInstallError);
    expect(() => agentInstallDir('tool', 'latest', '/c')).toThrow(/not an exact version/);
    expect(agentInstallDir('tool', '1.0.0-rc.1', '/c')).toBe(path.join('/c', 'tool@1.0.0-rc.1'));
  });
});

describe('claude-code preset', () => {
  async function fakeClaude(layout: 'javascript' | 'native' | 'missing-platform'): Promise<string> {
    const dir = await tmp('claude-layout');
    const pkgDir = path.join(dir, 'node_modules', '@anthropic-ai', 'claude-code');
    await mkdir(path.join(pkgDir, 'bin'), { recursive: true });
    const bin = layout === 'javascript' ? 'cli.js' : 'bin/claude.exe';
    await writeFile(path.join(pkgDir, 'package.json'), JSON.stringify({ name: '@anthropic-ai/claude-code', version: layout === 'javascript' ? '2.1.112' : '2.1.113', bin: { claude: bin } }));
    await writeFile(path.join(pkgDir, bin), '#placeholder\n');
    if (layout === 'native') {
      const plat = path.join(dir, 'node_modules', '@anthropic-ai', `claude-code-${process.platform}-${process.arch}`);
      const platMusl = `${plat}-musl`;
      for (const p of [plat, platMusl]) {
        await mkdir(p, { recursive: true });
        await writeFile(path.join(p, 'claude'), 'ELF');
      }
    }
    return dir;
  }

  it('runs cli.js with this Node and the native binary directly', async () => {
    const js = await fakeClaude('javascript');
    expect(claudeCode.command(js, 'hi', ['--model', 'x'])).toEqual([
      process.execPath,
      path.join(js, 'node_modules/@anthropic-ai/claude-code/cli.js'),
      '--model',
      'x',
      '-p',
      'hi',
    ]);
    const native = await fakeClaude('native');
    const entry = claudeEntryPoint(native);
    expect(entry.kind).toBe('native');
    expect(entry.file).toMatch(/node_modules\/@anthropic-ai\/claude-code-[a-z0-9-]+\/claude$/);
    expect(claudeCode.command(native, 'hi')).toEqual([entry.file, '-p', 'hi']);
  });

  it('says so when the platform package is missing (a placeholder is not a binary)', async () => {
    const dir = await fakeClaude('missing-platform');
    expect(() => claudeEntryPoint(dir)).toThrow(/has no native binary for .*: @anthropic-ai\/claude-code-.* was not installed/);
  });

  it('routes forward through HTTPS_PROXY with the CA, reverse through ANTHROPIC_BASE_URL', () => {
    const common = {
      ANTHROPIC_API_KEY: 'sk-ant-dummy',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_TELEMETRY: '1',
      DISABLE_AUTOUPDATER: '1',
      CLAUDE_CODE_MAX_RETRIES: '0',
    };
    const fwd = claudeCode.env({ route: 'forward', proxyUrl: 'http://127.0.0.1:9', caCertPath: '/ca.pem' });
    expect(fwd).toMatchObject({ ...common, HTTPS_PROXY: 'http://127.0.0.1:9', HTTP_PROXY: 'http://127.0.0.1:9', NODE_EXTRA_CA_CERTS: '/ca.pem' });
    expect(fwd.ANTHROPIC_BASE_URL).toBeUndefined();
    expect(claudeCode.env({ route: 'forward', proxyUrl: 'http://127.0.0.1:9', caCertPath: '/ca.pem', baseUrl: 'https://gw.example.cn' }).ANTHROPIC_BASE_URL).toBe('https://gw.example.cn');
    const rev = claudeCode.env({ route: 'reverse', proxyUrl: 'http://127.0.0.1:9', caCertPath: '/ca.pem' });
    expect(rev).toEqual({ ...common, ANTHROPIC_BASE_URL: 'http://127.0.0.1:9' });
  });

  it('every preset names its package, dialect and base-URL variable', () => {
    for (const p of Object.values(AGENT_PRESETS)) {
      // Scoped or not: opencode is published as opencode-ai.
      expect(p.npmPackage).toMatch(/^(@[a-z0-9-]+\/)?[a-z0-9-]+$/);
      expect(['anthropic-messages', 'openai-chat', 'openai-responses', 'gemini']).toContain(p.dialect);
      expect(p.baseUrlVar).toMatch(/^[A-Z_]+$/);
    }
  });
});

describe('stub answers for Claude Code side requests', () => {
  it('policy_limits gets an empty policy, not an empty object', () => {
    const r = unknownStub({ method: 'GET', path: '/api/claude_code/policy_limits', headers: {} });
    expect(JSON.parse(r.chunks.join(''))).toEqual({ restrictions: {} });
    expect(JSON.parse(unknownStub({ method: 'GET', path: '/api/claude_code/settings', headers: {} }).chunks.join(''))).toEqual({});
  });
});

describe('platform builds (wrapper + platform package agents)', () => {
  const kiloLike = { name: 'kilo', npmPackage: '@kilocode/cli', platformPackage: '@kilocode/cli-linux-x64' };
  // As published on 2026-12-01: 7.8.1 has no linux-x64 build; 7.7.9 is a build without a wrapper release.
  const releases = ['7.7.2', '7.7.5', '7.7.7', '7.8.1'];
  const builds = ['7.7.2', '7.7.7', '7.7.9'];

  it('latest without a build falls back to the newest release that has one, and says so', () => {
    const r = planPlatformRelease(kiloLike, 'latest', '7.8.1', releases, builds);
    expect(r).toMatchObject({ version: '7.7.7', build: '7.7.7' });
    expect(r.note).toMatch(/@kilocode\/cli@7\.8\.1 \(latest\) has no @kilocode\/cli-linux-x64 build in the registry; using 7\.7\.7/);
    expect(planPlatformRelease(kiloLike, 'latest', '7.7.7', releases, builds)).toEqual({ version: '7.7.7', build: '7.7.7', note: null });
  });

  it('an exact release without a build of its minor is refused, naming the releases that install', () => {
    expect(() => planPlatformRelease(kiloLike, '7.8.1', '7.8.1', releases, builds)).toThrow(/no @kilocode\/cli-linux-x64 build in the registry, so it cannot run here \(releases that install: 7\.7\.2, 7\.7\.7\)/);
  });

  it('a release whose own build is missing gets the next build of its minor release (Factory 0.225.1 → 0.225.2)', () => {
    const factoryLike = { name: 'factory', npmPackage: '@factory/cli', platformPackage: '@factory/cli-linux-x64' };
    const r = planPlatformRelease(factoryLike, 'latest', '0.225.1', ['0.225.1'], ['0.117.0', '0.215.0', '0.225.2']);
    expect(r).toMatchObject({ version: '0.225.1', build: '0.225.2' });
    expect(r.note).toMatch(/names @factory\/cli-linux-x64@0\.225\.1, which the registry lacks; installing its nearest build 0\.225\.2/);
    expect(matchingBuild('0.225.1', ['0.226.0'])).toBeNull();
  });

  it('installs the platform build beside the wrapper, and a cached copy without it is installed again', async () => {
    const cacheRoot = await tmp('agent-cache');
    const spec = { name: 'tool', npmPackage: PKG, version: '1.2.3' };
    await installAgent(spec, { cacheRoot, npm });
    const calls = (await npmCalls()).length;
    // A cached copy without the build is not reused: npm is asked for both packages. (The fake npm
    // installs only its last argument, so this install then fails its own check.)
    await expect(installAgent({ ...spec, extraPackages: ['@example/tool-linux-x64@1.2.3'] }, { cacheRoot, npm })).rejects.toThrow();
    const installs = (await npmCalls()).slice(calls).filter((c) => c.startsWith('install'));
    expect(installs).toHaveLength(1);
    expect(installs[0]).toMatch(/@example\/tool@1\.2\.3 @example\/tool-linux-x64@1\.2\.3$/);
  });
});

describe('presets configured through files or JSON (offline: no install)', () => {
  const reverse = { route: 'reverse' as const, proxyUrl: 'http://127.0.0.1:4000', caCertPath: '/ca.pem', baseUrl: 'http://api.deepseek.com:4000/anthropic' };
  const forward = { route: 'forward' as const, proxyUrl: 'http://127.0.0.1:4000', caCertPath: '/ca.pem' };

  it('opencode and Kilo turn the Claude-style base URL into the AI SDK baseURL with /v1; no base, no config', () => {
    for (const [preset, prefix] of [[opencode, 'OPENCODE_'], [kilo, 'KILO_']] as const) {
      const env = preset.env(reverse);
      expect(JSON.parse(env[`${prefix}CONFIG_CONTENT`]!)).toEqual({ provider: { anthropic: { options: { baseURL: 'http://api.deepseek.com:4000/anthropic/v1' } } } });
      expect(env[`${prefix}DISABLE_MODELS_FETCH`]).toBe('1');
      expect(preset.env(forward)[`${prefix}CONFIG_CONTENT`]).toBeUndefined();
      expect(preset.env(forward).NODE_EXTRA_CA_CERTS).toBe('/ca.pem');
    }
    // Their vendor hosts stay on the machine in the reverse route.
    expect(opencode.env(reverse).npm_config_registry).toBe('http://127.0.0.1:4000/');
    expect(kilo.env(reverse).KILO_API_URL).toBe('http://127.0.0.1:4000');
    expect(kilo.env(forward).KILO_API_URL).toBeUndefined();
  });

  it('Factory writes the run\'s base URL into customModels and points its own API at the listener in reverse', async () => {
    const home = await tmp('factory-home');
    await factory.prepareHome(home, reverse);
    const settings = JSON.parse(await readFile(path.join(home, '.factory', 'settings.json'), 'utf8'));
    expect(settings.customModels[0]).toMatchObject({ baseUrl: 'http://api.deepseek.com:4000/anthropic', provider: 'anthropic', apiKey: '${ANTHROPIC_API_KEY}' });
    await factory.prepareHome(home, forward);
    expect(JSON.parse(await readFile(path.join(home, '.factory', 'settings.json'), 'utf8')).customModels[0].baseUrl).toBe('https://api.anthropic.com');
    expect(factory.env(reverse)).toMatchObject({ FACTORY_API_BASE_URL: 'http://127.0.0.1:4000', FACTORY_TELEMETRY_INGEST_BASE_URL: 'http://127.0.0.1:4000' });
    expect(factory.env(forward)).toMatchObject({ FACTORY_EXTRA_CA_CERTS: '/ca.pem', HTTPS_PROXY: 'http://127.0.0.1:4000' });
  });

  it('Copilot and Continue take the OpenAI base URL from a variable; Continue\'s config only names it', async () => {
    expect(copilot.env(reverse).COPILOT_PROVIDER_BASE_URL).toBe('http://api.deepseek.com:4000/anthropic');
    expect(copilot.env(forward).COPILOT_PROVIDER_BASE_URL).toBe('https://api.openai.com/v1');
    expect(continueCli.env(forward).OPENAI_BASE_URL).toBe('https://api.openai.com/v1');
    const home = await tmp('continue-home');
    await continueCli.prepareHome(home);
    const config = await readFile(path.join(home, '.continue', 'config.yaml'), 'utf8');
    expect(config).toContain('apiBase: ${{ secrets.OPENAI_BASE_URL }}');
    expect(config).not.toMatch(/https?:\/\//);
  });
});
