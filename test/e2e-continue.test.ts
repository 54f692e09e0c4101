import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { continueCli } from '../src/agents/index.js';
import { AgentE2E, explain, RUN_TIMEOUT_MS, tunnelTargets } from './helpers/agent-e2e.js';
import { expectCompleted, otherRequests } from './helpers/preset-e2e.js';

/*
 * The real Continue CLI from npm (@continuedev/cli, `cn`, bundled JavaScript) with an `openai`
 * model in ~/.continue/config.yaml, offline through the stub upstream, Chat Completions.
 * In `npm test` as well as `npm run test:agents`: the fastest preset (~2 s a run, 81 MB installed),
 * so CI keeps a real agent other than Claude Code end to end (another dialect, another runtime).
 * PROMPTDIFF_E2E_CONTINUE_VERSION=<v> tests another release.
 */
const VERSION = process.env.PROMPTDIFF_E2E_CONTINUE_VERSION ?? '1.5.47';
const e2e = new AgentE2E(continueCli, VERSION);

beforeAll(() => e2e.start(), 900_000);
afterAll(() => e2e.close());

describe(`Continue CLI ${VERSION}, offline through the stub upstream`, () => {
  it('forward route: one call to api.openai.com and nothing else (no hub, no telemetry)', async () => {
    const r = await e2e.run({ route: 'forward' });
    for (const c of expectCompleted(continueCli, r)) expect(c.request.url).toBe('https://api.openai.com/v1/chat/completions');
    expect(tunnelTargets(r), explain(r)).toEqual(['api.openai.com:443']);
    expect(otherRequests(continueCli, r), explain(r)).toEqual([]);
  }, RUN_TIMEOUT_MS + 10_000);

  it('forward route to a custom, unresolvable base URL host (the config template reads OPENAI_BASE_URL)', async () => {
    const r = await e2e.run({ route: 'forward', baseUrl: 'https://llm-gateway.example.cn/compatible-mode/v1' });
    for (const c of expectCompleted(continueCli, r)) expect(c.request.url).toBe('https://llm-gateway.example.cn/compatible-mode/v1/chat/completions');
  }, RUN_TIMEOUT_MS + 10_000);

  it('reverse route: the base URL is the listener', async () => {
    const r = await e2e.run({ route: 'reverse' });
    for (const c of expectCompleted(continueCli, r)) expect(c.request.path).toBe('/v1/chat/completions');
  }, RUN_TIMEOUT_MS + 10_000);

});
