/**
 * The package as a user installs it: `npm pack`, a global install of the tarball into a temporary
 * prefix, and `promptdiff demo` from an empty directory. Packed from a copy of the sources, since
 * prepack rebuilds dist/ from scratch and other test files run the checkout's dist/ meanwhile.
 * Offline: the tarball is local and its dependencies come from npm's cache (`npm ci` filled it).
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, readdir, readFile, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers/cli.js';

const run = promisify(execFile);

/** What `npm pack` needs of a checkout: the sources, the build configuration, the files it ships. */
const SOURCES = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'LICENSE', 'src', 'scripts', 'scenarios', 'agents', 'docs', 'certs/README.md'];

let work: string;
let tarball: string;
let packed: { scripts?: Record<string, string>; files?: string[] };
let listing: string[];

beforeAll(async () => {
  work = path.join(tmpdir(), 'package-test');
  const src = path.join(work, 'src-copy');
  for (const rel of SOURCES) await cp(path.join(ROOT, rel), path.join(src, rel), { recursive: true });
  await symlink(path.join(ROOT, 'node_modules'), path.join(src, 'node_modules'));
  const out = path.join(work, 'tarball');
  await mkdir(out);
  await run('npm', ['pack', '--pack-destination', out, '--silent'], { cwd: src, timeout: 180_000 });
  tarball = path.join(out, (await readdir(out)).find((f) => f.endsWith('.tgz'))!);
  packed = JSON.parse((await run('tar', ['xzf', tarball, '-O', 'package/package.json'])).stdout);
  listing = (await run('tar', ['tzf', tarball], { maxBuffer: 16 << 20 })).stdout.split('\n');
  // postpack put the checkout's package.json back as it was.
  expect(await readFile(path.join(src, 'package.json'), 'utf8')).toBe(await readFile(path.join(ROOT, 'package.json'), 'utf8'));
}, 240_000);

describe('the packed package', () => {
  it('runs nothing on install: no prepare (tsc), no install scripts; dist/ is built and shipped', () => {
    for (const hook of ['prepare', 'preinstall', 'install', 'postinstall']) expect(packed.scripts?.[hook], hook).toBeUndefined();
    for (const file of ['LICENSE', 'dist/cli.js', 'dist/scenario/factors/catalogue.yaml', 'scenarios/demo.yaml', 'scenarios/workspace/README.md', 'agents/canary/index.mjs', 'certs/README.md']) {
      expect(listing, file).toContain(`package/${file}`);
    }
    // Nothing of a developer's machine: no test CA, no runs, no tests.
    expect(listing.filter((f) => /^package\/(certs\/(certs|keys)|runs|test)\//.test(f))).toEqual([]);
  });

  it('installs globally from the tarball and passes the demo from an empty directory', async () => {
    const prefix = path.join(work, 'prefix');
    const install = await run('npm', ['install', '-g', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', tarball], { timeout: 180_000 }).catch((err: { stderr?: string }) => {
      throw new Error(`npm install -g --offline of the tarball failed (is npm's cache filled? run npm ci once):\n${err.stderr ?? err}`);
    });
    expect(install.stderr).not.toMatch(/install-scripts|prepare/);
    const empty = path.join(work, 'empty');
    await mkdir(empty);
    const demo = await run(path.join(prefix, 'bin', 'promptdiff'), ['demo'], {
      cwd: empty,
      timeout: 180_000,
      env: { ...process.env, PROMPTDIFF_CERTS_DIR: path.join(work, 'ca') },
    }).catch((err: { stdout?: string; stderr?: string; code?: number }) => {
      throw new Error(`promptdiff demo exited ${err.code}:\n${err.stdout}\n${err.stderr}`);
    });
    expect(demo.stdout).toMatch(/^demo: OK: found exactly the 4 planted channels/m);
    expect(await readdir(path.join(empty, 'runs'))).toHaveLength(1);
  }, 300_000);
});
