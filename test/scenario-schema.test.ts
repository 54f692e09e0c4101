import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { loadScenario, ScenarioError, validateScenario } from '../src/scenario/scenario-file.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pd-schema-'));
});

async function write(name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, text);
  return file;
}

async function loadError(file: string): Promise<ScenarioError> {
  try {
    await loadScenario(file);
  } catch (err) {
    expect(err).toBeInstanceOf(ScenarioError);
    return err as ScenarioError;
  }
  throw new Error('expected the scenario to be rejected');
}

describe('scenario schema', () => {
  test('the issue example loads with defaults applied', async () => {
    const file = await write(
      'ok.yaml',
      `name: timezone-and-endpoint
agent:
  command: ["node", "./agent.mjs", "--task", "say hi"]
route: forward
upstream: stub
axes:
  TZ: [UTC, America/New_York, Asia/Shanghai]
  ANTHROPIC_BASE_URL: [https://api.anthropic.com, https://llm-gateway.example.cn]
  LANG: [en_US.UTF-8, zh_CN.UTF-8]
proxy_urls: [http://127.0.0.1, http://corp-proxy.example.com:3128]
repetitions: 3
clock: 2026-07-01T12:00:00Z
timeout: 2m
jobs: 2
`,
    );
    const { scenario, baseDir } = await loadScenario(file);
    expect(baseDir).toBe(dir);
    expect(scenario.timeout).toBe(120_000);
    expect(scenario.design).toBe('full');
    expect(scenario.clock).toBe('2026-07-01T12:00:00Z');
    expect(scenario.axes.TZ).toHaveLength(3);
    expect(scenario.env).toEqual({ allow: [], set: {} });
    expect(scenario.agent).toEqual({
      command: ['node', './agent.mjs', '--task', 'say hi'],
      base_url_var: 'ANTHROPIC_BASE_URL',
    });
  });

  test('JSON files load too, and YAML scalars become strings', async () => {
    const file = await write('ok.json', JSON.stringify({ name: 'j', agent: { command: ['true'] }, axes: { N: [1, true] }, timeout: 5 }));
    const { scenario } = await loadScenario(file);
    expect(scenario.axes.N).toEqual(['1', 'true']);
    expect(scenario.timeout).toBe(5000);
  });

  test('errors name the file, the field path and what was expected', async () => {
    const file = await write(
      'bad.yaml',
      `name: bad
agent: {command: [node]}
axes:
  TZ: [UTC]
  HOME: [/x]
  "bad name": [x]
repetitons: 3
timeout: 2 minutes
`,
    );
    const err = await loadError(file);
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/axes\.HOME: is set by the runner/);
    expect(err.message).toMatch(/axes\.bad name: expected an environment variable name/);
    expect(err.message).toMatch(/timeout: expected a duration such as "120s"/);
    expect(err.message).toMatch(/unknown field "repetitons" \(did you mean "repetitions"\?\)/);
    expect(err.stack === undefined || !err.message.includes('    at ')).toBe(true);
  });

  test('nested paths use dots and [index]', () => {
    expect(() =>
      validateScenario(
        {
          name: 'n',
          agent: { command: ['x'] },
          axes: { TZ: ['UTC', 'Asia/Tokyo'] },
          expect: [{ path: 'system', axis: 'LANG' }],
          design: { cells: [{ TZ: 'Mars' }] },
        },
        'mem.yaml',
      ),
    ).toThrow(/mem\.yaml: invalid scenario\n(.|\n)*expect\[0\]\.axis: "LANG" is not an axis(.|\n)*design\.cells\[0\]\.TZ: "Mars" is not one of the values/);
    expect(() => validateScenario({ name: 'n', agent: { command: [] } }, 'f')).toThrow(/agent/);
    expect(() => validateScenario({ name: 'n', agent: { command: ['x'] }, route: 'reverse', proxy_urls: ['http://p'] }, 'f')).toThrow(
      /proxy_urls: only applies to route: forward/,
    );
    expect(() => validateScenario({ name: 'n', agent: { command: ['x'] }, proxy_urls: ['socks://p'] }, 'f')).toThrow(
      /proxy_urls\[0\]: expected an http/,
    );
  });

  test('a misspelt nested key gets the same did-you-mean as a top-level one, from its own object', () => {
    const message = (data: Record<string, unknown>) => {
      try {
        validateScenario({ name: 'n', axes: { TZ: ['UTC', 'Asia/Tokyo'] }, ...data }, 'f.yaml');
      } catch (err) {
        return (err as Error).message;
      }
      return '';
    };
    // agent is a union ({command} or {preset}): zod gives up on both branches with one generic message.
    expect(message({ agent: { comand: ['node', 'a.js'] } })).toContain('  agent: unknown field "comand" (did you mean "command"?)');
    expect(message({ agent: { preset: 'claude-code', verison: '2.1.91' } })).toContain('  agent: unknown field "verison" (did you mean "version"?)');
    expect(message({ agent: { command: ['x'] }, env: { alow: ['X'] } })).toContain('  env: unknown field "alow" (did you mean "allow"?)');
    expect(message({ agent: { command: ['x'] }, expect: [{ pth: 'body', axis: 'TZ' }] })).toContain('  expect[0]: unknown field "pth" (did you mean "path"?)');
    // Matched against the object's own keys: "nmae" inside env is not "name" (a top-level key).
    expect(message({ agent: { command: ['x'] }, env: { nmae: 'x' } })).toMatch(/ {2}env: unknown field "nmae"$/m);
    expect(message({ agent: { command: ['x'] }, env: { nmae: 'x' } })).not.toContain('did you mean');
  });

  test('syntax errors give a line and column', async () => {
    const file = await write('syntax.yaml', 'name: x\naxes: [unclosed\n');
    const err = await loadError(file);
    expect(err.message).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: not valid YAML`));
  });

  test('a missing file says so', async () => {
    const err = await loadError(path.join(dir, 'missing.yaml'));
    expect(err.message).toMatch(/missing\.yaml: cannot read scenario file \(ENOENT\)/);
  });
});
