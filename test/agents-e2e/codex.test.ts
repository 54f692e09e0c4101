import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_STUB_TEXT } from '../../src/proxy/server.js';
import type { ExchangeRecord } from '../../src/capture/schema.js';
import { codex } from '../../src/agents/index.js';
import { AgentE2E, explain, RUN_TIMEOUT_MS, tunnelTargets, type AgentRun } from '../helpers/agent-e2e.js';
import { RelayE2E } from '../helpers/relay-e2e.js';

/*
 * The real Codex CLI from npm (a JavaScript launcher and a ~400 MB Rust binary in
 * @openai/codex-linux-x64), offline through the stub upstream. PROMPTDIFF_E2E_CODEX_VERSION=latest
 * (or any version) tests another release than the one last verified.
 */
const VERSION = process.env.PROMPTDIFF_E2E_CODEX_VERSION ?? '0.169.0';
const e2e = new AgentE2E(codex, VERSION);

beforeAll(() => e2e.start(), 900_000);
afterAll(() => e2e.close());

function responsesCalls(r: AgentRun): ExchangeRecord[] {
  return r.records.filter((x) => x.request.method === 'POST' && /\/responses(\/compact)?(\?|$)/.test(x.request.path));
}

function expectCompleted(r: AgentRun): ExchangeRecord[] {
  expect(r.code, explain(r)).toBe(0);
  expect(r.stdout, explain(r)).toContain(DEFAULT_STUB_TEXT);
  const calls = responsesCalls(r);
  expect(calls.length, explain(r)).toBeGreaterThanOrEqual(1);
  for (const c of calls) {
    expect(c.dialect).toBe('openai-responses');
    expect(c.parsed?.endpoint).toBe('responses');
    expect(c.parsed?.stream).toBe(true);
    expect(c.parsed!.system.length).toBeGreaterThan(0);
    expect(c.parsed!.system.join('\n')).toContain('Codex');
    // 0.169 sends its tools as an `additional_tools` input item, which the dialect reads.
    expect(c.parsed!.tools.length).toBeGreaterThan(0);
    expect(c.parsed!.messages.at(-1)?.text).toBe('Say hello.');
    expect(c.response?.status).toBe(200);
    expect(c.errors).toEqual([]);
  }
  // Only the model API: no analytics, OTEL, plugin or update traffic.
  expect(calls.length, explain(r)).toBe(r.records.length);
  return calls;
}

describe(`Codex ${VERSION}, offline through the stub upstream`, () => {
  it('installs from the cache', async () => {
    const again = await codex.install(e2e.installed.version);
    expect(again.fromCache).toBe(true);
    expect(again.durationMs).toBeLessThan(10_000);
  });

  it('forward route: HTTPS_PROXY + SSL_CERT_FILE, provider base URL api.openai.com', async () => {
    const r = await e2e.run({ route: 'forward' });
    for (const c of expectCompleted(r)) {
      expect(c.route).toBe('forward');
      expect(c.request.url).toBe('https://api.openai.com/v1/responses');
    }
    expect(tunnelTargets(r), explain(r)).toEqual(['api.openai.com:443']);
  }, RUN_TIMEOUT_MS + 10_000);

  it('forward route to a custom, unresolvable base URL host', async () => {
    const r = await e2e.run({ route: 'forward', baseUrl: 'https://llm-gateway.example.cn/v1' });
    for (const c of expectCompleted(r)) expect(c.request.url).toBe('https://llm-gateway.example.cn/v1/responses');
    expect(tunnelTargets(r), explain(r)).toEqual(['llm-gateway.example.cn:443']);
  }, RUN_TIMEOUT_MS + 10_000);

  it('reverse route: the provider base URL is the proxy', async () => {
    const r = await e2e.run({ route: 'reverse' });
    for (const c of expectCompleted(r)) {
      expect(c.route).toBe('reverse');
      expect(c.tunnel).toBeNull();
      expect(c.request.path).toBe('/v1/responses');
    }
  }, RUN_TIMEOUT_MS + 10_000);

  it('without the CA it never reaches the stub: a missing CA is a timeout, not an error', async () => {
    const r = await e2e.run({
      route: 'forward',
      timeoutMs: 15_000,
      env: { SSL_CERT_FILE: undefined, CODEX_CA_CERTIFICATE: undefined },
    });
    // Measured on 0.169: "ERROR: Reconnecting... waiting for network" forever (still at 9 minutes),
    // request_max_retries=0 / stream_max_retries=0 do not end it.
    expect(r.signal, explain(r)).toBe('SIGKILL');
    expect(r.stderr).toContain('Reconnecting');
    expect(r.records).toEqual([]);
  }, 30_000);
});

/* Passthrough over the tunnel relay (see helpers/relay-e2e.ts). */
describe(`Codex ${VERSION}, passthrough over the tunnel relay to a local HTTPS upstream`, () => {
  const relay = new RelayE2E(codex, VERSION);
  beforeAll(() => relay.start(), 900_000);
  afterAll(() => relay.close());

  it('completes, every call recorded from the relayed bytes with the upstream answer', async () => {
    const r = await relay.run('/v1');
    relay.expectRelayed(r, expectCompleted(r));
  }, RUN_TIMEOUT_MS + 10_000);
});
