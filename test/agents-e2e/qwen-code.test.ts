import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_STUB_TEXT } from '../../src/proxy/server.js';
import type { ExchangeRecord } from '../../src/capture/schema.js';
import { qwenCode } from '../../src/agents/index.js';
import { AgentE2E, explain, RUN_TIMEOUT_MS, tunnelTargets, type AgentRun } from '../helpers/agent-e2e.js';
import { RelayE2E } from '../helpers/relay-e2e.js';

/*
 * The real Qwen Code from npm (bundled JavaScript; its engines field asks for a newer Node, 20 runs
 * it), offline through the stub upstream, OpenAI Chat Completions.
 * PROMPTDIFF_E2E_QWEN_VERSION=latest (or any version) tests another release.
 */
const VERSION = process.env.PROMPTDIFF_E2E_QWEN_VERSION ?? '0.24.4';
const e2e = new AgentE2E(qwenCode, VERSION);

beforeAll(() => e2e.start(), 900_000);
afterAll(() => e2e.close());

function chatCalls(r: AgentRun): ExchangeRecord[] {
  return r.records.filter((x) => x.request.method === 'POST' && /\/chat\/completions(\?|$)/.test(x.request.path));
}

function expectCompleted(r: AgentRun): ExchangeRecord[] {
  expect(r.code, explain(r)).toBe(0);
  expect(r.stdout, explain(r)).toContain(DEFAULT_STUB_TEXT);
  const calls = chatCalls(r);
  expect(calls.length, explain(r)).toBeGreaterThanOrEqual(1);
  for (const c of calls) {
    expect(c.dialect).toBe('openai-chat');
    expect(c.parsed?.endpoint).toBe('chat.completions');
    expect(c.parsed?.stream).toBe(true);
    // The stub sends the usage chunk only when asked; Qwen Code asks.
    expect(c.parsed?.metadata).toMatchObject({ stream_options: { include_usage: true } });
    expect(c.parsed!.system.length).toBeGreaterThan(0);
    expect(c.parsed!.system.join('').length).toBeGreaterThan(0);
    expect(c.parsed!.tools.length).toBeGreaterThan(0);
    expect(c.parsed!.messages.at(-1)?.text).toContain('Say hello.');
    expect(c.response?.status).toBe(200);
    expect(c.errors).toEqual([]);
  }
  // Only the model API: no RUM usage reports (*.rum.aliyuncs.com), no update check.
  expect(calls.length, explain(r)).toBe(r.records.length);
  return calls;
}

describe(`Qwen Code ${VERSION}, offline through the stub upstream`, () => {
  it('installs from the cache', async () => {
    const again = await qwenCode.install(e2e.installed.version);
    expect(again.fromCache).toBe(true);
    expect(again.durationMs).toBeLessThan(10_000);
  });

  it('forward route: HTTPS_PROXY + NODE_EXTRA_CA_CERTS, OPENAI_BASE_URL api.openai.com', async () => {
    const r = await e2e.run({ route: 'forward' });
    for (const c of expectCompleted(r)) {
      expect(c.route).toBe('forward');
      expect(c.request.url).toBe('https://api.openai.com/v1/chat/completions');
    }
    expect(tunnelTargets(r), explain(r)).toEqual(['api.openai.com:443']);
  }, RUN_TIMEOUT_MS + 10_000);

  it('forward route to a custom, unresolvable base URL host', async () => {
    const r = await e2e.run({ route: 'forward', baseUrl: 'https://llm-gateway.example.cn/compatible-mode/v1' });
    for (const c of expectCompleted(r)) expect(c.request.url).toBe('https://llm-gateway.example.cn/compatible-mode/v1/chat/completions');
    expect(tunnelTargets(r), explain(r)).toEqual(['llm-gateway.example.cn:443']);
  }, RUN_TIMEOUT_MS + 10_000);

  it('reverse route: OPENAI_BASE_URL is the proxy', async () => {
    const r = await e2e.run({ route: 'reverse' });
    for (const c of expectCompleted(r)) {
      expect(c.route).toBe('reverse');
      expect(c.tunnel).toBeNull();
      expect(c.request.path).toBe('/v1/chat/completions');
    }
  }, RUN_TIMEOUT_MS + 10_000);
});

/* Passthrough over the tunnel relay (see helpers/relay-e2e.ts). */
describe(`Qwen Code ${VERSION}, passthrough over the tunnel relay to a local HTTPS upstream`, () => {
  const relay = new RelayE2E(qwenCode, VERSION);
  beforeAll(() => relay.start(), 900_000);
  afterAll(() => relay.close());

  it('completes, every call recorded from the relayed bytes with the upstream answer', async () => {
    const r = await relay.run('/compatible-mode/v1');
    relay.expectRelayed(r, expectCompleted(r));
  }, RUN_TIMEOUT_MS + 10_000);
});
