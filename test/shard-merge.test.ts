import { existsSync, statSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { diffRunDir, type Findings } from '../src/diff/index.js';
import { validateScenario } from '../src/scenario/scenario-file.js';
import type { Manifest } from '../src/scenario/manifest.js';
import { mergeShards, readShardFile } from '../src/scenario/shards.js';
import { silentProgress } from '../src/scenario/progress.js';
import { runScenario } from '../src/scenario/runner.js';
import { runCli } from './helpers/cli.js';

// Sharded + merged must diff exactly like unsharded: the canary (planted homoglyph on TZ, header on
// locale) through the real proxy, once whole and once as 3 shards joined by mergeShards.
const here = path.dirname(fileURLToPath(import.meta.url));
const canary = path.join(here, '..', 'agents', 'canary', 'index.mjs');

const scenario = validateScenario(
  {
    name: 'shard-merge',
    agent: { command: ['node', canary, '--task', 'say hi', '--plant', 'homoglyph:tz=^Asia/', '--plant', 'header:locale=^zh'] },
    route: 'forward',
    axes: { TZ: ['UTC', 'Asia/Shanghai'], LANG: ['en_US.UTF-8', 'zh_CN.UTF-8'] },
    repetitions: 2,
    clock: '2026-07-01T12:00:00Z',
    timeout: '30s',
    jobs: 2,
  },
  'shard-merge test',
);

let dir: string;
let certsDir: string;
const shardDir = (k: number) => path.join(dir, `shard-${k}`);
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pd-shard-'));
  certsDir = path.join(dir, 'certs');
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * What must not depend on how the matrix was split: everything the differ says, minus when it ran,
 * where the run directory is, and what differs between any two executions of the same scenario,
 * sharded or not: the full texts of representative runs and the number of masked noise spans (both
 * follow the canary's random session ids: how many spans two random UUIDs differ in is itself
 * random). Which run represents a group, where the changes sit and what they are is still compared.
 */
function comparable(f: Findings): unknown {
  const { generatedAt: _g, runDir: _r, texts: _t, ...rest } = f;
  const out = JSON.parse(
    JSON.stringify(rest, (key, value: unknown) => (key === 'textRef' ? (value === null ? null : 'ref') : value)),
  ) as Omit<Findings, 'generatedAt' | 'runDir' | 'texts'>;
  expect(out.summary.noise.maskedSpans).toBeGreaterThan(0);
  out.summary.noise.maskedSpans = -1;
  out.summary.noise.notes = out.summary.noise.notes.map((n) => n.replace(/^\d+ spans varied/, 'N spans varied'));
  return out;
}

describe('sharded runs and merge', () => {
  let whole: Manifest;
  let merged: Manifest;

  test('3 shards + merge diff exactly like one unsharded run', async () => {
    const unsharded = await runScenario({ scenario, outDir: path.join(dir, 'whole'), certsDir, progress: silentProgress });
    expect(unsharded.exitCode).toBe(0);
    whole = unsharded.manifest;
    expect(whole.runs).toHaveLength(8);

    const owned: string[][] = [];
    for (const k of [1, 2, 3]) {
      const r = await runScenario({ scenario, outDir: shardDir(k), shard: `${k}/3`, certsDir, progress: silentProgress });
      expect(r.exitCode).toBe(0);
      // The slice depends only on the matrix: every 3rd run starting at the k-th.
      const expected = whole.runs.filter((_, i) => i % 3 === k - 1).map((run) => run.id);
      expect(r.ran.sort()).toEqual([...expected].sort());
      const info = await readShardFile(shardDir(k));
      expect(info).toMatchObject({ shard: `${k}/3`, index: k, count: 3, runs: expected });
      // Other shards' runs stay pending, and say whose they are.
      for (const run of r.manifest.runs) {
        if (expected.includes(run.id)) expect(run.status).toBe('ok');
        else expect(run).toMatchObject({ status: 'pending', message: expect.stringMatching(/^left to shard [123]\/3$/) });
      }
      expect(r.warnings.join('\n')).toMatch(new RegExp(`is shard ${k}/3 .*promptdiff merge`));
      owned.push(expected);
    }
    expect(owned.flat().sort()).toEqual(whole.runs.map((r) => r.id).sort());

    // Resuming a shard finishes that shard only; another shard in its directory is refused.
    await expect(runScenario({ outDir: shardDir(1), resume: true, shard: '2/3', certsDir, progress: silentProgress })).rejects.toThrow(
      /holds shard 1\/3, not 2\/3/,
    );
    const resumed = await runScenario({ outDir: shardDir(1), resume: true, certsDir, progress: silentProgress });
    expect(resumed.ran).toEqual([]);
    expect(resumed.manifest.runs.filter((r) => r.status === 'pending')).toHaveLength(8 - owned[0]!.length);

    const outDir = path.join(dir, 'merged');
    const result = await mergeShards({ outDir, dirs: [shardDir(3), shardDir(1), shardDir(2)] });
    expect(result.exitCode).toBe(0);
    expect(result.missing).toEqual([]);
    expect(result.warnings).toEqual([]);
    expect(result.message).toContain(`next: promptdiff diff ${outDir}`);
    merged = result.manifest!;
    // Matrix order, each run's entry exactly as its shard recorded it, captures hard-linked.
    expect(merged.runs.map((r) => r.id)).toEqual(whole.runs.map((r) => r.id));
    expect(merged.cells).toEqual(whole.cells);
    expect(merged.scenario).toEqual(whole.scenario);
    expect(existsSync(path.join(outDir, 'shard.json'))).toBe(false);
    for (const [k, ids] of owned.entries()) {
      const shard = JSON.parse(await readFile(path.join(shardDir(k + 1), 'manifest.json'), 'utf8')) as Manifest;
      for (const id of ids) {
        expect(merged.runs.find((r) => r.id === id)).toEqual(shard.runs.find((r) => r.id === id));
        const from = path.join(shardDir(k + 1), 'runs', id, 'exchanges.jsonl');
        const to = path.join(outDir, 'runs', id, 'exchanges.jsonl');
        expect(await readFile(to, 'utf8')).toBe(await readFile(from, 'utf8'));
        expect(statSync(to).ino).toBe(statSync(from).ino);
      }
    }
    expect(JSON.parse(await readFile(path.join(outDir, 'merge.json'), 'utf8')).sources.map((s: { shard: string }) => s.shard)).toEqual([
      '3/3',
      '1/3',
      '2/3',
    ]);

    const [a, b] = await Promise.all([diffRunDir(path.join(dir, 'whole')), diffRunDir(outDir)]);
    // The planted channels are found at all (else equality would prove little) ...
    const classes = a.findings.map((f) => f.class);
    expect(classes).toContain('confusable');
    expect(a.findings.find((f) => f.class === 'confusable')!.attribution.axes).toEqual(['TZ']);
    expect(a.findings.some((f) => f.location.path.startsWith('headers.') && f.attribution.axes.includes('LANG'))).toBe(true);
    expect(b.summary.runs).toEqual({ total: 8, compared: 8 });
    // ... and the merged run says exactly the same: classes, locations, attribution, changes, summary.
    expect(comparable(b)).toEqual(comparable(a));
  }, 240_000);

  test('a missing shard: nothing written, exit 3, the missing runs and their shard named', async () => {
    expect(merged).toBeDefined();
    const outDir = path.join(dir, 'merged-missing');
    const result = await mergeShards({ outDir, dirs: [shardDir(1), shardDir(3)] });
    const shard2 = (await readShardFile(shardDir(2)))!.runs;
    expect(result.exitCode).toBe(3);
    expect(result.manifest).toBeNull();
    expect(result.missing).toEqual([{ shard: '2/3', dir: null, runs: shard2 }]);
    expect(result.message).toContain(`cannot merge: ${shard2.length} of 8 runs are missing`);
    expect(result.message).toContain(`shard 2/3: no directory given for it (${shard2.join(', ')})`);
    expect(result.message).toContain('--shard 2/3 --out DIR');
    expect(existsSync(outDir)).toBe(false);
  });

  test('an unfinished shard: its pending runs named with the resume command', async () => {
    const partial = path.join(dir, 'shard-2-partial');
    await cp(shardDir(2), partial, { recursive: true });
    const manifest = JSON.parse(await readFile(path.join(partial, 'manifest.json'), 'utf8')) as Manifest;
    const unfinished = (await readShardFile(partial))!.runs[0]!;
    const entry = manifest.runs.find((r) => r.id === unfinished)!;
    Object.assign(entry, { status: 'pending', startedAt: null, endedAt: null, durationMs: null, exitCode: null, exchanges: 0 });
    await writeFile(path.join(partial, 'manifest.json'), JSON.stringify(manifest));
    const result = await mergeShards({ outDir: path.join(dir, 'merged-partial'), dirs: [shardDir(1), partial, shardDir(3)] });
    expect(result.exitCode).toBe(3);
    expect(result.missing).toEqual([{ shard: '2/3', dir: partial, runs: [unfinished] }]);
    expect(result.message).toContain(`promptdiff run --resume ${partial}`);
  });

  test('a shard of another scenario is refused with the field that differs', async () => {
    const other = path.join(dir, 'shard-2-other');
    await cp(shardDir(2), other, { recursive: true });
    const manifest = JSON.parse(await readFile(path.join(other, 'manifest.json'), 'utf8')) as Manifest;
    manifest.scenario.name = 'something-else';
    await writeFile(path.join(other, 'manifest.json'), JSON.stringify(manifest));
    await expect(mergeShards({ outDir: path.join(dir, 'merged-other'), dirs: [shardDir(1), other, shardDir(3)] })).rejects.toThrow(
      /ran a different scenario than .*shard-1 \(shard 1\/3\) \(name: "shard-merge" vs "something-else"\)/,
    );
    expect(existsSync(path.join(dir, 'merged-other'))).toBe(false);
  });

  test('a shard that ran another release of the agent is refused, naming both', async () => {
    const newer = path.join(dir, 'shard-2-newer');
    await cp(shardDir(2), newer, { recursive: true });
    const manifest = JSON.parse(await readFile(path.join(newer, 'manifest.json'), 'utf8')) as Manifest;
    const ref = JSON.parse(await readFile(path.join(shardDir(1), 'manifest.json'), 'utf8')) as Manifest;
    Object.assign(ref.agent, { preset: 'claude-code', version: '2.1.112', integrity: 'sha512-a' });
    Object.assign(manifest.agent, { preset: 'claude-code', version: '2.1.113', integrity: 'sha512-b' });
    const first = path.join(dir, 'shard-1-pinned');
    await cp(shardDir(1), first, { recursive: true });
    await writeFile(path.join(first, 'manifest.json'), JSON.stringify(ref));
    await writeFile(path.join(newer, 'manifest.json'), JSON.stringify(manifest));
    await expect(mergeShards({ outDir: path.join(dir, 'merged-newer'), dirs: [first, newer] })).rejects.toThrow(
      /shard-2-newer \(shard 2\/3\) ran claude-code 2\.1\.113 but .*shard-1-pinned \(shard 1\/3\) ran claude-code 2\.1\.112: merged, the release change would look like a finding/,
    );
    expect(existsSync(path.join(dir, 'merged-newer'))).toBe(false);
  });

  test('one run with two different results is a conflict; an identical copy is taken once', async () => {
    const copy = path.join(dir, 'shard-2-copy');
    await cp(shardDir(2), copy, { recursive: true });
    const dup = await mergeShards({ outDir: path.join(dir, 'merged-dup'), dirs: [shardDir(1), shardDir(2), copy, shardDir(3)] });
    expect(dup.exitCode).toBe(0);
    expect(dup.warnings.join('\n')).toMatch(/is in both .* \(identical\); taking it once/);
    expect(dup.manifest!.runs).toEqual(merged.runs);

    const manifest = JSON.parse(await readFile(path.join(copy, 'manifest.json'), 'utf8')) as Manifest;
    const id = (await readShardFile(copy))!.runs[0]!;
    Object.assign(manifest.runs.find((r) => r.id === id)!, { status: 'failed', exitCode: 1 });
    await writeFile(path.join(copy, 'manifest.json'), JSON.stringify(manifest));
    await expect(mergeShards({ outDir: path.join(dir, 'merged-conflict'), dirs: [shardDir(1), shardDir(2), copy, shardDir(3)] })).rejects.toThrow(
      new RegExp(`1 run\\(s\\) have different results in two directories.*\\n  run ${id}: .*\\(ok, 3 exchanges, exit 0.*\\(failed, 3 exchanges, exit 1`, 's'),
    );
  });

  test('CLI: merge exits 3 naming the missing runs, 0 when complete; diff reads the merged directory', async () => {
    const missing = await runCli(['merge', path.join(dir, 'cli-missing'), shardDir(1), shardDir(2)]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('shard 3/3: no directory given for it');
    expect(missing.stdout).toBe('');
    const out = path.join(dir, 'cli-merged');
    const ok = await runCli(['merge', out, shardDir(1), shardDir(2), shardDir(3)]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^merged 3 directories: 8 runs in 4 cells, 24 exchanges/);
    const diff = await runCli(['diff', out, '--quiet']);
    expect(diff.code).toBe(1);
    const other = path.join(dir, 'shard-2-other');
    const bad = await runCli(['merge', path.join(dir, 'cli-bad'), shardDir(1), other]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^promptdiff: .* ran a different scenario than/);
  }, 120_000);

  test('other input errors: a directory given twice, a non-empty output, not a run directory', async () => {
    await expect(mergeShards({ outDir: path.join(dir, 'm1'), dirs: [shardDir(1), shardDir(1)] })).rejects.toThrow(/given twice/);
    await expect(mergeShards({ outDir: shardDir(2), dirs: [shardDir(1), shardDir(2), shardDir(3)] })).rejects.toThrow(
      /cannot be one of the shard directories/,
    );
    await expect(mergeShards({ outDir: path.join(dir, 'merged'), dirs: [shardDir(1), shardDir(2), shardDir(3)] })).rejects.toThrow(
      /exists and is not empty/,
    );
    await expect(mergeShards({ outDir: path.join(dir, 'm2'), dirs: [certsDir] })).rejects.toThrow(/no manifest\.json; give the directories written by/);
  });
});
