import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { DEFAULT_STUB_TEXT } from '../src/proxy/server.js';
import type { ExchangeRecord } from '../src/capture/schema.js';
import { claudeCode, claudeEntryPoint, compareVersions, type AgentEnvContext } from '../src/agents/index.js';
import { AgentE2E, explain, RUN_TIMEOUT_MS, type AgentRun } from './helpers/agent-e2e.js';
import { startHttpsUpstream, type HttpsUpstream } from './helpers/https-upstream.js';

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

/*
 * Passthrough, the way a researcher points a real agent at the real API, with a local HTTPS server
 * standing in for the API: the CONNECT tunnel's bytes are relayed as sent and the records come from
 * the tap. NO_PROXY is cleared so the agent tunnels to 127.0.0.1 through the proxy.
 */
describe.each(VERSIONS)('Claude Code %s, passthrough over the tunnel relay to a local HTTPS upstream', (version) => {
  let upstream: HttpsUpstream;
  let relay: AgentE2E;
  beforeAll(async () => {
    upstream = await startHttpsUpstream();
    // Only the local upstream: anything else the agent calls (it asks api.anthropic.com whether
    // metrics are enabled) is answered 502 by the proxy and never leaves the machine.
    relay = new AgentE2E(claudeCode, version, { upstream: 'passthrough', upstreamCa: upstream.caPath, passthroughOnly: ['127.0.0.1'] });
    await relay.start();
  }, 600_000);
  afterAll(async () => {
    await relay?.close();
    await upstream?.close();
  });

  it('completes, and every exchange it made is recorded with the answer of the upstream', async () => {
    const base = `https://127.0.0.1:${upstream.port}`;
    const r = await relay.run({ route: 'forward', baseUrl: base, env: { NO_PROXY: undefined, no_proxy: undefined } });
    const calls = expectCompleted(r);
    for (const c of calls) {
      expect(c.tunnel?.target).toBe(`127.0.0.1:${upstream.port}`);
      expect(c.response?.source).toBe('upstream');
      expect(c.request.url.startsWith(`${base}/v1/messages`)).toBe(true);
    }
    const streamed = calls.filter((c) => c.parsed?.stream);
    for (const c of streamed) expect(c.response?.assembledText, explain(r)).toBe(DEFAULT_STUB_TEXT);
    // What reached the upstream is what was recorded for it, one for one; the rest was refused.
    const local = r.records.filter((x) => x.tunnel?.target === `127.0.0.1:${upstream.port}`);
    expect(local.map((x) => `${x.request.method} ${x.request.path}`).sort(), explain(r)).toEqual([...upstream.seen].sort());
    for (const x of r.records.filter((y) => !local.includes(y))) {
      expect(x.response, explain(r)).toBeNull();
      expect(x.errors.map((e) => e.message).join(), explain(r)).toMatch(/is not allowed \(--passthrough-only 127\.0\.0\.1\)/);
    }
  }, RUN_TIMEOUT_MS + 10_000);
});
