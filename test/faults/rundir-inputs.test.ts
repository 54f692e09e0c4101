import { mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadScenario, ScenarioError } from '../../src/scenario/scenario-file.js';
import { makeRunDir, removeRunDirs } from '../fixtures/diff/make-run.js';
import { runCli } from '../helpers/cli.js';

// Issue 10 row 7: hostile or absurd input files end in one line naming the file and exit 2,
// never a stack trace (exit 70) or running out of memory. Big files are sparse: no disk, no time.
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pd-faults-inputs-'));
});
afterAll(async () => {
  await removeRunDirs();
  await rm(dir, { recursive: true, force: true });
});

const BOMB = [
  'name: bomb',
  'agent: { command: [node, agent.mjs] }',
  'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
  ...'bcdefgh'.split('').map((l, i) => `${l}: &${l} [${Array(9).fill(`*${'abcdefgh'[i]}`).join(',')}]`),
].join('\n');

async function sparse(file: string, bytes: number): Promise<string> {
  await writeFile(file, '');
  await truncate(file, bytes);
  return file;
}

/** One line on stderr naming the file, exit 2, quickly. */
function expectUserError(r: { code: number | null; stderr: string }, file: RegExp): void {
  expect(r.code).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(file);
  expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
}

describe('input limits (issue 10 #7)', () => {
  it('a YAML alias bomb as scenario: one line, exit 2', async () => {
    const file = join(dir, 'bomb.yaml');
    await writeFile(file, BOMB);
    await expect(loadScenario(file)).rejects.toBeInstanceOf(ScenarioError);
    await expect(loadScenario(file)).rejects.toThrow(/bomb\.yaml: not a usable scenario: too many YAML aliases/);
    expectUserError(await runCli(['run', file, '--out', join(dir, 'bomb-out')]), /bomb\.yaml/);
  });

  it('a scenario nested too deeply', async () => {
    const file = join(dir, 'deep.yaml');
    await writeFile(file, `name: deep\nagent: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`);
    await expect(loadScenario(file)).rejects.toBeInstanceOf(ScenarioError);
  });

  it('a 200 MB scenario is refused before it is read', async () => {
    const file = await sparse(join(dir, 'huge.yaml'), 200 * 1024 * 1024);
    const t0 = Date.now();
    await expect(loadScenario(file)).rejects.toThrow(/huge\.yaml: 200 MB is larger than any scenario file should be/);
    expect(Date.now() - t0).toBeLessThan(2000);
    expectUserError(await runCli(['run', file, '--out', join(dir, 'huge-out')]), /huge\.yaml/);
    expectUserError(await runCli(['audit', file, '--out', join(dir, 'huge-audit')]), /huge\.yaml/);
  });

  it('an oversized or broken manifest.json: diff, merge and run --resume say so in one line', async () => {
    const run = await makeRunDir({ axes: { TZ: ['a', 'b'] }, reps: 1, exchanges: () => [{}] });
    await sparse(join(run, 'manifest.json'), 300 * 1024 * 1024);
    expectUserError(await runCli(['diff', run]), /manifest\.json: 300 MB is larger than any manifest file should be/);
    expectUserError(await runCli(['merge', join(dir, 'merged'), run]), /manifest\.json/);
    expectUserError(await runCli(['run', '--resume', run]), /manifest\.json/);
    await writeFile(join(run, 'manifest.json'), '{"v": 1, "runs": [');
    expectUserError(await runCli(['diff', run]), /manifest\.json: not valid JSON/);
  });

  it('a broken or oversized audit.json: audit --resume says so in one line', async () => {
    const audit = join(dir, 'audit-dir');
    await mkdir(audit, { recursive: true });
    await writeFile(join(audit, 'audit.json'), '{"v": 1,');
    expectUserError(await runCli(['audit', '--resume', audit]), /audit\.json: not valid JSON/);
    await sparse(join(audit, 'audit.json'), 100 * 1024 * 1024);
    expectUserError(await runCli(['audit', '--resume', audit]), /audit\.json: 100 MB is larger than any audit file should be/);
  });

  it('an oversized findings.json: report says so in one line', async () => {
    const run = await makeRunDir({ axes: { TZ: ['a', 'b'] }, reps: 1, exchanges: () => [{}] });
    await sparse(join(run, 'findings.json'), 300 * 1024 * 1024);
    expectUserError(await runCli(['report', run]), /findings\.json: 300 MB is larger than any findings file should be/);
  });
});
