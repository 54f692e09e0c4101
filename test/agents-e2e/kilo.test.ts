import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kilo } from '../../src/agents/index.js';
import { AgentE2E, explain, RUN_TIMEOUT_MS, tunnelTargets } from '../helpers/agent-e2e.js';
import { expectCompleted, otherRequests } from '../helpers/preset-e2e.js';

/*
 * The real Kilo CLI from npm (@kilocode/cli, an opencode fork; Bun binary in @kilocode/cli-linux-x64),
 * offline through the stub upstream, Anthropic Messages. 7.7.7 is the newest release with a
 * linux-x64 build. PROMPTDIFF_E2E_KILO_VERSION=<v> tests another release.
 */
const VERSION = process.env.PROMPTDIFF_E2E_KILO_VERSION ?? '7.7.7';
const e2e = new AgentE2E(kilo, VERSION);

beforeAll(() => e2e.start(), 900_000);
afterAll(() => e2e.close());

// Its own API, asked for model lists on every run (answered {} by the stub: it logs a schema error and goes on).
const KILO_CALLS = ['GET api.kilo.ai/api/openrouter/models'];

describe(`Kilo CLI ${VERSION}, offline through the stub upstream`, () => {
  it('installs from the cache with its platform build, no registry needed', async () => {
    expect((await kilo.install(e2e.installed.version, { npm: '/nonexistent/npm' })).fromCache).toBe(true);
  });

  it('forward route: the prompt to api.anthropic.com, model lists from api.kilo.ai, nothing else', async () => {
    const r = await e2e.run({ route: 'forward' });
    for (const c of expectCompleted(kilo, r)) expect(c.request.url).toBe('https://api.anthropic.com/v1/messages');
    expect(tunnelTargets(r), explain(r)).toEqual(['api.anthropic.com:443', 'api.kilo.ai:443']);
    expect(otherRequests(kilo, r), explain(r)).toEqual(KILO_CALLS);
  }, RUN_TIMEOUT_MS + 10_000);

  it('forward route to a custom, unresolvable base URL host', async () => {
    const r = await e2e.run({ route: 'forward', baseUrl: 'https://llm-gateway.example.cn' });
    for (const c of expectCompleted(kilo, r)) expect(c.request.url).toBe('https://llm-gateway.example.cn/v1/messages');
  }, RUN_TIMEOUT_MS + 10_000);

  it('reverse route: the provider baseURL and KILO_API_URL are the listener', async () => {
    const r = await e2e.run({ route: 'reverse' });
    for (const c of expectCompleted(kilo, r)) expect(c.request.path).toBe('/v1/messages');
    expect(otherRequests(kilo, r), explain(r)).toEqual(['GET /api/openrouter/models']);
  }, RUN_TIMEOUT_MS + 10_000);
});
