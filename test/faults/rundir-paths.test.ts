import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffRunDir, InputError } from '../../src/diff/index.js';
import { mergeShards } from '../../src/scenario/shards.js';
import { silentProgress } from '../../src/scenario/progress.js';
import { runScenario } from '../../src/scenario/runner.js';
import { runAudit } from '../../src/audit/index.js';
import { makeRunDir, removeRunDirs } from '../fixtures/diff/make-run.js';
import { runCli } from '../helpers/cli.js';

// Issue 10 row 6: a run directory or shard is untrusted input (often a CI artifact).
let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'pd-faults-paths-'));
});
afterAll(async () => {
  await removeRunDirs();
  await rm(scratch, { recursive: true, force: true });
});

const small = () => makeRunDir({ axes: { TZ: ['UTC', 'Asia/Shanghai'] }, reps: 1, exchanges: () => [{ system: ['same'] }] });

async function editManifest(dir: string, edit: (m: { runs: Array<Record<string, unknown>>; cells: Array<Record<string, unknown>> }) => void): Promise<void> {
  const file = join(dir, 'manifest.json');
  const m = JSON.parse(await readFile(file, 'utf8'));
  edit(m);
  await writeFile(file, JSON.stringify(m));
}

/** A capture planted where `runs/<id>` with id ../../cap1 points: beside the run directory. */
async function plantOutside(dir: string): Promise<string> {
  const outside = join(dirname(dir), 'cap1');
  await mkdir(outside, { recursive: true });
  await writeFile(join(outside, 'exchanges.jsonl'), await readFile(join(dir, 'runs', 'c001-r1', 'exchanges.jsonl')));
  return outside;
}

describe('run ids and paths read from a manifest (issue 10 #6)', () => {
  it('diff refuses runs[0].id = "../../cap1" and names the entry, instead of reading outside', async () => {
    const dir = await small();
    const outside = await plantOutside(dir);
    await editManifest(dir, (m) => {
      m.runs[0]!.id = '../../cap1';
    });
    await expect(diffRunDir(dir)).rejects.toBeInstanceOf(InputError);
    await expect(diffRunDir(dir)).rejects.toThrow(/manifest\.json: not a promptdiff manifest: runs\[0\]\.id: not a safe id/);
    const cli = await runCli(['diff', dir]);
    expect(cli.code).toBe(2);
    expect(cli.stderr.trim().split('\n')).toHaveLength(1);
    expect(cli.stderr).toMatch(/runs\[0\]\.id/);
    await rm(outside, { recursive: true });
  });

  it.each([['/etc'], ['..'], ['a/b'], ['c001-r1\0']])('diff refuses the run id %j', async (id) => {
    const dir = await small();
    await editManifest(dir, (m) => {
      m.runs[1]!.id = id;
    });
    await expect(diffRunDir(dir)).rejects.toThrow(/runs\[1\]\.id: not a safe id/);
  });

  it('a duplicated run id and a run of no cell are refused', async () => {
    const dir = await small();
    await editManifest(dir, (m) => {
      m.runs[1]!.id = m.runs[0]!.id;
    });
    await expect(diffRunDir(dir)).rejects.toThrow(/runs\[1\]\.id: "c001-r1" appears twice/);
    const other = await small();
    await editManifest(other, (m) => {
      m.runs[0]!.cell = 'c999';
    });
    await expect(diffRunDir(other)).rejects.toThrow(/runs\[0\]\.cell: "c999" is not a cell/);
  });

  it('diff refuses a run directory or capture that links outside', async () => {
    const dir = await small();
    const outside = await plantOutside(dir);
    await rm(join(dir, 'runs', 'c001-r1'), { recursive: true });
    await symlink(outside, join(dir, 'runs', 'c001-r1'));
    await expect(diffRunDir(dir)).rejects.toThrow(/c001-r1\/exchanges\.jsonl: leads outside the run directory/);
    const again = await small();
    await rm(join(again, 'runs', 'c002-r1', 'exchanges.jsonl'));
    await symlink(join(outside, 'exchanges.jsonl'), join(again, 'runs', 'c002-r1', 'exchanges.jsonl'));
    await expect(diffRunDir(again)).rejects.toThrow(/leads outside the run directory/);
    // A link that stays inside is the directory's own business.
    const inside = await small();
    await rm(join(inside, 'runs', 'c002-r1', 'exchanges.jsonl'));
    await writeFile(join(inside, 'runs', 'copy.jsonl'), (await readFile(join(inside, 'runs', 'c001-r1', 'exchanges.jsonl'), 'utf8')).replaceAll('c001-r1', 'c002-r1'));
    await symlink(join(inside, 'runs', 'copy.jsonl'), join(inside, 'runs', 'c002-r1', 'exchanges.jsonl'));
    expect((await diffRunDir(inside)).summary.runs.compared).toBe(2);
    await rm(outside, { recursive: true });
  });

  it('merge refuses runs[0].id = "../../cap1", names it, and links nothing outside OUT', async () => {
    const dir = await small();
    await editManifest(dir, (m) => {
      m.runs[0]!.id = '../../cap1';
    });
    const parent = await mkdtemp(join(scratch, 'merge-'));
    const out = join(parent, 'a', 'out');
    await expect(mergeShards({ outDir: out, dirs: [dir] })).rejects.toThrow(/manifest\.json: not a promptdiff manifest: runs\[0\]\.id: not a safe id/);
    expect(existsSync(join(parent, 'cap1'))).toBe(false);
    expect(existsSync(out)).toBe(false);
    const cli = await runCli(['merge', join(parent, 'cli-out'), dir]);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(/runs\[0\]\.id/);
  });

  it('merge refuses a shard whose run directory or capture is a symbolic link', async () => {
    const secret = join(scratch, 'not-yours');
    await mkdir(secret, { recursive: true });
    await writeFile(join(secret, 'id_rsa'), 'PRIVATE');
    const dir = await small();
    await rm(join(dir, 'runs', 'c001-r1'), { recursive: true });
    await symlink(secret, join(dir, 'runs', 'c001-r1'));
    const out = join(scratch, 'merge-link-out');
    await expect(mergeShards({ outDir: out, dirs: [dir] })).rejects.toThrow(/runs\/c001-r1: is a symbolic link/);
    expect(existsSync(join(out, 'runs', 'c001-r1', 'id_rsa'))).toBe(false);

    const file = await small();
    await symlink(join(secret, 'id_rsa'), join(file, 'runs', 'c002-r1', 'stdout.txt'));
    const out2 = join(scratch, 'merge-link-out2');
    await expect(mergeShards({ outDir: out2, dirs: [file] })).rejects.toThrow(/c002-r1\/stdout\.txt: not a regular file \(a symbolic link\)/);
    expect(existsSync(out2)).toBe(false);
  });

  it('merge refuses a shard.json whose runs are paths', async () => {
    const dir = await small();
    await writeFile(join(dir, 'shard.json'), JSON.stringify({ v: 1, shard: '1/1', index: 1, count: 1, runs: ['../../etc'] }));
    await expect(mergeShards({ outDir: join(scratch, 'merge-shardfile'), dirs: [dir] })).rejects.toThrow(/shard\.json: not a promptdiff shard file: runs\[0\]: not a safe id/);
  });

  it('run --resume refuses before removing anything the bad id points at', async () => {
    const dir = await small();
    const victim = join(dirname(dir), 'victim');
    await mkdir(victim, { recursive: true });
    await writeFile(join(victim, 'keep'), 'x');
    await editManifest(dir, (m) => {
      m.runs[0]!.id = '../../victim';
    });
    await expect(runScenario({ outDir: dir, resume: true, progress: silentProgress })).rejects.toThrow(/runs\[0\]\.id: not a safe id/);
    expect(await readdir(victim)).toEqual(['keep']);
    await rm(victim, { recursive: true });
  });

  it('audit --resume refuses the same manifest', async () => {
    const dir = await small();
    await editManifest(dir, (m) => {
      m.runs[0]!.id = '../../victim';
    });
    const audit = {
      v: 1,
      tool: { name: 'promptdiff', version: '0.1.0' },
      createdAt: '2026-07-01T00:00:00.000Z',
      scenarioFile: null,
      scenario: { name: 'x', agent: { command: ['node', 'agent.mjs'] } },
      options: { factors: ['system.timezone'], profiles: [], allValues: false, budget: 10 },
      factors: { tried: [], skipped: [], notApplicable: [] },
      profiles: [],
      stages: [],
      runs: { total: 0, ok: 0, fullFactorial: 0 },
      mattered: [],
      verdict: [],
      status: 'interrupted',
      exitCode: 3,
    };
    await writeFile(join(dir, 'audit.json'), JSON.stringify(audit));
    await expect(runAudit({ outDir: dir, resume: true, progress: () => silentProgress })).rejects.toThrow(/runs\[0\]\.id: not a safe id/);
  });
});
