import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { validateScenario } from '../src/scenario/scenario-file.js';
import { silentProgress } from '../src/scenario/progress.js';
import { runScenario } from '../src/scenario/runner.js';
import { prepareAgent } from '../src/scenario/prepare-agent.js';
import type { ScenarioInput } from '../src/scenario/schema.js';
import { startFakeProxy } from './fixtures/scenario/fake-proxy.js';
import { runCli } from './helpers/cli.js';
import { SecretValues } from '../src/capture/secret-values.js';

/*
 * The runner with an agent preset, offline: a fake `npm` "publishes" @anthropic-ai/claude-code
 * whose cli.js is a tiny agent reporting its argv, environment and HOME in its one request.
 * Real Claude Code releases go through the same path in e2e-claude-matrix.test.ts.
 */
const FAKE_NPM = `#!/usr/bin/env node
const fs = require('fs'), path = require('path');
const cfg = JSON.parse(fs.readFileSync(path.join(__dirname, 'fake-npm.json'), 'utf8'));
const args = process.argv.slice(2);
fs.appendFileSync(path.join(__dirname, 'calls.log'), args.join(' ') + '\\n');
const specOf = (s) => { const at = s.lastIndexOf('@'); return [s.slice(0, at), s.slice(at + 1)]; };
if (args[0] === 'view') {
  if (args[2] === 'versions') { console.log(JSON.stringify(cfg.versions)); process.exit(0); }
  const [, want] = specOf(args[1]);
  const v = want === 'latest' ? cfg.latest : cfg.versions.includes(want) ? want : null;
  if (!v) { console.error('npm error code E404\\nnpm error 404 No match found for version ' + want); process.exit(1); }
  console.log(JSON.stringify(v)); process.exit(0);
}
if (args[0] === 'install') {
  const prefix = args[args.indexOf('--prefix') + 1];
  const [name, version] = specOf(args[args.length - 1]);
  if (!cfg.versions.includes(version)) { console.error('npm error code ETARGET\\nnpm error notarget No matching version found for ' + name + '@' + version + '.'); process.exit(1); }
  const dir = path.join(prefix, 'node_modules', ...name.split('/'));
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version, bin: { claude: 'cli.js' } }));
  fs.copyFileSync(path.join(__dirname, 'agent.mjs'), path.join(dir, 'cli.js'));
  fs.writeFileSync(path.join(prefix, 'package-lock.json'), JSON.stringify({ lockfileVersion: 3, packages: { ['node_modules/' + name]: { version, integrity: 'sha512-fake' + version } } }));
  process.exit(0);
}
process.exit(2);
`;

const AGENT = `import { readdirSync } from 'node:fs';
const res = await fetch(process.env.ANTHROPIC_BASE_URL + '/v1/messages', {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ model: 'tiny', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }],
    metadata: { argv: process.argv.slice(2), env: process.env, home: readdirSync(process.env.HOME) } }),
});
process.stdout.write(await res.text());
`;

let dir: string;
let npmDir: string;
let cacheRoot: string;

async function npmCalls(verb: string): Promise<string[]> {
  const text = await readFile(path.join(npmDir, 'calls.log'), 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l.startsWith(`${verb} `));
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pd-runner-presets-'));
  npmDir = path.join(dir, 'npm');
  cacheRoot = path.join(dir, 'cache');
  await import('node:fs/promises').then((fs) => fs.mkdir(npmDir));
  await writeFile(path.join(npmDir, 'npm'), FAKE_NPM);
  await chmod(path.join(npmDir, 'npm'), 0o755);
  await writeFile(path.join(npmDir, 'agent.mjs'), AGENT);
  await writeFile(path.join(npmDir, 'fake-npm.json'), JSON.stringify({ versions: ['2.1.100', '2.1.112'], latest: '2.1.112' }));
});

const scenario = (extra: Partial<ScenarioInput>) =>
  validateScenario(
    {
      name: 'preset-test',
      agent: { preset: 'claude-code', version: 'latest', args: ['--verbose', 'Say hello.'] },
      route: 'reverse',
      axes: { TZ: ['UTC', 'Asia/Shanghai'] },
      repetitions: 2,
      ...extra,
    },
    'test',
  );

interface Seen {
  argv: string[];
  env: Record<string, string>;
  home: string[];
}

async function seen(runDir: string): Promise<Seen> {
  const line = (await readFile(path.join(runDir, 'exchanges.jsonl'), 'utf8')).trim().split('\n')[0]!;
  return (JSON.parse(JSON.parse(line).request.body) as { metadata: Seen }).metadata;
}

describe('runner with an agent preset', () => {
  test('installs the resolved version once, runs the preset command with its env, records its identity; resume keeps the version', async () => {
    const outDir = path.join(dir, 'run');
    const agentInstall = { cacheRoot, npm: path.join(npmDir, 'npm') };
    const s = scenario({ env: { set: { CLAUDE_CODE_MAX_RETRIES: '2' } } });
    const result = await runScenario({ scenario: s, outDir, progress: silentProgress, startProxy: startFakeProxy, agentInstall });
    expect(result.manifest.runs.map((r) => r.message ?? r.status)).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(await npmCalls('install')).toHaveLength(1);
    const stored = JSON.parse(await readFile(path.join(outDir, 'manifest.json'), 'utf8'));
    expect(stored.agent).toMatchObject({
      preset: 'claude-code',
      version: '2.1.112',
      requested: 'latest',
      npmPackage: '@anthropic-ai/claude-code',
      integrity: 'sha512-fake2.1.112',
      dialect: 'anthropic-messages',
    });
    const cli = path.join(cacheRoot, 'claude-code@2.1.112', 'node_modules', '@anthropic-ai', 'claude-code', 'cli.js');
    expect(stored.agent.command).toEqual([process.execPath, cli, '--verbose', '-p', 'Say hello.']);
    for (const run of result.manifest.runs) {
      const agent = await seen(path.join(outDir, 'runs', run.id));
      expect(agent.argv).toEqual(['--verbose', '-p', 'Say hello.']);
      // The preset's variables are part of the run's environment (and of the manifest, secrets redacted)...
      expect(agent.env.CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC).toBe('1');
      expect(agent.env.DISABLE_TELEMETRY).toBe('1');
      // A secret by its name: the capture the agent's env was echoed into holds its tag, as the
      // manifest does (the scenario has no secrets of its own, so the tag's key is the empty set's).
      expect(agent.env.ANTHROPIC_API_KEY).toBe(new SecretValues([]).tag('sk-ant-dummy'));
      expect(run.env.ANTHROPIC_API_KEY).toBe(agent.env.ANTHROPIC_API_KEY);
      expect(run.env.DISABLE_AUTOUPDATER).toBe('1');
      // ...below the scenario's own env.set, and routed to the run's listener.
      expect(agent.env.CLAUDE_CODE_MAX_RETRIES).toBe('2');
      expect(agent.env.ANTHROPIC_BASE_URL).toBe(run.env.ANTHROPIC_BASE_URL);
      expect(agent.env.ANTHROPIC_BASE_URL).toMatch(/^http:\/\/(api\.anthropic\.com|127\.0\.0\.1):\d+$/);
      expect(agent.env.TZ).toBe(result.manifest.cells.find((c) => c.id === run.cell)!.values.TZ);
    }

    // `latest` moves on; resuming the run keeps the version it started with.
    await writeFile(path.join(npmDir, 'fake-npm.json'), JSON.stringify({ versions: ['2.1.100', '2.1.112', '2.1.113'], latest: '2.1.113' }));
    const m = JSON.parse(await readFile(path.join(outDir, 'manifest.json'), 'utf8'));
    m.runs[3].status = 'failed';
    await writeFile(path.join(outDir, 'manifest.json'), JSON.stringify(m));
    const resumed = await runScenario({ outDir, resume: true, progress: silentProgress, startProxy: startFakeProxy, agentInstall });
    expect(resumed.ran).toEqual([m.runs[3].id]);
    expect(resumed.exitCode).toBe(0);
    expect(resumed.manifest.agent.version).toBe('2.1.112');
    expect(await npmCalls('install')).toHaveLength(1);
  });

  test('scenario errors: unknown preset, no task, a version that does not exist', async () => {
    const agentInstall = { cacheRoot, npm: path.join(npmDir, 'npm') };
    const run = (agent: ScenarioInput['agent'], name: string) =>
      runScenario({ scenario: scenario({ agent }), outDir: path.join(dir, name), progress: silentProgress, startProxy: startFakeProxy, agentInstall });
    await expect(run({ preset: 'claude', args: ['hi'] }, 'e1')).rejects.toThrow(/agent\.preset: unknown agent preset "claude" \(known: claude-code, codex/);
    await expect(run({ preset: 'claude-code', args: [] }, 'e2')).rejects.toThrow(/agent\.args: give the task as the last argument/);
    await expect(run({ preset: 'claude-code', version: '9.9.9', args: ['hi'] }, 'e3')).rejects.toThrow(/agent\.version: .*9\.9\.9: no such version/);
  });

  test('promptdiff agents lists the presets and the cached install; agents install reuses it', async () => {
    const env = { PROMPTDIFF_AGENT_CACHE: cacheRoot, PATH: `${npmDir}:${process.env.PATH ?? ''}` };
    const list = await runCli(['agents'], env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^claude-code\s+@anthropic-ai\/claude-code\s+anthropic-messages\s+2\.1\.112 \(forward\+reverse\)/m);
    expect(list.stdout).toMatch(/^qwen-code\s+@qwen-code\/qwen-code\s+openai-chat/m);
    expect(list.stdout).toContain(`cached in ${cacheRoot}:`);
    expect(list.stdout).toMatch(/claude-code@2\.1\.112\s+\d{4}-\d\d-\d\d\s+sha512-fake2\.1\.112/);
    const json = JSON.parse((await runCli(['agents', '--json'], env)).stdout) as { cached: Array<{ name: string; version: string; integrity: string }> };
    expect(json.cached.map((c) => `${c.name}@${c.version} ${c.integrity}`)).toContain('claude-code@2.1.112 sha512-fake2.1.112');
    const again = await runCli(['agents', 'install', 'claude-code@2.1.112'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^claude-code@2\.1\.112 already cached in \d+\.\d s\n {2}dir {8}\S+claude-code@2\.1\.112\n {2}integrity {2}sha512-fake2\.1\.112$/m);
    const unknown = await runCli(['agents', 'install', 'claude@1.0.0'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown agent preset "claude"');
    const missing = await runCli(['agents', 'install', 'claude-code@9.9.9'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/9\.9\.9: no such version in the registry/);
  });
});

describe('a preset under a stub script', () => {
  test('gets its unattended-tools flags before the task, and only then', async () => {
    const agentInstall = { cacheRoot, npm: path.join(npmDir, 'npm') };
    const base = { agent: { preset: 'claude-code', version: '2.1.112', args: ['--verbose', 'Say hello.'] } };
    const plain = await prepareAgent(scenario(base), { install: agentInstall });
    const scripted = await prepareAgent(scenario({ ...base, stub_script: [{ tool: 'shell', input: { command: 'ls' } }] }), { install: agentInstall });
    expect(plain.identity.command.slice(2)).toEqual(['--verbose', '-p', 'Say hello.']);
    expect(scripted.identity.command.slice(2)).toEqual(['--verbose', '--allowedTools', 'Bash Read Write Edit Glob Grep LS', '-p', 'Say hello.']);
  });
});
