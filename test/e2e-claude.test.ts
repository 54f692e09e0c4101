import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startProxy, DEFAULT_STUB_TEXT, type RunningProxy } from '../src/proxy/server.js';
import { readExchanges } from '../src/capture/store.js';
import type { ExchangeRecord } from '../src/capture/schema.js';
import { claudeCode, claudeEntryPoint, compareVersions, type AgentEnvContext, type InstalledAgent } from '../src/agents/index.js';
import { log } from '../src/log.js';
import { tmp } from './helpers/clients.js';

/*
 * A real Claude Code from npm, offline: installed on demand into the agent cache (minutes the
 * first time, milliseconds after), run in print mode against the stub upstream through both routes.
 * 2.1.112 is the last release that ships cli.js (run with this Node); 2.1.331 is a native-era
 * release whose wrapper declares Node ≥ 22 but whose Bun binary runs anywhere.
 * PROMPTDIFF_E2E_CLAUDE_VERSIONS=2.1.80,2.1.200 tests others.
 */
const VERSIONS = (process.env.PROMPTDIFF_E2E_CLAUDE_VERSIONS ?? '2.1.112,2.1.331')
  .split(',')
  .map((v) => v.trim())
  .filter(Boolean);
const RUN_TIMEOUT_MS = 90_000;

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  records: ExchangeRecord[];
}

let proxy: RunningProxy;
let certsDir: string;
const installs = new Map<string, InstalledAgent>();
const homes: string[] = [];
let runCount = 0;

beforeAll(async () => {
  log.level = process.env.PROMPTDIFF_LOG_LEVEL ?? 'silent';
  certsDir = await tmp('e2e-claude-certs');
  proxy = await startProxy({ outDir: await tmp('e2e-claude-main'), certsDir });
  // Sequential on purpose: two 400 MB downloads at once only make both slower.
  for (const v of VERSIONS) installs.set(v, await claudeCode.install(v));
}, 600_000);

afterAll(async () => {
  await proxy?.close();
  for (const h of homes) await rm(h, { recursive: true, force: true });
});

async function runClaude(version: string, route: AgentEnvContext['route'], baseUrl?: string): Promise<RunResult> {
  const installed = installs.get(version)!;
  const runId = `claude-${version}-${route}-${++runCount}`;
  const captureDir = await tmp('e2e-claude-run');
  const listener = await proxy.addRunListener(runId, captureDir);
  const home = await mkdtemp(path.join(tmpdir(), 'pd-e2e-claude-home-'));
  homes.push(home);
  await claudeCode.prepareHome(home);
  const ctx: AgentEnvContext = { route, proxyUrl: listener.url, caCertPath: proxy.caCertPath, ...(baseUrl ? { baseUrl } : {}) };
  // A clean environment: nothing of the developer's (API keys, proxies, CA bundles) leaks in.
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', ...claudeCode.env(ctx) };
  const [program, ...args] = claudeCode.command(installed.dir, 'Say hello.');
  const t0 = performance.now();
  const child = spawn(program!, args, { cwd: home, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c, s) => resolve([c, s]));
  });
  clearTimeout(timer);
  const ms = Math.round(performance.now() - t0);
  await proxy.removeRunListener(runId);
  const { records } = await readExchanges(captureDir);
  return { code, signal, stdout, stderr, ms, records };
}

/** What to read when a run fails: the agent's own words and every exchange it made. */
function explain(r: RunResult): string {
  const lines = r.records.map(
    (x) => `  ${x.route} ${x.request.method} ${x.request.url} → ${x.response?.status ?? 'no response'} ${x.errors.map((e) => e.message).join('; ')}`,
  );
  return [
    `exit ${r.code ?? r.signal} after ${r.ms} ms`,
    `stdout: ${r.stdout.slice(0, 2000)}`,
    `stderr: ${r.stderr.slice(0, 2000)}`,
    `exchanges (${r.records.length}):`,
    ...lines,
  ].join('\n');
}

function messagesCalls(r: RunResult): ExchangeRecord[] {
  return r.records.filter((x) => x.request.method === 'POST' && /\/v1\/messages(\?|$)/.test(x.request.path));
}

function expectCompleted(r: RunResult): ExchangeRecord[] {
  expect(r.code, explain(r)).toBe(0);
  expect(r.stdout, explain(r)).toContain(DEFAULT_STUB_TEXT);
  const calls = messagesCalls(r);
  expect(calls.length, explain(r)).toBeGreaterThanOrEqual(1);
  for (const c of calls) {
    expect(c.dialect).toBe('anthropic-messages');
    expect(c.parsed?.endpoint).toBe('messages');
    expect(c.parsed!.system.length).toBeGreaterThan(0);
    expect(c.parsed!.system.join('').length).toBeGreaterThan(0);
    expect(c.response?.status).toBe(200);
    expect(c.errors).toEqual([]);
  }
  return calls;
}

describe.each(VERSIONS)('Claude Code %s, offline through the stub upstream', (version) => {
  it('installs from the cache and finds its entry point', async () => {
    const again = await claudeCode.install(version);
    expect(again.fromCache).toBe(true);
    expect(again.durationMs).toBeLessThan(5_000);
    const entry = claudeEntryPoint(again.dir);
    expect(entry.version).toBe(version);
    // cli.js up to 2.1.112, a native binary from 2.1.113.
    expect(entry.kind).toBe(compareVersions(version, '2.1.113') < 0 ? 'javascript' : 'native');
  });

  it('forward route: HTTPS_PROXY + NODE_EXTRA_CA_CERTS, default API host', async () => {
    const r = await runClaude(version, 'forward');
    const calls = expectCompleted(r);
    for (const c of calls) {
      expect(c.route).toBe('forward');
      expect(c.tunnel?.target).toBe('api.anthropic.com:443');
      expect(c.tunnel?.sni).toBe('api.anthropic.com');
      expect(c.request.url).toMatch(/^https:\/\/api\.anthropic\.com\/v1\/messages/);
    }
    // Nothing went around the proxy in the clear or to another host.
    for (const x of r.records) expect(x.tunnel?.target, explain(r)).toBe('api.anthropic.com:443');
  }, RUN_TIMEOUT_MS + 10_000);

  it('forward route to a custom, unresolvable base URL host', async () => {
    const r = await runClaude(version, 'forward', 'https://llm-gateway.example.cn');
    const calls = expectCompleted(r);
    for (const c of calls) {
      expect(c.tunnel?.target).toBe('llm-gateway.example.cn:443');
      expect(c.request.host).toBe('llm-gateway.example.cn');
    }
  }, RUN_TIMEOUT_MS + 10_000);

  it('reverse route: ANTHROPIC_BASE_URL is the proxy', async () => {
    const r = await runClaude(version, 'reverse');
    const calls = expectCompleted(r);
    for (const c of calls) {
      expect(c.route).toBe('reverse');
      expect(c.tunnel).toBeNull();
    }
  }, RUN_TIMEOUT_MS + 10_000);
});
