import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copilot } from '../../src/agents/index.js';
import { AgentE2E, explain, RUN_TIMEOUT_MS, tunnelTargets } from '../helpers/agent-e2e.js';
import { expectCompleted, otherRequests } from '../helpers/preset-e2e.js';

/*
 * The real GitHub Copilot CLI from npm (@github/copilot: npm-loader.js starting the native build in
 * @github/copilot-linux-x64), with a provider of its own, offline through the stub upstream, Chat
 * Completions; no GitHub login. PROMPTDIFF_E2E_COPILOT_VERSION=<v> tests another release.
 */
const VERSION = process.env.PROMPTDIFF_E2E_COPILOT_VERSION ?? '1.0.102';
const e2e = new AgentE2E(copilot, VERSION);

beforeAll(() => e2e.start(), 900_000);
afterAll(() => e2e.close());

describe(`Copilot CLI ${VERSION}, offline through the stub upstream`, () => {
  it('forward route: one call to api.openai.com and nothing else (no GitHub host)', async () => {
    const r = await e2e.run({ route: 'forward' });
    const calls = expectCompleted(copilot, r);
    for (const c of calls) {
      expect(c.request.url).toBe('https://api.openai.com/v1/chat/completions');
      expect(c.parsed!.model).toBe('gpt-4o');
      // Its free-form apply_patch tool is named as such (not "custom").
      expect(c.parsed!.tools.map((t) => t.name)).toContain('apply_patch');
    }
    expect(tunnelTargets(r), explain(r)).toEqual(['api.openai.com:443']);
    expect(otherRequests(copilot, r), explain(r)).toEqual([]);
  }, RUN_TIMEOUT_MS + 10_000);

  it('forward route to a custom, unresolvable base URL host', async () => {
    const r = await e2e.run({ route: 'forward', baseUrl: 'https://llm-gateway.example.cn/compatible-mode/v1' });
    for (const c of expectCompleted(copilot, r)) expect(c.request.url).toBe('https://llm-gateway.example.cn/compatible-mode/v1/chat/completions');
    expect(tunnelTargets(r), explain(r)).toEqual(['llm-gateway.example.cn:443']);
  }, RUN_TIMEOUT_MS + 10_000);

  it('reverse route: COPILOT_PROVIDER_BASE_URL is the listener', async () => {
    const r = await e2e.run({ route: 'reverse' });
    for (const c of expectCompleted(copilot, r)) expect(c.request.path).toBe('/v1/chat/completions');
    expect(otherRequests(copilot, r), explain(r)).toEqual([]);
  }, RUN_TIMEOUT_MS + 10_000);
});
