import { readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { diffRunDir, type Findings } from '../../src/diff/index.js';
import { exitCodeFor } from '../../src/report/exit-code.js';
import { renderHtml } from '../../src/report/html.js';
import { renderTerminal } from '../../src/report/terminal.js';
import { makeRunDir, removeRunDirs } from '../fixtures/diff/make-run.js';
import { runCli } from '../helpers/cli.js';

// Issue 10 row 4: a diff that compared nothing must never say "0 findings" and exit 0.
afterAll(removeRunDirs);

/** 2 cells × 2 repetitions, 3 identical exchanges each: clean when intact. */
const intact = () =>
  makeRunDir({ axes: { TZ: ['UTC', 'Asia/Shanghai'] }, reps: 2, exchanges: () => [{ system: ['a'] }, { system: ['b'] }, { system: ['c'] }] });

const captureOf = (dir: string, run: string) => join(dir, 'runs', run, 'exchanges.jsonl');

function expectNotClean(f: Findings, status: RegExp | null, runs: string[]): void {
  expect(exitCodeFor(f)).toBe(3);
  if (status) {
    expect(f.summary.runsFailed.map((r) => r.id).sort()).toEqual([...runs].sort());
    for (const r of f.summary.runsFailed) expect(r.status).toMatch(status);
  }
  const text = renderTerminal(f);
  expect(text).toMatch(/run failed|not compared/);
  expect(renderHtml(f)).toMatch(/Failed runs|Not compared/);
}

describe('diff on damaged captures (issue 10 #4)', () => {
  it('an intact run directory is clean (exit 0): the corruptions below are what make it fail', async () => {
    const f = await diffRunDir(await intact());
    expect(f.summary.runsFailed).toEqual([]);
    expect(f.summary.notCompared).toEqual([]);
    expect(exitCodeFor(f)).toBe(0);
  });

  it('every capture file gone: each run named as capture-missing, exit 3', async () => {
    const dir = await intact();
    const runs = await readdir(join(dir, 'runs'));
    for (const r of runs) await rm(captureOf(dir, r));
    const f = await diffRunDir(dir);
    expectNotClean(f, /^capture-missing$/, runs);
    expect(f.summary.runs.compared).toBe(0);
    expect(f.summary.notCompared!.join()).toMatch(/no run could be compared/);
    expect(f.summary.runsFailed[0]!.message).toMatch(/exchanges\.jsonl: missing, but the manifest counts 3 exchanges/);
  });

  it('runs/ deleted: the same', async () => {
    const dir = await intact();
    await rm(join(dir, 'runs'), { recursive: true });
    const f = await diffRunDir(dir);
    expectNotClean(f, /^capture-missing$/, ['c001-r1', 'c001-r2', 'c002-r1', 'c002-r2']);
  });

  it('a capture emptied to 0 bytes while the manifest counts 3', async () => {
    const dir = await intact();
    await truncate(captureOf(dir, 'c002-r1'), 0);
    const f = await diffRunDir(dir);
    expectNotClean(f, /^capture-empty$/, ['c002-r1']);
    expect(f.summary.runs).toEqual({ total: 4, compared: 3 });
  });

  it('a capture shorter than the count, and one longer', async () => {
    const dir = await intact();
    const lines = (await readFile(captureOf(dir, 'c001-r2'), 'utf8')).split('\n').filter(Boolean);
    await writeFile(captureOf(dir, 'c001-r2'), `${lines.slice(0, 2).join('\n')}\n`);
    await writeFile(captureOf(dir, 'c002-r2'), `${[...lines.map((l) => l.replaceAll('c001-r2', 'c002-r2')), lines[0]!.replaceAll('c001-r2', 'c002-r2')].join('\n')}\n`);
    const f = await diffRunDir(dir);
    expectNotClean(f, /^capture-(short|long)$/, ['c001-r2', 'c002-r2']);
    expect(f.summary.runsFailed.find((r) => r.id === 'c001-r2')!.message).toMatch(/holds 2 exchanges, but the manifest counts 3/);
  });

  it("another run's capture copied in place", async () => {
    const dir = await intact();
    await writeFile(captureOf(dir, 'c002-r1'), await readFile(captureOf(dir, 'c001-r1')));
    const f = await diffRunDir(dir);
    expectNotClean(f, /^capture-mismatch$/, ['c002-r1']);
  });

  it('runs: [] in the manifest: nothing compared, exit 3, said in every report', async () => {
    const dir = await intact();
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { runs: unknown[]; cells: unknown[] };
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, runs: [] }));
    const f = await diffRunDir(dir);
    expect(f.summary.counts.total).toBe(0);
    expect(f.summary.notCompared!.join()).toMatch(/lists no runs/);
    expectNotClean(f, null, []);
    expect(renderTerminal(f)).toMatch(/not compared: the manifest lists no runs/);
    // No cells either: still not clean.
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, runs: [], cells: [] }));
    expect(exitCodeFor(await diffRunDir(dir))).toBe(3);
  });

  it('promptdiff diff exits 3 and names the runs', async () => {
    const dir = await intact();
    await rm(join(dir, 'runs'), { recursive: true });
    const r = await runCli(['diff', dir]);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/run failed: c001-r1 \(c001\) capture-missing/);
    const findings = JSON.parse(await readFile(join(dir, 'findings.json'), 'utf8')) as Findings;
    expect(findings.summary.runsFailed).toHaveLength(4);
  });
});
