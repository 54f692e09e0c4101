import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { AGENT_PRESETS } from '../src/agents/index.js';
import { bisect, BisectReportSchema, findingAtoms, maxProbes, selectVersions, type BisectResult } from '../src/bisect/index.js';
import { cmdBisect } from '../src/commands/bisect.js';
import { validateScenario } from '../src/scenario/scenario-file.js';
import type { Scenario } from '../src/scenario/schema.js';
import { canaryPreset, packReleases, startRegistry, type FakeRegistry, type Release } from './fixtures/bisect/canary-releases.js';
import { tmp } from './helpers/clients.js';

/*
 * Offline bisect over a local set of canary "releases" 1.0.0 … 1.0.9 (plus a prerelease), served by
 * a fake npm registry on 127.0.0.1 and installed by the real installer through npm. Every release
 * plants a zero-width space when TZ is in Asia; from 1.0.6 on it also swaps Latin a for Cyrillic а.
 */

const STABLE = Array.from({ length: 10 }, (_, i) => `1.0.${i}`);
const PLANTED_FROM = 6;
const releases: Release[] = [
  ...STABLE.map((version, i) => ({ version, plants: ['zwsp:tz=^Asia/', ...(i >= PLANTED_FROM ? ['homoglyph:tz=^Asia/'] : [])] })),
  // A prerelease with the change already in it: left out unless asked for.
  { version: '1.0.6-beta.1', plants: ['zwsp:tz=^Asia/', 'homoglyph:tz=^Asia/'] },
];

let dir: string;
let registry: FakeRegistry;
let scenario: Scenario;
let scenarioFile: string;
let first: BisectResult;
const saved: Record<string, string | undefined> = {};

function setEnv(name: string, value: string): void {
  if (!(name in saved)) saved[name] = process.env[name];
  process.env[name] = value;
}

beforeAll(async () => {
  dir = await tmp('bisect');
  const packed = await packReleases(dir, releases);
  registry = await startRegistry(packed);
  // Both `npm view` and `npm install` (run by the installer) ask this registry, with a fresh npm cache.
  setEnv('npm_config_registry', registry.url);
  setEnv('npm_config_cache', path.join(dir, 'npm-cache'));
  setEnv('PROMPTDIFF_AGENT_CACHE', path.join(dir, 'agents'));
  AGENT_PRESETS[canaryPreset.name] = canaryPreset;
  const data = {
    name: 'bisect-canary',
    agent: { preset: canaryPreset.name, args: ['Say hi.'] },
    route: 'forward',
    axes: { TZ: ['UTC', 'Asia/Shanghai'] },
    repetitions: 2,
    clock: '2026-07-01T12:00:00Z',
    timeout: '20s',
    jobs: 4,
  };
  scenario = validateScenario(data, 'bisect test');
  scenarioFile = path.join(dir, 'scenario.json');
  await writeFile(scenarioFile, JSON.stringify(data));
}, 60_000);

afterAll(async () => {
  delete AGENT_PRESETS[canaryPreset.name];
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await registry?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('version selection', () => {
  test('stable releases between the endpoints, oldest first; prereleases on request', () => {
    const all = ['1.0.10', '1.0.2', '1.0.9', '1.1.0-rc.1', '1.0.0', '1.1.0', '0.9.0', 'nonsense'];
    expect(selectVersions(all, '1.0.2', '1.1.0')).toEqual(['1.0.2', '1.0.9', '1.0.10', '1.1.0']);
    expect(selectVersions(all, '1.0.2', '1.1.0', true)).toEqual(['1.0.2', '1.0.9', '1.0.10', '1.1.0-rc.1', '1.1.0']);
    // A prerelease endpoint is kept even without --include-prereleases.
    expect(selectVersions(all, '1.0.9', '1.1.0-rc.1')).toEqual(['1.0.9', '1.0.10', '1.1.0-rc.1']);
  });

  test('binary search needs both ends plus ⌈log2(n−1)⌉ probes', () => {
    expect(maxProbes(2)).toBe(2);
    expect(maxProbes(10)).toBe(6);
    expect(maxProbes(33)).toBe(7);
    expect(maxProbes(10, true)).toBe(10);
  });
});

describe('bisect over local canary releases', () => {
  test('finds 1.0.6 and the planted confusable in ≤ ⌈log2 n⌉+2 probes', async () => {
    const lines: string[] = [];
    const t0 = performance.now();
    first = await bisect({ scenario, baseDir: dir, from: '1.0.0', to: '1.0.9', outDir: path.join(dir, 'out'), log: (l) => lines.push(l) });
    const seconds = (performance.now() - t0) / 1000;
    const { report } = first;
    expect(report.outcome, lines.join('\n')).toBe('found');
    expect(first.exitCode).toBe(0);
    expect(report.versions).toEqual(STABLE);
    expect(report.first).toMatchObject({ version: '1.0.6', predecessor: '1.0.5', disappeared: [] });
    // The homoglyph sits next to the old zero-width space, so the differ reports one merged span
    // (class invisible) in 1.0.6; the fingerprint still sees the zero-width space as old and only
    // the a → а edit as new.
    expect(report.first!.appeared).toHaveLength(1);
    const appeared = report.first!.appeared[0]!;
    expect(appeared).toMatchObject({ class: 'confusable', path: 'body.system', axes: ['TZ'], values: { TZ: ['Asia/Shanghai'] } });
    expect(appeared.removed.map((c) => c.cp)).toEqual(['U+0061']);
    expect(appeared.added).toEqual([{ cp: 'U+0430', char: '\u0430', name: 'CYRILLIC SMALL LETTER A' }]);
    const carrier = first.probes.get('1.0.6')!.findings!.findings.find((f) => f.id === appeared.findingId)!;
    expect(carrier.attribution.groups.find((g) => !g.baseline)!.values).toEqual({ TZ: ['Asia/Shanghai'] });
    expect(report.probes.length).toBeLessThanOrEqual(Math.ceil(Math.log2(STABLE.length)) + 2);
    expect(report.probes.every((p) => p.status === 'ok' && !p.reused && p.ran === 4)).toBe(true);
    // The zero-width space is in every release; from 1.0.6 on the homoglyph adds one atom.
    for (const p of report.probes) expect(p.signatures.length).toBe(Number(p.version.split('.')[2]) >= PLANTED_FROM ? 2 : 1);
    expect(lines.join('\n')).toMatch(/10 released versions \(1 prerelease left out/);
    expect(lines.join('\n')).toMatch(/plan: binary search: at most 6 probes/);
    // bisect.json is the report, valid against its schema; every probe is an ordinary run directory.
    const onDisk = BisectReportSchema.parse(JSON.parse(await readFile(first.file, 'utf8')));
    expect(onDisk.first?.version).toBe('1.0.6');
    for (const p of report.probes) await expect(readFile(path.join(dir, 'out', p.runDir, 'findings.json'), 'utf8')).resolves.toContain('"findings"');
    // Only the probed versions were downloaded.
    const downloaded = registry.requests.filter((r) => r.startsWith('/tarballs/')).map((r) => /(\d+\.\d+\.\d+)\.tgz$/.exec(r)![1]).sort();
    expect(downloaded).toEqual(report.probes.map((p) => p.version).sort());
    console.log(`bisect: ${report.probes.length} probes (${report.probes.map((p) => p.version).join(', ')}) in ${seconds.toFixed(1)} s`);
  }, 90_000);

  test('the same findings from two versions have the same fingerprint despite new ids, sessions and offsets', () => {
    const a = first.probes.get('1.0.0')!.fp!;
    const b = first.probes.get('1.0.5')!.fp!;
    expect(a.signatures).toEqual(b.signatures);
    const f = first.probes.get('1.0.0')!.findings!.findings[0]!;
    const keys = (x: typeof f) => findingAtoms(x).map((a) => a.key);
    const shifted = {
      ...f,
      id: 'f-other',
      location: { ...f.location, path: `${f.location.path}[3].text`, exchange: 'x', model: 'other-model', ordinal: 2 },
      span: f.span && { ...f.span, offset: f.span.offset + 40, cpOffset: f.span.cpOffset + 40 },
    };
    const indexed = { ...f, location: { ...f.location, path: `${f.location.path}[0].text` } };
    expect(keys(shifted)).toEqual(keys(indexed));
    const otherTz = { ...f, attribution: { ...f.attribution, groups: f.attribution.groups.map((g) => (g.baseline ? g : { ...g, values: { TZ: ['Asia/Tokyo'] } })) } };
    expect(keys(otherTz)).not.toEqual(keys(f));
  });

  test('a rerun with the same OUT reuses every probe; --linear with prereleases over a subrange runs only the new versions', async () => {
    const again = await bisect({ scenario, baseDir: dir, from: '1.0.0', to: '1.0.9', outDir: path.join(dir, 'out') });
    expect(again.report.first?.version).toBe('1.0.6');
    expect(again.report.probes.every((p) => p.reused && p.ran === 0)).toBe(true);
    expect(again.report.outcome).toBe('found');

    const linear = await bisect({ scenario, baseDir: dir, from: '1.0.4', to: '1.0.7', linear: true, includePrereleases: true, outDir: path.join(dir, 'out') });
    expect(linear.report.probes.map((p) => [p.version, p.reused])).toEqual([
      ['1.0.4', true],
      ['1.0.5', true],
      ['1.0.6-beta.1', false],
      ['1.0.6', true],
      ['1.0.7', false],
    ]);
    // The prerelease already had the change: with prereleases it is the first differing version.
    expect(linear.report.transitions?.map((t) => `${t.predecessor}→${t.version}`)).toEqual(['1.0.5→1.0.6-beta.1']);
    expect(linear.exitCode).toBe(0);
  }, 60_000);

  test('a probe whose runs fail stops the bisect with exit 3, naming the version and its run directory', async () => {
    const broken = { ...scenario, agent: { ...scenario.agent, args: ['--no-such-flag', 'Say hi.'] } } as Scenario;
    const r = await bisect({ scenario: broken, baseDir: dir, from: '1.0.0', to: '1.0.9', outDir: path.join(dir, 'broken') });
    expect(r.exitCode).toBe(3);
    expect(r.report.outcome).toBe('probe-failed');
    expect(r.report.probes).toHaveLength(1);
    expect(r.report.probes[0]).toMatchObject({ version: '1.0.0', status: 'failed', fingerprint: null });
    expect(r.report.probes[0]!.message).toMatch(/^4 of 4 runs did not finish ok \(see .*broken\/1\.0\.0\/manifest\.json; the same bisect command resumes it\); c001-r1 no-traffic: .*unknown argument --no-such-flag/s);
  }, 60_000);

  test('the command: no difference between two versions is exit 1; input errors are exit 2 material', async () => {
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out.push(String(chunk));
      return true;
    });
    let code: number;
    try {
      code = await cmdBisect([scenarioFile, '--from', '1.0.6', '--to', 'latest', '--out', path.join(dir, 'out'), '--quiet']);
    } finally {
      spy.mockRestore();
    }
    const text = out.join('');
    expect(code, text).toBe(1);
    expect(text).toMatch(/1\.0\.6 … 1\.0\.9: 4 released versions/);
    expect(text).toMatch(/no difference: 1\.0\.6 and 1\.0\.9 have the same findings/);
    expect(text).toMatch(/--linear probes every version/);

    out.length = 0;
    const spy2 = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out.push(String(chunk));
      return true;
    });
    try {
      code = await cmdBisect([scenarioFile, '--from', '1.0.4', '--to', '1.0.6', '--out', path.join(dir, 'out'), '--quiet']);
    } finally {
      spy2.mockRestore();
    }
    const found = out.join('');
    console.log(found);
    expect(code, found).toBe(0);
    expect(found).toMatch(/first version whose findings differ from its predecessor's: 1\.0\.6 \(predecessor 1\.0\.5\)/);
    // The old zero-width space and the new homoglyph share one finding in 1.0.6: it is "changed" (~), and the new edit is named.
    expect(found).toMatch(/~ 1\.0\.6: invisible +body\.system@\d+ /);
    expect(found).toMatch(/ +new confusable: U\+0061 LATIN SMALL LETTER A → U\+0430 CYRILLIC SMALL LETTER A +when TZ ∈ \{Asia\/Shanghai\}/);
    expect(found).toMatch(/probe 1\/≤3 +1\.0\.4 +1 finding \[[0-9a-f]{12}\] \(reused\)/);

    await expect(bisect({ scenario, baseDir: dir, from: '1.0.0', to: '1.0.42', outDir: path.join(dir, 'x') })).rejects.toThrow(
      /--to 1\.0\.42: @promptdiff-test\/canary@1\.0\.42 is not a published version \(nearest published: .*1\.0\.9/,
    );
    await expect(bisect({ scenario, baseDir: dir, from: '1.0.9', to: '1.0.2', outDir: path.join(dir, 'x') })).rejects.toThrow(/must be older than/);
    const plain = validateScenario({ name: 'plain', agent: { command: ['node', 'x.mjs'] } }, 't');
    await expect(bisect({ scenario: plain, baseDir: dir, from: '1.0.0', outDir: path.join(dir, 'x') })).rejects.toThrow(/needs an agent preset/);
    await expect(bisect({ scenario, baseDir: dir, agent: 'nope', from: '1.0.0', outDir: path.join(dir, 'x') })).rejects.toThrow(/--agent: unknown agent preset "nope"/);
    await expect(cmdBisect([scenarioFile])).rejects.toThrow(/--from VERSION is required/);
  }, 60_000);
});
