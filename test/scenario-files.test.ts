import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { loadScenario } from '../src/scenario/scenario-file.js';
import { expandMatrix } from '../src/scenario/matrix.js';
import { agentIdentity, resolvePaths } from '../src/scenario/resolve.js';
import { demoScenarioPath } from '../src/scenario/demo.js';
import { AGENT_PRESETS } from '../src/agents/index.js';

// The shipped scenarios are documentation: they must stay valid as the schema evolves.
const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'scenarios');
const scenarioFiles = (sub: string) => readdirSync(path.join(dir, sub)).filter((f) => /\.(ya?ml|json)$/.test(f)).map((f) => path.posix.join(sub, f));
// scenarios/audits/: one `promptdiff audit` scenario per agent (docs/audits/).
const files = [...scenarioFiles('.'), ...scenarioFiles('audits')];

describe('shipped scenarios', () => {
  test.each(files)('%s is valid and expands', async (file) => {
    const { scenario, baseDir } = await loadScenario(path.join(dir, file));
    const resolved = resolvePaths(scenario, baseDir);
    const agent = agentIdentity(resolved);
    // A plain command, or a known preset (installed only when run) with its task as the last argument.
    if (agent.preset === null) expect(agent.command!.length).toBeGreaterThan(0);
    else expect(AGENT_PRESETS[agent.preset]).toBeDefined();
    expect(expandMatrix(resolved).runs.length).toBeGreaterThan(1);
  });

  test('the demo is the one `promptdiff demo` uses: canary, offline, 3 axes, pinned clock', async () => {
    expect(demoScenarioPath()).toBe(path.join(dir, 'demo.yaml'));
    const { scenario, baseDir } = await loadScenario(demoScenarioPath());
    const resolved = resolvePaths(scenario, baseDir);
    expect(resolved.upstream).toBe('stub');
    expect(resolved.clock).not.toBe('real');
    expect(Object.keys(resolved.axes)).toEqual(['TZ', 'ANTHROPIC_BASE_URL', 'LANG']);
    expect(agentIdentity(resolved).command?.[1]).toBe(path.join(dir, '..', 'agents', 'canary', 'index.mjs'));
  });
});
