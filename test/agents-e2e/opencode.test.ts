import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { opencode } from '../../src/agents/index.js';
import { AgentE2E, explain, RUN_TIMEOUT_MS, tunnelTargets } from '../helpers/agent-e2e.js';
import { expectCompleted, otherRequests } from '../helpers/preset-e2e.js';

/*
 * The real opencode from npm (opencode-ai, a Bun binary in opencode-linux-x64), offline through the
 * stub upstream, Anthropic Messages. PROMPTDIFF_E2E_OPENCODE_VERSION=<v> tests another release.
 */
const VERSION = process.env.PROMPTDIFF_E2E_OPENCODE_VERSION ?? '1.18.33';
const e2e = new AgentE2E(opencode, VERSION);

beforeAll(() => e2e.start(), 900_000);
afterAll(() => e2e.close());

describe(`opencode ${VERSION}, offline through the stub upstream`, () => {
  it('installs from the cache with its platform build, no registry needed', async () => {
    const again = await opencode.install(e2e.installed.version, { npm: '/nonexistent/npm' });
    expect(again.fromCache).toBe(true);
  });

  it('forward route: the title call and the main prompt to api.anthropic.com, the plugin lookup to npm', async () => {
    const r = await e2e.run({ route: 'forward' });
    const calls = expectCompleted(opencode, r);
    for (const c of calls) expect(c.request.url).toBe('https://api.anthropic.com/v1/messages');
    // A title request (no tools, the small model) beside the main one.
    expect(calls.map((c) => c.parsed!.tools.length > 0).sort(), explain(r)).toEqual([false, true]);
    expect(tunnelTargets(r), explain(r)).toEqual(['api.anthropic.com:443', 'registry.npmjs.org:443']);
    expect(otherRequests(opencode, r), explain(r)).toEqual(['GET registry.npmjs.org/@opencode-ai%2fplugin']);
  }, RUN_TIMEOUT_MS + 10_000);

  it('forward route to a custom, unresolvable base URL host (provider baseURL + /v1)', async () => {
    const r = await e2e.run({ route: 'forward', baseUrl: 'https://llm-gateway.example.cn/anthropic' });
    for (const c of expectCompleted(opencode, r)) expect(c.request.url).toBe('https://llm-gateway.example.cn/anthropic/v1/messages');
    expect(tunnelTargets(r), explain(r)).toEqual(['llm-gateway.example.cn:443', 'registry.npmjs.org:443']);
  }, RUN_TIMEOUT_MS + 10_000);

  it('reverse route: the provider baseURL and the npm registry are the listener', async () => {
    const r = await e2e.run({ route: 'reverse' });
    for (const c of expectCompleted(opencode, r)) {
      expect(c.route).toBe('reverse');
      expect(c.request.path).toBe('/v1/messages');
    }
    expect(otherRequests(opencode, r), explain(r)).toEqual(['GET /@opencode-ai%2fplugin']);
  }, RUN_TIMEOUT_MS + 10_000);
});
