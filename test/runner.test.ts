import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, test } from 'vitest';
import { validateScenario } from '../src/scenario/scenario-file.js';
import { silentProgress } from '../src/scenario/progress.js';
import { runScenario } from '../src/scenario/runner.js';
import { formatRunSummary } from '../src/scenario/summary.js';
import type { ScenarioInput } from '../src/scenario/schema.js';
import { startFakeProxy } from './fixtures/scenario/fake-proxy.js';

// Runner mechanics against a fake reverse-route proxy; test/runner-e2e.test.ts uses the real one.
const here = path.dirname(fileURLToPath(import.meta.url));
const tinyAgent = path.join(here, 'fixtures', 'scenario', 'tiny-agent.mjs');
const canary = path.join(here, '..', 'agents', 'canary', 'index.mjs');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pd-runner-'));
});

const scenario = (extra: Partial<ScenarioInput>) =>
  validateScenario({ name: 'runner-test', agent: { command: ['node', tinyAgent] }, route: 'reverse', ...extra }, 'test');

/** Running, not merely a zombie waiting for a reaper (containers often have none). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

interface Line {
  run: string;
  request: { body: string; url: string; headers: Record<string, string> };
}
async function lines(runDir: string): Promise<Line[]> {
  const text = await readFile(path.join(runDir, 'exchanges.jsonl'), 'utf8');
  return text.trim().split('\n').map((l) => JSON.parse(l) as Line);
}

describe('runner', () => {
  test('failing, hanging and bypassing agents: statuses, tree killed, exit 3, no hang', async () => {
    const outDir = path.join(dir, 'misbehaving');
    const pidFile = path.join(dir, 'hang.pid');
    const started = Date.now();
    const result = await runScenario({
      scenario: scenario({
        axes: { MODE: ['ok', 'fail', 'hang', 'bypass'] },
        repetitions: 1,
        timeout: '5s', // generous: a loaded 2-core CI machine can take seconds to start node
        jobs: 4,
        env: { set: { PD_PIDFILE: pidFile } },
      }),
      outDir,
      progress: silentProgress,
      startProxy: startFakeProxy,
    });
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(result.exitCode).toBe(3);
    const byMode = Object.fromEntries(
      result.manifest.runs.map((r) => [result.manifest.cells.find((c) => c.id === r.cell)!.values.MODE, r]),
    );
    expect(byMode.ok).toMatchObject({ status: 'ok', exitCode: 0, exchanges: 1 });
    expect(byMode.fail).toMatchObject({ status: 'failed', exitCode: 1, exchanges: 1 });
    expect(byMode.fail!.message).toContain('something went wrong after the first request');
    expect(byMode.hang!.status).toBe('timeout');
    expect(byMode.hang!.message).toContain('waiting forever');
    expect(byMode.bypass).toMatchObject({ status: 'no-traffic', exitCode: 1, exchanges: 0 });
    expect(byMode.bypass!.message).toMatch(/agent sent no traffic through the proxy \(exit code 1\): does the agent read ANTHROPIC_BASE_URL/);
    expect(byMode.bypass!.message).toContain('went direct, ignoring the proxy');
    // The grandchild of the hanging agent went down with its process group.
    const pid = Number(await readFile(pidFile, 'utf8'));
    await new Promise((r) => setTimeout(r, 200));
    expect(alive(pid)).toBe(false);
    // Each run keeps its output; the manifest on disk is the one returned.
    const onDisk = JSON.parse(await readFile(path.join(outDir, 'manifest.json'), 'utf8'));
    expect(onDisk.runs).toEqual(result.manifest.runs);
    expect(await readFile(path.join(outDir, 'runs', byMode.ok!.id, 'stdout.txt'), 'utf8')).toContain('200');
    expect(existsSync(path.join(outDir, 'unattributed'))).toBe(false);
    const summary = formatRunSummary(result);
    expect(summary).toMatch(/^4 runs in 4 cells: .*1 ok.*1 failed.*1 timeout.*1 no-traffic/);
    expect(summary).toMatch(/c004-r1 no-traffic \(cell c004: MODE=bypass\)\n    agent sent no traffic/);
    expect(summary).toContain(`promptdiff run --resume ${outDir}`);
    // A second run into the same directory is refused without --resume.
    await expect(runScenario({ scenario: scenario({}), outDir, progress: silentProgress, startProxy: startFakeProxy })).rejects.toThrow(
      /already holds a run .* --resume/,
    );
  });

  test('resume reruns only the runs that did not complete', async () => {
    const outDir = path.join(dir, 'resume');
    const markers = path.join(dir, 'markers');
    await import('node:fs/promises').then((fs) => fs.mkdir(markers));
    const s = scenario({ axes: { MODE: ['ok', 'flaky'] }, repetitions: 1, env: { set: { PD_MARKERS: markers } } });
    const first = await runScenario({ scenario: s, outDir, progress: silentProgress, startProxy: startFakeProxy });
    expect(first.exitCode).toBe(3);
    expect(first.manifest.runs.map((r) => r.status)).toEqual(['ok', 'no-traffic']);
    const okStartedAt = first.manifest.runs[0]!.startedAt;
    // Resume needs only the run directory: the manifest holds the resolved scenario.
    const second = await runScenario({ outDir, resume: true, progress: silentProgress, startProxy: startFakeProxy });
    expect(second.ran).toEqual(['c002-r1']);
    expect(second.exitCode).toBe(0);
    expect(second.manifest.runs.map((r) => r.status)).toEqual(['ok', 'ok']);
    expect(second.manifest.runs[0]!.startedAt).toBe(okStartedAt);
    const stored = JSON.parse(await readFile(path.join(outDir, 'manifest.json'), 'utf8'));
    expect(stored.runs.map((r: { status: string }) => r.status)).toEqual(['ok', 'ok']);
    // A different scenario cannot be resumed into the same directory.
    await expect(
      runScenario({ scenario: scenario({ axes: { MODE: ['ok'] } }), outDir, resume: true, progress: silentProgress, startProxy: startFakeProxy }),
    ).rejects.toThrow(/scenario changed/);
  });

  test('an agent killed under a pinned clock without namespaces leaves no libfaketime segment on the host\'s /dev/shm', async () => {
    const shm = () => (existsSync('/dev/shm') ? readdirSync('/dev/shm').filter((n) => n.includes('faketime')) : []);
    const before = new Set(shm());
    process.env.PROMPTDIFF_NO_NAMESPACES = '1';
    try {
      const result = await runScenario({
        // Killed at its timeout: libfaketime's exit handler, which removes the segment, never runs.
        scenario: validateScenario({ name: 'killed', agent: { command: ['node', '-e', 'setInterval(() => {}, 1000)'] }, route: 'reverse', clock: '2026-07-01T12:00:00Z', timeout: '1s', repetitions: 1 }, 'test'),
        outDir: path.join(dir, 'killed-shm'),
        progress: silentProgress,
        startProxy: startFakeProxy,
      });
      expect(result.manifest.runs.map((r) => r.status)).toEqual(['timeout']);
      if (result.manifest.isolation!.clock.pinned) expect(shm().filter((n) => !before.has(n))).toEqual([]);
    } finally {
      delete process.env.PROMPTDIFF_NO_NAMESPACES;
    }
  }, 30_000);

  test.each([
    ['namespaces', false],
    ['fallback without namespaces', true],
  ])('isolation (%s): same paths, scrubbed env, pinned clock, workspace copied, per-run attribution', async (label, disable) => {
    const outDir = path.join(dir, `isolation-${disable}`);
    const workspace = path.join(dir, `workspace-${disable}`);
    await import('node:fs/promises').then((fs) => fs.mkdir(workspace));
    if (disable) process.env.PROMPTDIFF_NO_NAMESPACES = '1';
    const shm = () => (existsSync('/dev/shm') ? readdirSync('/dev/shm').filter((n) => n.includes('faketime')) : []);
    const shmBefore = new Set(shm());
    await writeFile(path.join(workspace, 'README.md'), 'fixture\n');
    process.env.PD_CALLER_SECRET = 'must-not-leak';
    const result = await runScenario({
      scenario: scenario({
        axes: { MODE: ['env'], TZ: ['UTC', 'Asia/Shanghai'], LANG: ['en_US.UTF-8', 'zh_CN.UTF-8'] },
        repetitions: 2,
        clock: '2026-07-01T12:00:00Z',
        workspace,
        jobs: 2,
      }),
      outDir,
      progress: silentProgress,
      startProxy: startFakeProxy,
    });
    delete process.env.PD_CALLER_SECRET;
    delete process.env.PROMPTDIFF_NO_NAMESPACES;
    expect(result.exitCode).toBe(0);
    expect(result.manifest.isolation!.namespaces).toBe(!disable);
    // libfaketime's segments (one per agent under the pinned clock) stay in the run's own /dev/shm,
    // or are removed after it without namespaces: nothing is left on the host's.
    if (result.manifest.isolation!.clock.pinned) expect(shm().filter((n) => !shmBefore.has(n))).toEqual([]);
    if (disable) expect(result.warnings.join('\n')).toMatch(/expect path noise/);
    expect(result.manifest.runs).toHaveLength(8);
    const namespaces = result.manifest.isolation!.namespaces;
    const seen = new Set<string>();
    for (const run of result.manifest.runs) {
      const [line, ...more] = await lines(path.join(outDir, 'runs', run.id));
      expect(more).toHaveLength(0);
      expect(line!.run).toBe(run.id);
      const meta = (JSON.parse(line!.request.body) as { metadata: { env: Record<string, string>; cwd: string; files: string[]; now: string } }).metadata;
      expect(meta.env.PD_CALLER_SECRET).toBeUndefined();
      expect(Object.keys(meta.env).filter((k) => !/^(PATH|HOME|USER|LOGNAME|SHELL|PWD|TMPDIR|XDG_\w+|LANG|TZ|MODE|ANTHROPIC_BASE_URL|LD_PRELOAD|FAKETIME\w*|DONT_FAKE_MONOTONIC|_|SHLVL|OLDPWD)$/.test(k))).toEqual([]);
      const cell = result.manifest.cells.find((c) => c.id === run.cell)!;
      expect(meta.env.TZ).toBe(cell.values.TZ);
      expect(meta.env.LANG).toBe(cell.values.LANG);
      if (result.manifest.isolation!.clock.pinned) expect(meta.now).toMatch(/Jul 01 2026/);
      expect(meta.files).toEqual(['README.md']);
      seen.add(`${meta.cwd} ${meta.env.HOME}`);
    }
    if (namespaces) {
      expect([...seen]).toEqual(['/tmp/promptdiff-sandbox/work /tmp/promptdiff-sandbox/home']);
    } else {
      expect(seen.size).toBe(8);
    }
  });

  test('the canary in reverse route through a base-URL hostname mapped by the hosts file', async () => {
    const outDir = path.join(dir, 'canary-reverse');
    const result = await runScenario({
      scenario: validateScenario(
        {
          name: 'canary-reverse',
          agent: { command: ['node', canary, '--task', 'hi', '--plant', 'zwsp:base=\\.cn$'] },
          route: 'reverse',
          axes: { ANTHROPIC_BASE_URL: ['https://api.anthropic.com', 'https://llm-gateway.example.cn'] },
          repetitions: 1,
        },
        'test',
      ),
      outDir,
      progress: silentProgress,
      startProxy: startFakeProxy,
    });
    expect(result.manifest.runs.map((r) => r.message ?? r.status)).toEqual(['ok', 'ok']);
    const [plain, cn] = await Promise.all(result.manifest.runs.map((r) => lines(path.join(outDir, 'runs', r.id))));
    expect(plain).toHaveLength(3);
    expect(cn).toHaveLength(3);
    const host = result.manifest.isolation!.namespaces ? 'llm-gateway.example.cn' : '127.0.0.1';
    expect(result.manifest.runs[1]!.env.ANTHROPIC_BASE_URL).toMatch(new RegExp(`^http://${host.replace(/\./g, '\\.')}:\\d+$`));
    expect(cn![1]!.request.body).toContain('tools\u200B provided');
    expect(plain![1]!.request.body).not.toContain('\u200B');
  });

  test('reverse route without a base URL: an OpenAI-style agent gets OpenAI\'s default host and /v1, not Anthropic\'s', async () => {
    // A base-URL value with no endpoint for the agent's API family leaves it here too (Codex and a
    // DeepSeek value in an audit): it used to become http://api.anthropic.com:PORT with no path.
    const outDir = path.join(dir, 'openai-default');
    const agent = `fetch(process.env.OPENAI_BASE_URL + '/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) }).then((r) => r.text()).then((t) => console.log(t))`;
    const result = await runScenario({
      scenario: validateScenario({ name: 'openai-default', agent: { command: ['node', '-e', agent], base_url_var: 'OPENAI_BASE_URL' }, route: 'reverse', repetitions: 1 }, 'test'),
      outDir,
      progress: silentProgress,
      startProxy: startFakeProxy,
    });
    expect(result.manifest.runs.map((r) => r.message ?? r.status)).toEqual(['ok']);
    const host = result.manifest.isolation!.namespaces ? 'api\\.openai\\.com' : '127\\.0\\.0\\.1';
    expect(result.manifest.runs[0]!.env.OPENAI_BASE_URL).toMatch(new RegExp(`^http://${host}:\\d+/v1$`));
    const [req] = await lines(path.join(outDir, 'runs', result.manifest.runs[0]!.id));
    expect(req!.request.url).toMatch(/\/v1\/chat\/completions$/);
  });

  test('extend: values appended to a factor (a new host gets its hosts entry and definition), probe cells run once', async () => {
    const outDir = path.join(dir, 'extend-values');
    const make = (values: string[], cells: string[]) =>
      validateScenario(
        {
          name: 'extend-values',
          agent: { command: ['node', canary, '--task', 'hi', '--plant', 'zwsp:base=\\.cn$'] },
          route: 'reverse',
          factors: { 'network.base-url': values },
          design: { cells: cells.map((v) => ({ 'network.base-url': v })) },
          repetitions: 2,
        },
        'test',
      );
    const first = await runScenario({ scenario: make(['first-party'], ['first-party']), outDir, progress: silentProgress, startProxy: startFakeProxy });
    expect(first.manifest.runs.map((r) => r.id)).toEqual(['c001-r1', 'c001-r2']);
    const url = 'https://api.example-probe.cn';
    const second = await runScenario({
      scenario: make(['first-party', url], ['first-party', url]),
      outDir,
      resume: true,
      extend: true,
      progress: silentProgress,
      startProxy: startFakeProxy,
      repetitionsOf: (cell) => (cell.values['network.base-url'] === url ? 1 : 2),
    });
    expect(second.ran).toEqual(['c002-r1']);
    expect(second.manifest.runs.map((r) => r.message ?? r.status)).toEqual(['ok', 'ok', 'ok']);
    expect(Object.keys(second.manifest.factors!['network.base-url']!.values)).toContain(url);
    const body = (await lines(path.join(outDir, 'runs', 'c002-r1')))![1]!.request.body;
    expect(body).toContain('tools\u200B provided');
    // Anything else changed is still refused, and so is a value list that is not the old one extended.
    await expect(
      runScenario({ scenario: make([url, 'first-party'], ['first-party', url]), outDir, resume: true, extend: true, progress: silentProgress, startProxy: startFakeProxy }),
    ).rejects.toThrow(/can only extend/);
  });
});
