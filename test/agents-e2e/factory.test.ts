import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { factory } from '../../src/agents/index.js';
import { AgentE2E, explain, RUN_TIMEOUT_MS, tunnelTargets } from '../helpers/agent-e2e.js';
import { expectCompleted, otherRequests } from '../helpers/preset-e2e.js';

/*
 * The real Factory droid from npm (@factory/cli 0.225.1 with @factory/cli-linux-x64 0.225.2, the
 * nearest build the registry has), a custom Anthropic model, offline through the stub upstream.
 * PROMPTDIFF_E2E_FACTORY_VERSION=<v> tests another release.
 */
const VERSION = process.env.PROMPTDIFF_E2E_FACTORY_VERSION ?? '0.225.1';
const e2e = new AgentE2E(factory, VERSION);

beforeAll(() => e2e.start(), 900_000);
afterAll(() => e2e.close());

/** Factory's own API is asked at least for these on every run, the conversation included (message/create). */
const OWN_API = ['GET api.factory.ai/api/cli/whoami', 'GET api.factory.ai/api/feature-flags', 'POST api.factory.ai/api/sessions/create', 'POST api.factory.ai/api/sessions/ID/message/create'];

describe(`Factory droid ${VERSION}, offline through the stub upstream`, () => {
  it('installs the nearest platform build beside the wrapper', async () => {
    const marker = JSON.parse(await readFile(`${e2e.installed.dir}/promptdiff-install.json`, 'utf8')) as { packages: Record<string, { version: string }> };
    expect(marker.packages['@factory/cli']?.version).toBe(VERSION);
    expect(marker.packages['@factory/cli-linux-x64']?.version).toMatch(/^0\.225\.\d+$/);
  });

  it('forward route: the prompt to api.anthropic.com; its own API and telemetry get the stub', async () => {
    const r = await e2e.run({ route: 'forward' });
    for (const c of expectCompleted(factory, r)) expect(c.request.url).toBe('https://api.anthropic.com/v1/messages');
    expect(tunnelTargets(r), explain(r)).toEqual(['api.anthropic.com:443', 'api.factory.ai:443', 'telemetry.factory.ai:443']);
    expect(otherRequests(factory, r), explain(r)).toEqual(expect.arrayContaining(OWN_API));
  }, RUN_TIMEOUT_MS + 10_000);

  it('forward route to a custom, unresolvable base URL host (written into customModels)', async () => {
    const r = await e2e.run({ route: 'forward', baseUrl: 'https://llm-gateway.example.cn/anthropic' });
    for (const c of expectCompleted(factory, r)) expect(c.request.url).toBe('https://llm-gateway.example.cn/anthropic/v1/messages');
  }, RUN_TIMEOUT_MS + 10_000);

  it('reverse route: the model and Factory\'s own hosts are the listener; nothing leaves the machine', async () => {
    const r = await e2e.run({ route: 'reverse' });
    for (const c of expectCompleted(factory, r)) expect(c.request.path).toBe('/v1/messages');
    expect(otherRequests(factory, r), explain(r)).toEqual(expect.arrayContaining(OWN_API.map((x) => x.replace('api.factory.ai', ''))));
  }, RUN_TIMEOUT_MS + 10_000);
});
