import { storedText } from '../helpers/stored-text.js';
import { readdirSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretValues, isSecretName } from '../../src/capture/secret-values.js';
import { diffAndWrite } from '../../src/commands/findings.js';
import type { Findings } from '../../src/diff/index.js';
import type { Manifest } from '../../src/scenario/manifest.js';
import { validateScenario } from '../../src/scenario/scenario-file.js';
import { silentProgress } from '../../src/scenario/progress.js';
import { runScenario } from '../../src/scenario/runner.js';
import { runAudit } from '../../src/audit/index.js';
import { runCli } from '../helpers/cli.js';
import { spawnSync } from 'node:child_process';

// Issue 10 row 5: a secret found by its name anywhere (env.set, axes, env.allow, a proxy URL's
// password) is written nowhere in clear, and two secrets still differ for the differ.
const here = path.dirname(fileURLToPath(import.meta.url));
const agent = path.join(here, '..', 'fixtures', 'scenario', 'secret-agent.mjs');
const canary = path.join(here, '..', '..', 'agents', 'canary', 'index.mjs');

const S = {
  envSet: 'sk-ant-envset-0123456789abcdef',
  axisA: 'ghp_axisvalueAAAA1111',
  axisB: 'ghp_axisvalueBBBB2222',
  allowed: 'caller-token-from-env-9876',
  shortPw: 'hunter2',
  proxyA: 'pw-one-secret-xyz',
  proxyB: 'pw-two-secret-xyz',
};

let dir: string;
let certsDir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pd-faults-secrets-'));
  certsDir = path.join(dir, 'certs');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Every file under `root` that holds one of `values`, with the value found. */
function leaks(root: string, values: string[]): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else {
        const text = storedText(p);
        for (const v of values) if (text.includes(v)) out.push(`${path.relative(root, p)}: ${v}`);
      }
    }
  };
  walk(root);
  return out;
}

const TAG = /^\[redacted:[0-9a-f]{8}\]$/;

describe('secrets by value (issue 10 #5)', () => {
  it('the name filter catches GITHUB_PAT_X and DB_PASS, and leaves GIT_AUTHOR_NAME and MAX_TOKENS alone', () => {
    for (const n of ['GITHUB_PAT_X', 'DB_PASS', 'ANTHROPIC_API_KEY', 'GH_TOKEN', 'SMTP_PASSWORD', 'AWS_SECRET_ACCESS_KEY', 'X_AUTH']) expect(isSecretName(n), n).toBe(true);
    for (const n of ['GIT_AUTHOR_NAME', 'MAX_TOKENS', 'PWD', 'OLDPWD', 'TZ', 'LANG', 'PATH', 'PATTERN']) expect(isSecretName(n), n).toBe(false);
  });

  it('tags are stable, distinct per value, and reach inside JSON and URLs but never inside a tag', () => {
    const s = new SecretValues(['sk-value-one-123', 'sk-value-two-456']);
    const one = s.tag('sk-value-one-123');
    expect(one).toMatch(TAG);
    expect(new SecretValues(['sk-value-two-456', 'sk-value-one-123']).tag('sk-value-one-123')).toBe(one);
    expect(s.tag('sk-value-two-456')).not.toBe(one);
    expect(s.text(JSON.stringify({ a: 'key sk-value-one-123 here' }))).toBe(JSON.stringify({ a: `key ${one} here` }));
    expect(s.text('http://bob:short@h:1/ and "https://u:p@x"')).toMatch(/^http:\/\/bob:\[redacted:[0-9a-f]{8}\]@h:1\/ and "https:\/\/u:\[redacted:[0-9a-f]{8}\]@x"$/);
    expect(s.text(s.text('x sk-value-one-123 http://a:b@c'))).toBe(s.text('x sk-value-one-123 http://a:b@c'));
    // Another scenario's secrets give other tags: a tag cannot be looked up across run directories.
    expect(new SecretValues(['other']).tag('sk-value-one-123')).not.toBe(one);
  });

  it('env.set, axes and env.allow values: nowhere in the run directory, the output or the logs; the differ still tells the axis values apart', async () => {
    const out = path.join(dir, 'run-a');
    const file = path.join(dir, 'secrets.json');
    const scenario = {
      name: 'secrets',
      agent: { command: ['node', agent] },
      route: 'reverse',
      repetitions: 2,
      axes: { GITHUB_PAT_X: [S.axisA, S.axisB] },
      env: { allow: ['CALLER_TOKEN'], set: { ANTHROPIC_API_KEY: S.envSet, DB_PASS: S.shortPw, PD_ECHO: 'ANTHROPIC_API_KEY,GITHUB_PAT_X,CALLER_TOKEN' } },
      timeout: '30s',
    };
    await writeFile(file, JSON.stringify(scenario));
    const cli = await runCli(['run', file, '--out', out, '--certs', certsDir], { CALLER_TOKEN: S.allowed, PROMPTDIFF_LOG_LEVEL: 'debug' }, 120_000);
    expect(cli.code, cli.stderr).toBe(1); // a finding: the echoed axis value
    expect(leaks(out, Object.values(S))).toEqual([]);
    for (const v of Object.values(S)) {
      expect(cli.stdout).not.toContain(v);
      expect(cli.stderr).not.toContain(v);
    }
    const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8')) as Manifest;
    expect(manifest.secrets).toEqual({ policy: 'redacted', fields: ['env.set.ANTHROPIC_API_KEY', 'env.set.DB_PASS', 'axes.GITHUB_PAT_X[0]', 'axes.GITHUB_PAT_X[1]'] });
    const [a, b] = manifest.axes.GITHUB_PAT_X!;
    expect(a).toMatch(TAG);
    expect(b).toMatch(TAG);
    expect(a).not.toBe(b);
    expect(manifest.runs[0]!.env.CALLER_TOKEN).toMatch(TAG);
    expect(manifest.runs[0]!.env.DB_PASS).toMatch(TAG);
    // The captures carry the tags where the agent copied the values: the differ compares those.
    expect(storedText(path.join(out, 'runs', 'c001-r1', 'exchanges.jsonl'))).toContain(a);
    const findings = JSON.parse(await readFile(path.join(out, 'findings.json'), 'utf8')) as Findings;
    expect(findings.summary.cells.map((c) => c.values.GITHUB_PAT_X)).toEqual([a, b]);
    const byAxis = findings.findings.filter((f) => f.attribution.axes.join() === 'GITHUB_PAT_X');
    expect(byAxis.length).toBeGreaterThan(0);
    expect(findings.summary.runsFailed).toEqual([]);

    // Resume needs the values back: from the scenario file, not the manifest.
    const bare = await runCli(['run', '--resume', out, '--certs', certsDir]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/secret values were not written down \(env\.set\.ANTHROPIC_API_KEY, .*\): resume with the scenario file/);
    const withFile = await runCli(['run', file, '--resume', out, '--certs', certsDir, '--no-diff'], { CALLER_TOKEN: S.allowed });
    expect(withFile.code, withFile.stderr).toBe(0);
    expect(leaks(out, Object.values(S))).toEqual([]);
  });

  it('--keep-secrets writes them as they are (the check above can fail)', async () => {
    const out = path.join(dir, 'run-kept');
    const result = await runScenario({
      scenario: validateScenario(
        { name: 'kept', agent: { command: ['node', agent] }, route: 'reverse', repetitions: 1, env: { set: { ANTHROPIC_API_KEY: S.envSet, PD_ECHO: 'ANTHROPIC_API_KEY' } } },
        'test',
      ),
      outDir: out,
      certsDir,
      keepSecrets: true,
      progress: silentProgress,
    });
    expect(result.exitCode).toBe(0);
    expect(leaks(out, [S.envSet]).length).toBeGreaterThan(0);
    expect(JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8')).secrets).toEqual({ policy: 'kept', fields: [] });
  });

  it("a failing run's stderr tail in manifest.json and in the summary carries the tag", async () => {
    const out = path.join(dir, 'run-fail');
    const result = await runScenario({
      scenario: validateScenario(
        { name: 'fails', agent: { command: ['node', agent] }, route: 'reverse', repetitions: 1, env: { set: { ANTHROPIC_API_KEY: S.envSet, PD_ECHO: 'ANTHROPIC_API_KEY', PD_EXIT: '1' } } },
        'test',
      ),
      outDir: out,
      certsDir,
      progress: silentProgress,
    });
    expect(result.manifest.runs[0]!.status).toBe('failed');
    expect(result.manifest.runs[0]!.message).toMatch(/stderr: ANTHROPIC_API_KEY=\[redacted:[0-9a-f]{8}\]/);
    expect(leaks(out, [S.envSet])).toEqual([]);
  });

  it('proxy URL passwords: user:[redacted:…]@ in the manifest and findings, two passwords two cells', async () => {
    const out = path.join(dir, 'run-proxy');
    const result = await runScenario({
      scenario: validateScenario(
        {
          name: 'proxy-secrets',
          agent: { command: ['node', canary, '--task', 'say hi'] },
          route: 'forward',
          proxy_urls: [`http://alice:${S.proxyA}@corp-proxy.example.com:3128`, `http://alice:${S.proxyB}@corp-proxy.example.com:3128`],
          repetitions: 2,
          timeout: '30s',
        },
        'test',
      ),
      outDir: out,
      certsDir,
      progress: silentProgress,
    });
    expect(result.exitCode, JSON.stringify(result.manifest.runs.map((r) => r.message))).toBe(0);
    const { findings } = await diffAndWrite(out);
    expect(leaks(out, [S.proxyA, S.proxyB])).toEqual([]);
    const stored = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8')) as Manifest;
    const urls = stored.axes.proxy_url!;
    for (const u of urls) expect(u).toMatch(/^http:\/\/alice:\[redacted:[0-9a-f]{8}\]@corp-proxy\.example\.com:3128$/);
    expect(urls[0]).not.toBe(urls[1]);
    expect(stored.runs[0]!.env.HTTPS_PROXY).toMatch(/^http:\/\/alice:\[redacted:[0-9a-f]{8}\]@corp-proxy\.example\.com:\d+$/);
    expect(findings.summary.cells.map((c) => c.values.proxy_url)).toEqual(urls);
    expect(stored.secrets?.fields).toEqual(['proxy_urls[0]', 'proxy_urls[1]']);
  });

  it('audit.json keeps the scenario with tags; audit --resume then needs the scenario file', async () => {
    const out = path.join(dir, 'audit');
    const file = path.join(dir, 'audit.json');
    await writeFile(file, JSON.stringify({ name: 'audit-secrets', agent: { command: ['node', canary, '--task', 'say hi'] }, repetitions: 2, timeout: '30s', env: { set: { ANTHROPIC_API_KEY: S.envSet } } }));
    const first = await runAudit({ scenarioPath: file, outDir: out, factors: ['system.machine-id'], profiles: [], certsDir, progress: () => silentProgress });
    expect(first.audit.status, JSON.stringify(first.audit.stages)).toBe('complete');
    expect(leaks(out, [S.envSet])).toEqual([]);
    const stored = JSON.parse(await readFile(path.join(out, 'audit.json'), 'utf8')) as { scenario: { env: { set: Record<string, string> } }; secrets: unknown };
    expect(stored.scenario.env.set.ANTHROPIC_API_KEY).toMatch(TAG);
    expect(stored.secrets).toEqual({ policy: 'redacted', fields: ['env.set.ANTHROPIC_API_KEY'] });
    await expect(runAudit({ outDir: out, resume: true, certsDir, progress: () => silentProgress })).rejects.toThrow(
      /audit\.json: the scenario's secret values were not written down \(env\.set\.ANTHROPIC_API_KEY\): resume with the scenario file/,
    );
    const again = await runAudit({ scenarioPath: file, outDir: out, resume: true, certsDir, progress: () => silentProgress });
    expect(again.exitCode).toBe(first.exitCode);
    expect(again.audit.stages.reduce((n, st) => n + st.runs, 0)).toBe(0); // a finished audit resumes to nothing
    expect(leaks(out, [S.envSet])).toEqual([]);
  });

  it('log lines go through the value filter', () => {
    const script = `import('${path.join(here, '..', '..', 'dist', 'log.js')}').then(({ log, redactLogValues }) => {
      redactLogValues({ text: (s) => s.replaceAll('${S.envSet}', '[redacted:00000000]') });
      log.warn({ detail: 'value ${S.envSet}' }, 'message ${S.envSet}');
    })`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, PROMPTDIFF_LOG_LEVEL: 'info' } });
    expect(r.stderr).toContain('[redacted:00000000]');
    expect(r.stderr).not.toContain(S.envSet);
  });
});
