import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { DEFAULT_STUB_TEXT } from '../src/proxy/server.js';
import type { ExchangeRecord } from '../src/capture/schema.js';
import { claudeCode, claudeEntryPoint, compareVersions, type AgentEnvContext } from '../src/agents/index.js';
import { AgentE2E, explain, RUN_TIMEOUT_MS, type AgentRun } from './helpers/agent-e2e.js';
import { RelayE2E } from './helpers/relay-e2e.js';

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

const harnesses = new Map<string, AgentE2E>();

beforeAll(async () => {
  // Sequential on purpose: two 400 MB downloads at once only make both slower.
  for (const v of VERSIONS) {
    const h = new AgentE2E(claudeCode, v);
    harnesses.set(v, h);
    await h.start();
  }
}, 600_000);

afterAll(async () => {
  for (const h of harnesses.values()) await h.close();
});

function runClaude(version: string, route: AgentEnvContext['route'], baseUrl?: string): Promise<AgentRun> {
  return harnesses.get(version)!.run({ route, ...(baseUrl ? { baseUrl } : {}) });
}

function messagesCalls(r: AgentRun): ExchangeRecord[] {
  return r.records.filter((x) => x.request.method === 'POST' && /\/v1\/messages(\?|$)/.test(x.request.path));
}

function expectCompleted(r: AgentRun): ExchangeRecord[] {
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

/* Passthrough over the tunnel relay (see helpers/relay-e2e.ts). */
describe.each(VERSIONS)('Claude Code %s, passthrough over the tunnel relay to a local HTTPS upstream', (version) => {
  // 2.1.112 also asks api.anthropic.com whether metrics are enabled: refused, and recorded.
  const relay = new RelayE2E(claudeCode, version);
  beforeAll(() => relay.start(), 600_000);
  afterAll(() => relay.close());

  it('completes, and every exchange it made is recorded with the answer of the upstream', async () => {
    const r = await relay.run();
    const calls = expectCompleted(r);
    for (const c of calls) expect(c.request.url.startsWith(`${relay.base}/v1/messages`)).toBe(true);
    relay.expectRelayed(r, calls, calls.filter((c) => c.parsed?.stream));
  }, RUN_TIMEOUT_MS + 10_000);
});
