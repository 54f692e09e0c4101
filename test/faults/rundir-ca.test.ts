import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureCA, packageCertsDir, resolveCertsDir, userCertsDir } from '../../src/ca/index.js';
import { detectNamespaces } from '../../src/scenario/isolate.js';
import { validateScenario } from '../../src/scenario/scenario-file.js';
import { silentProgress } from '../../src/scenario/progress.js';
import { runScenario } from '../../src/scenario/runner.js';
import { CLI, runCli, startCli } from '../helpers/cli.js';

// Issue 10 row 10 and issue 11 item 1: the CA directory is private whatever the umask, refused
// when others could have written to it, per-user by default, and hidden from every run.
const here = path.dirname(fileURLToPath(import.meta.url));
const agent = path.join(here, '..', 'fixtures', 'scenario', 'secret-agent.mjs');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pd-faults-ca-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const mode = (p: string) => statSync(p).mode & 0o777;

/** `promptdiff ARGS` under `umask`. */
function underUmask(umask: string, args: string[], env: Record<string, string> = {}) {
  return spawnSync('sh', ['-c', `umask ${umask} && exec "$0" "$@"`, process.execPath, CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, PROMPTDIFF_LOG_LEVEL: 'warn', ...env },
  });
}

describe('CA directory (issue 10 #10, issue 11 #1)', () => {
  it('ca init under umask 000: directories 0700, keys 0600, the certificate 0644', () => {
    const certs = path.join(dir, 'umask000', 'certs');
    const r = underUmask('000', ['ca', 'init', '--certs', certs]);
    expect(r.status, r.stderr).toBe(0);
    expect(mode(certs)).toBe(0o700);
    expect(mode(path.join(certs, 'certs'))).toBe(0o700);
    expect(mode(path.join(certs, 'keys'))).toBe(0o700);
    expect(mode(path.join(certs, 'keys', 'ca.private.key'))).toBe(0o600);
    expect(mode(path.join(certs, 'keys', 'leaf.private.key'))).toBe(0o600);
    expect(mode(path.join(certs, 'certs', 'ca.pem'))).toBe(0o644);
  });

  it('loosened read bits are tightened on load: keys/ at 0755, a key at 0644', async () => {
    const certs = path.join(dir, 'loose');
    await ensureCA(certs);
    chmodSync(certs, 0o755);
    chmodSync(path.join(certs, 'keys'), 0o755);
    chmodSync(path.join(certs, 'keys', 'ca.private.key'), 0o644);
    const r = await runCli(['ca', 'path', '--certs', certs]);
    expect(r.code).toBe(0);
    expect(mode(certs)).toBe(0o700);
    expect(mode(path.join(certs, 'keys'))).toBe(0o700);
    expect(mode(path.join(certs, 'keys', 'ca.private.key'))).toBe(0o600);
  });

  it('a CA directory others can write is refused, in one line, by ca, proxy and run', async () => {
    const certs = path.join(dir, 'writable');
    await ensureCA(certs);
    chmodSync(path.join(certs, 'certs'), 0o777);
    for (const args of [
      ['ca', 'path', '--certs', certs],
      ['proxy', '--port', '0', '--out', path.join(dir, 'w-proxy'), '--certs', certs],
    ]) {
      const r = await runCli(args);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/writable\/certs: writable by other users \(mode 0777\), so the CA may have been replaced/);
    }
    await expect(ensureCA(certs)).rejects.toThrow(/writable by other users/);
    const scenario = validateScenario({ name: 'w', agent: { command: ['node', agent] }, route: 'reverse', repetitions: 1 }, 'test');
    await expect(runScenario({ scenario, outDir: path.join(dir, 'w-run'), certsDir: certs, progress: silentProgress })).rejects.toThrow(/writable by other users/);
    chmodSync(path.join(certs, 'certs'), 0o700);
    chmodSync(path.join(certs, 'keys', 'ca.private.key'), 0o666);
    await expect(ensureCA(certs)).rejects.toThrow(/ca\.private\.key: writable by other users/);
  });

  it.skipIf(process.getuid?.() !== 0)('a CA file another user owns is refused', async () => {
    const certs = path.join(dir, 'foreign');
    await ensureCA(certs);
    chownSync(path.join(certs, 'certs', 'ca.pem'), 4242, 4242);
    await expect(ensureCA(certs)).rejects.toThrow(/ca\.pem: owned by another user \(uid 4242\)/);
  });

  it('which directory wins: --certs, $PROMPTDIFF_CERTS_DIR, a package certs/ that holds your CA, the per-user directory', async () => {
    const saved = { certs: process.env.PROMPTDIFF_CERTS_DIR, xdg: process.env.XDG_DATA_HOME };
    try {
      delete process.env.PROMPTDIFF_CERTS_DIR;
      process.env.XDG_DATA_HOME = path.join(dir, 'xdg');
      const empty = path.join(dir, 'pkg-empty', 'certs');
      await mkdir(empty, { recursive: true });
      expect(resolveCertsDir(undefined, empty)).toEqual({ dir: path.join(dir, 'xdg', 'promptdiff', 'certs'), source: 'user' });
      const holding = path.join(dir, 'pkg-ca', 'certs');
      await ensureCA(holding);
      expect(resolveCertsDir(undefined, holding)).toEqual({ dir: holding, source: 'package' });
      process.env.PROMPTDIFF_CERTS_DIR = path.join(dir, 'env-certs');
      expect(resolveCertsDir(undefined, holding).source).toBe('PROMPTDIFF_CERTS_DIR');
      expect(resolveCertsDir(path.join(dir, 'flag'), holding)).toEqual({ dir: path.join(dir, 'flag'), source: '--certs' });
    } finally {
      if (saved.certs === undefined) delete process.env.PROMPTDIFF_CERTS_DIR;
      else process.env.PROMPTDIFF_CERTS_DIR = saved.certs;
      if (saved.xdg === undefined) delete process.env.XDG_DATA_HOME;
      else process.env.XDG_DATA_HOME = saved.xdg;
    }
  });

  it('ca path with nothing given: the per-user directory (unless this checkout already holds a CA), said on stderr', async () => {
    const home = path.join(dir, 'home');
    await mkdir(home, { recursive: true });
    const env = { HOME: home, XDG_DATA_HOME: '', PROMPTDIFF_CERTS_DIR: '' };
    const r = await runCli(['ca', 'path'], env);
    expect(r.code, r.stderr).toBe(0);
    const packaged = existsSync(path.join(packageCertsDir(), 'certs', 'ca.pem'));
    const expected = packaged ? packageCertsDir() : path.join(home, '.local', 'share', 'promptdiff', 'certs');
    expect(r.stdout).toBe(`${path.join(expected, 'certs', 'ca.pem')}\n`);
    expect(r.stderr).toMatch(packaged ? /CA directory: .*certs \(the package's certs\/, which already held a CA\)/ : /CA directory: .*\.local\/share\/promptdiff\/certs \(the per-user default\)/);
    if (!packaged) expect(mode(path.join(home, '.local', 'share', 'promptdiff'))).toBe(0o700);
    expect(userCertsDir()).toMatch(/promptdiff\/certs$/);
  });

  it('the proxy banner says where the CA is', async () => {
    const certs = path.join(dir, 'banner');
    const { child, output } = await startCli(['proxy', '--port', '0', '--out', path.join(dir, 'banner-out'), '--certs', certs], /Ctrl-C/);
    child.kill('SIGTERM');
    expect(output().stdout).toContain(`CA: ${path.join(certs, 'certs', 'ca.pem')} in ${certs} (from --certs)`);
  });

  it('the CA private key cannot be read from inside a run, not even after unmounting what hides it', async (ctx) => {
    if (!(await detectNamespaces()).available) ctx.skip();
    const certs = path.join(dir, 'hidden');
    const ca = await ensureCA(certs);
    const key = path.join(certs, 'keys', 'ca.private.key');
    expect(await readFile(key, 'utf8')).toContain('PRIVATE KEY'); // readable outside: the probe below can fail
    const out = path.join(dir, 'hidden-run');
    const result = await runScenario({
      scenario: validateScenario({ name: 'probe', agent: { command: ['node', agent] }, route: 'reverse', repetitions: 1, env: { set: { PD_PROBE: key } } }, 'test'),
      outDir: out,
      certsDir: ca.certsDir,
      progress: silentProgress,
    });
    expect(result.exitCode, result.manifest.runs[0]!.message).toBe(0);
    expect(await readFile(path.join(out, 'runs', 'c001-r1', 'stdout.txt'), 'utf8')).toContain('probe: hidden');
  });
});
