import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_STUB_TEXT } from '../../src/proxy/server.js';
import type { ExchangeRecord } from '../../src/capture/schema.js';
import { geminiCli, GEMINI_STUB_MODEL } from '../../src/agents/index.js';
import { AgentE2E, explain, RUN_TIMEOUT_MS, tunnelTargets, type AgentRun } from '../helpers/agent-e2e.js';
import { RelayE2E } from '../helpers/relay-e2e.js';

/*
 * The real Gemini CLI from npm (bundled JavaScript, run with this Node), offline through the stub
 * upstream. PROMPTDIFF_E2E_GEMINI_VERSION=latest (or any version) tests another release.
 */
const VERSION = process.env.PROMPTDIFF_E2E_GEMINI_VERSION ?? '0.61.0';
const e2e = new AgentE2E(geminiCli, VERSION);
const API = '/v1beta/models/';

beforeAll(() => e2e.start(), 900_000);
afterAll(() => e2e.close());

function modelCalls(r: AgentRun): ExchangeRecord[] {
  return r.records.filter((x) => x.request.method === 'POST' && x.request.path.startsWith(API));
}

/** The streamed main turn: the one that carries the agent's system prompt and tools. */
function expectCompleted(r: AgentRun): ExchangeRecord {
  expect(r.code, explain(r)).toBe(0);
  expect(r.stdout, explain(r)).toContain(DEFAULT_STUB_TEXT);
  const calls = modelCalls(r);
  for (const c of calls) {
    expect(c.dialect).toBe('gemini');
    expect(c.parsed!.system.length, explain(r)).toBeGreaterThan(0);
    expect(c.parsed!.system.join('').length).toBeGreaterThan(0);
    expect(c.response?.status).toBe(200);
    expect(c.errors).toEqual([]);
  }
  // Only the model API: no Clearcut usage logs (play.googleapis.com), no Code Assist, no update check.
  expect(calls.length, explain(r)).toBe(r.records.length);
  const main = calls.filter((c) => c.parsed?.endpoint === 'streamGenerateContent');
  expect(main.length, explain(r)).toBe(1);
  expect(main[0]!.request.path).toMatch(/:streamGenerateContent\?alt=sse$/);
  expect(main[0]!.parsed!.tools.length).toBeGreaterThan(0);
  expect(main[0]!.parsed!.messages.at(-1)?.text).toContain('Say hello.');
  return main[0]!;
}

describe(`Gemini CLI ${VERSION}, offline through the stub upstream`, () => {
  it('installs from the cache', async () => {
    const again = await geminiCli.install(e2e.installed.version);
    expect(again.fromCache).toBe(true);
    expect(again.durationMs).toBeLessThan(10_000);
  });

  it('forward route: HTTPS_PROXY + NODE_EXTRA_CA_CERTS, default API host', async () => {
    const r = await e2e.run({ route: 'forward' });
    const main = expectCompleted(r);
    expect(main.route).toBe('forward');
    expect(main.parsed?.model).toBe(GEMINI_STUB_MODEL);
    expect(main.request.url).toBe(`https://generativelanguage.googleapis.com${API}${GEMINI_STUB_MODEL}:streamGenerateContent?alt=sse`);
    expect(tunnelTargets(r), explain(r)).toEqual(['generativelanguage.googleapis.com:443']);
  }, RUN_TIMEOUT_MS + 10_000);

  it('forward route to a custom, unresolvable base URL host (GOOGLE_GEMINI_BASE_URL)', async () => {
    const r = await e2e.run({ route: 'forward', baseUrl: 'https://llm-gateway.example.cn' });
    const main = expectCompleted(r);
    expect(main.request.host).toBe('llm-gateway.example.cn');
    expect(tunnelTargets(r), explain(r)).toEqual(['llm-gateway.example.cn:443']);
  }, RUN_TIMEOUT_MS + 10_000);

  it('reverse route: GOOGLE_GEMINI_BASE_URL is the proxy', async () => {
    const r = await e2e.run({ route: 'reverse' });
    const main = expectCompleted(r);
    expect(main.route).toBe('reverse');
    expect(tunnelTargets(r)).toEqual(['(none)']);
  }, RUN_TIMEOUT_MS + 10_000);

  it('without -m: the router call gets JSON that fits its schema, then the routed model answers', async () => {
    const r = await e2e.run({
      route: 'forward',
      argv: (argv) => argv.filter((a, i) => a !== '-m' && argv[i - 1] !== '-m'),
    });
    const main = expectCompleted(r);
    const router = modelCalls(r).filter((c) => c.parsed?.endpoint === 'generateContent');
    expect(router.length, explain(r)).toBe(1);
    expect(router[0]!.parsed!.metadata).toMatchObject({ generationConfig: { responseMimeType: 'application/json' } });
    // 0.61 logged a ZodError here while the stub answered complexity_score 0 (it wants 1–100).
    expect(r.stderr, explain(r)).not.toMatch(/Routing\].*failed|ZodError/);
    expect(main.parsed?.model).not.toBe(GEMINI_STUB_MODEL);
  }, RUN_TIMEOUT_MS + 10_000);
});

/* Passthrough over the tunnel relay (see helpers/relay-e2e.ts). */
describe(`Gemini CLI ${VERSION}, passthrough over the tunnel relay to a local HTTPS upstream`, () => {
  const relay = new RelayE2E(geminiCli, VERSION);
  beforeAll(() => relay.start(), 900_000);
  afterAll(() => relay.close());

  it('completes, every call recorded from the relayed bytes with the upstream answer', async () => {
    const r = await relay.run();
    relay.expectRelayed(r, [expectCompleted(r)]);
  }, RUN_TIMEOUT_MS + 10_000);
});
