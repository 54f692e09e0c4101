import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { diffRunDir, writeFindings, type Finding, type Findings } from '../src/diff/index.js';
import { runExplain, type ExplainResult } from '../src/explain/index.js';
import { ExplainSchema } from '../src/explain/schema.js';
import { detectNamespaces } from '../src/scenario/isolate.js';
import { validateScenario } from '../src/scenario/scenario-file.js';
import { detectMachineSupport } from '../src/scenario/machine.js';
import { silentProgress } from '../src/scenario/progress.js';
import { runScenario } from '../src/scenario/runner.js';
import { runCli } from './helpers/cli.js';

/**
 * promptdiff explain on the canary, whose rules are known because we planted them: one plant per
 * kind of rule, each in its own sentence (slot N), and explain must recover each rule exactly.
 */
const CANARY = path.resolve('agents/canary/index.mjs');
const PLANTS = [
  'apostrophe@1:base=deepseek', // substring
  'homoglyph@2:base=\\.cn$', // domain suffix
  'zwsp@3:base=moonshot&base=\\.cn$', // a conjunction of two conditions on one value
  'date-format@4:systz=^(Asia/Urumqi|Asia/Kashgar)$', // an exact list
  'apostrophe@5:env.CANARY_MAX_TOKENS>=32000', // a numeric threshold
];
/** A narrow zone corpus (the whole tzdata is the benchmark's): the list, its neighbours, look-alikes. */
const ZONES = ['Asia/Urumqi', 'Asia/Kashgar', 'Asia/Shanghai', 'Asia/Chongqing', 'PRC', 'Asia/Almaty', 'Asia/Omsk', 'Etc/GMT-6', 'Asia/Tokyo', 'Etc/UTC'];

const ns = await detectNamespaces();
const support = await detectMachineSupport(ns, 'forward');
const full = ns.available && support.etcView !== null && support.uts;

let base: string;
let runDir: string;
let findings: Findings;
const bySlot = new Map<number, Finding>();

function slotOf(f: Finding): number | null {
  const g = f.attribution.groups.find((x) => x.baseline)!;
  const m = /Rule (\d\d) \(since [^\n]*$/.exec(findings.texts[g.textRef!]!.slice(0, g.offset));
  return m ? Number(m[1]) : null;
}

function scenario(command: string[]) {
  return validateScenario(
    {
      name: 'canary-explain',
      agent: { command },
      route: 'forward',
      repetitions: 2,
      timeout: '30s',
      axes: { CANARY_MAX_TOKENS: ['4096', '65536'] },
      factors: { 'network.base-url': ['first-party', 'deepseek', 'relay-cn', 'moonshot'], 'system.timezone': ['Etc/UTC', 'Asia/Urumqi'] },
      design: 'one-at-a-time',
    },
    'canary-explain.yaml',
  );
}

describe.skipIf(!full)('promptdiff explain on the canary: each planted rule comes back exactly', () => {
  const explained = new Map<number, ExplainResult>();
  beforeAll(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'pd-explain-'));
    runDir = path.join(base, 'run');
    const command = ['node', CANARY, '--task', 'Say hi.', ...PLANTS.flatMap((p) => ['--plant', p])];
    await runScenario({ scenario: scenario(command), outDir: runDir, progress: silentProgress });
    findings = await diffRunDir(runDir);
    await writeFindings(runDir, findings);
    for (const f of findings.findings) {
      const slot = slotOf(f);
      if (slot !== null) bySlot.set(slot, f);
    }
    // Independent findings, independent explain directories: explained side by side.
    await Promise.all(
      [1, 2, 3, 4, 5].map(async (slot) => {
        explained.set(slot, await runExplain({ runDir, finding: bySlot.get(slot)!.id, zones: ZONES, progress: () => silentProgress }));
      }),
    );
  }, 600_000);
  afterAll(async () => {
    if (base) await rm(base, { recursive: true, force: true });
  });

  const conditions = (slot: number) => explained.get(slot)!.explain.variants.map((v) => v.conditions);

  test('substring: the base URL host contains deepseek, anywhere, in any case', () => {
    const e = explained.get(1)!.explain;
    expect(e.axis).toBe('network.base-url');
    expect(e.variants).toHaveLength(1);
    expect(e.variants[0]!.codePoints).toEqual([{ cp: 'U+2019', name: 'RIGHT SINGLE QUOTATION MARK' }]);
    expect(e.variants[0]!.minimal).toEqual(['https://deepseek']);
    expect(conditions(1)).toEqual([[{ field: 'host', relation: 'contains', value: 'deepseek', caseInsensitive: true }]]);
    expect(e.variants[0]!.rule).toMatch(/^base URL host contains `deepseek` \(any position, case-insensitive\)/);
  });

  test('suffix: the host ends in .cn (a bare cn does not: the regex wants the dot)', () => {
    expect(conditions(2)).toEqual([[{ field: 'host', relation: 'domain-suffix', value: 'cn', caseInsensitive: true }]]);
    expect(explained.get(2)!.explain.variants[0]!.rule).toMatch(/^base URL host ends with `\.cn`/);
  });

  test('conjunction: moonshot and .cn, both needed, as two conditions', () => {
    const e = explained.get(3)!.explain;
    expect(e.variants[0]!.minimal).toEqual(['https://moonshot.cn']);
    expect(conditions(3)).toEqual([
      [
        { field: 'host', relation: 'contains', value: 'moonshot', caseInsensitive: true },
        { field: 'host', relation: 'domain-suffix', value: 'cn', caseInsensitive: true },
      ],
    ]);
  });

  test('exact list: the two zones, out of every zone tried', () => {
    const e = explained.get(4)!.explain;
    expect(e.axis).toBe('system.timezone');
    expect(e.variants[0]!.minimal).toEqual(['Asia/Kashgar', 'Asia/Urumqi']);
    expect(conditions(4)).toEqual([[{ field: 'time zone', relation: 'one-of', value: 'Asia/Kashgar, Asia/Urumqi', values: ['Asia/Kashgar', 'Asia/Urumqi'] }]]);
    expect(e.variants[0]!.rule).toBe(`time zone ∈ {Asia/Kashgar, Asia/Urumqi} (2 of ${ZONES.length} tried)`);
    // Every zone of the corpus was tried, each with its outcome.
    expect(new Set(e.variants[0]!.probes.map((p) => p.value))).toEqual(new Set(ZONES));
  });

  test('numeric threshold: CANARY_MAX_TOKENS ≥ 32000, found between the baseline and the witness', () => {
    const e = explained.get(5)!.explain;
    expect(e.axis).toBe('CANARY_MAX_TOKENS');
    expect(conditions(5)).toEqual([[{ field: 'value', relation: 'at-least', value: '32000' }]]);
    expect(e.variants[0]!.rule).toMatch(/^CANARY_MAX_TOKENS ≥ 32000 \(numeric: 31999 gives the baseline, 32000 the variant\)/);
  });

  test('within the run target, every probe judged, explain.json on disk matches', async () => {
    for (const [slot, r] of explained) {
      expect(r.explain.status, `slot ${slot}`).toBe('complete');
      for (const v of r.explain.variants) {
        expect(v.runs, `slot ${slot}`).toBeLessThanOrEqual(100);
        expect(v.probes.every((p) => p.status === 'ok'), `slot ${slot}`).toBe(true);
      }
      const onDisk = ExplainSchema.parse(JSON.parse(await readFile(path.join(r.dir, 'explain.json'), 'utf8')));
      expect(onDisk.variants.map((v) => v.rule)).toEqual(r.explain.variants.map((v) => v.rule));
      expect(r.dir).toBe(path.join(runDir, 'explain', r.finding.id));
    }
  });

  test('the CLI: --json again answers from the probes already run; report shows the rules', async () => {
    const id = bySlot.get(1)!.id;
    const before = explained.get(1)!.explain.runsTotal;
    const again = await runCli(['explain', runDir, '--finding', id, '--json'], {}, 120_000);
    expect(again.code, again.stderr).toBe(0);
    const e = ExplainSchema.parse(JSON.parse(again.stdout));
    expect(e.runsTotal).toBe(before);
    expect(e.variants[0]!.rule).toBe(explained.get(1)!.explain.variants[0]!.rule);
    const report = await runCli(['report', runDir]);
    expect(report.stdout).toMatch(/\n {4}explained \(network\.base-url\): U\+2019 RIGHT SINGLE QUOTATION MARK when base URL host contains `deepseek`/);
    expect(report.stdout).toMatch(/explained \(CANARY_MAX_TOKENS\): .* when CANARY_MAX_TOKENS ≥ 32000/);
    const html = await readFile(path.join(runDir, 'report.html'), 'utf8');
    expect(html).toContain(`id="explained-${id}"`);
    expect(html).toMatch(/<table class="probes">/);
  });

  test('bad input: one line, exit 2', async () => {
    const unknown = await runCli(['explain', runDir, '--finding', 'f-0000000000']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^promptdiff: --finding f-0000000000: no such finding in .*findings\.json \(its findings: f-/);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    const wrongAxis = await runCli(['explain', runDir, '--finding', bySlot.get(1)!.id, '--axis', 'system.timezone']);
    expect(wrongAxis.code).toBe(2);
    expect(wrongAxis.stderr).toMatch(/--axis system\.timezone: finding f-\w+ does not depend on it \(it depends on network\.base-url\)/);
    const noFinding = await runCli(['explain', runDir]);
    expect(noFinding.code).toBe(2);
    expect(noFinding.stderr).toMatch(/--finding ID is required/);
  });

  test('a presence finding is refused, naming why', async () => {
    // A findings file whose first finding is a request sent only in some cells.
    const f = structuredClone(findings);
    const first = f.findings[0]!;
    f.findings[0] = { ...first, class: 'request-presence', span: null, location: { ...first.location, path: 'request' } };
    const dir = await mkdtemp(path.join(base, 'p-'));
    await copyFile(path.join(runDir, 'manifest.json'), path.join(dir, 'manifest.json'));
    await writeFile(path.join(dir, 'findings.json'), JSON.stringify(f));
    const r = await runCli(['explain', dir, '--finding', first.id]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is a request-presence finding \(a request sent only in some cells\): explain needs changed bytes/);
  });

  test('secret values written down only as tags: refused without the scenario file, explained with it', async () => {
    const file = path.join(base, 'secret.yaml');
    const input = {
      name: 'canary-secret',
      agent: { command: ['node', CANARY, '--task', 'Say hi.', '--plant', PLANTS[0]!] },
      route: 'forward',
      repetitions: 2,
      timeout: '30s',
      factors: { 'network.base-url': ['first-party', 'deepseek'] },
      env: { set: { ANTHROPIC_API_KEY: 'sk-ant-explain-test-secret-0123456789' } },
    };
    await writeFile(file, JSON.stringify(input));
    const dir = path.join(base, 'secret');
    await runScenario({ scenarioPath: file, outDir: dir, progress: silentProgress });
    expect(await readFile(path.join(dir, 'manifest.json'), 'utf8')).not.toContain('0123456789');
    const f = await diffRunDir(dir);
    await writeFindings(dir, f);
    const id = f.findings.find((x) => x.class === 'confusable')!.id;
    const refused = await runCli(['explain', dir, '--finding', id]);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim()).toMatch(/the run's secret values were not written down \(env\.set\.ANTHROPIC_API_KEY\): give its scenario file with --scenario FILE$/);
    const r = await runExplain({ runDir: dir, finding: id, scenarioPath: file, corpus: false, progress: () => silentProgress });
    expect(r.explain.variants[0]!.conditions).toEqual([{ field: 'host', relation: 'contains', value: 'deepseek', caseInsensitive: true }]);
    // The probes' directory is written without the secret, as the run's was.
    expect(await readFile(path.join(r.dir, 'manifest.json'), 'utf8')).not.toContain('0123456789');
  }, 120_000);

  test('an agent that can no longer be run or installed is refused before any probe', async () => {
    // The canary copied away, a run made with the copy, then the copy removed.
    const script = path.join(base, 'gone-canary.mjs');
    await copyFile(CANARY, script);
    const dir = path.join(base, 'gone');
    const s = { ...scenario(['node', script, '--task', 'Say hi.', '--plant', PLANTS[0]!]), factors: { 'network.base-url': ['first-party', 'deepseek'] }, axes: {} };
    await runScenario({ scenario: s, outDir: dir, progress: silentProgress });
    const f = await diffRunDir(dir);
    await writeFindings(dir, f);
    await rm(script);
    const id = f.findings.find((x) => x.class === 'confusable')!.id;
    const r = await runCli(['explain', dir, '--finding', id]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`promptdiff: ${dir}: its agent can no longer be run: ${script} no longer exists`);
    // A preset whose release npm no longer has: the install fails, explain says so in one line.
    const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8'));
    manifest.scenario.agent = { preset: 'claude-code', version: '0.0.0-gone', args: ['Say hi.'] };
    manifest.agent = { ...manifest.agent, preset: 'claude-code', version: '0.0.0-gone' };
    await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
    const fakeNpm = path.join(base, 'npm');
    await writeFile(fakeNpm, '#!/bin/sh\necho "npm error code E404" >&2\necho "npm error 404 No match found for version 0.0.0-gone" >&2\nexit 1\n', { mode: 0o755 });
    await expect(runExplain({ runDir: dir, finding: id, agentInstall: { cacheRoot: path.join(base, 'cache'), npm: fakeNpm } })).rejects.toThrow(
      /its agent claude-code@0\.0\.0-gone can no longer be installed \(/,
    );
  }, 120_000);
});
