import { readFileSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, test } from 'vitest';
import type { ExchangeRecord } from '../src/capture/schema.js';
import { readExchanges } from '../src/capture/store.js';
import { validateScenario } from '../src/scenario/scenario-file.js';
import type { Manifest, RunEntry } from '../src/scenario/manifest.js';
import { silentProgress, type Progress } from '../src/scenario/progress.js';
import { runScenario } from '../src/scenario/runner.js';

// The real proxy (forward route: CONNECT + TLS with the promptdiff CA), the real canary, isolation
// and the pinned clock. Needs util-linux `unshare` and Debian's `faketime` for full coverage; without
// them the runner falls back (and these tests check the fallback is reported).
const here = path.dirname(fileURLToPath(import.meta.url));
const canary = path.join(here, '..', 'agents', 'canary', 'index.mjs');
const modes = path.join(here, 'fixtures', 'scenario', 'canary-modes.sh');

let dir: string;
let certsDir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pd-e2e-'));
  certsDir = path.join(dir, 'certs');
});

async function exchanges(outDir: string, run: RunEntry): Promise<ExchangeRecord[]> {
  return (await readExchanges(path.join(outDir, 'runs', run.id))).records;
}

function cellOf(manifest: Manifest, run: RunEntry): Record<string, string> {
  return manifest.cells.find((c) => c.id === run.cell)!.values;
}

/** Running, not merely a zombie waiting for a reaper (containers often have none). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('runner end to end (real proxy, canary)', () => {
  test('a 4-axis matrix × 2 repetitions, interrupted and resumed', async () => {
    const outDir = path.join(dir, 'matrix');
    const scenario = validateScenario(
      {
        name: 'e2e-matrix',
        agent: {
          command: [
            'node',
            canary,
            '--task',
            'say hi',
            '--plant',
            'homoglyph:tz=^Asia/',
            '--plant',
            'zwsp:base=\\.cn$',
            '--plant',
            'header:locale=^zh',
            '--plant',
            'apostrophe:proxy=^corp-proxy\\.example\\.com$',
          ],
        },
        route: 'forward',
        axes: {
          TZ: ['UTC', 'Asia/Shanghai'],
          ANTHROPIC_BASE_URL: ['https://api.anthropic.com', 'https://llm-gateway.example.cn'],
          LANG: ['en_US.UTF-8', 'zh_CN.UTF-8'],
        },
        proxy_urls: ['http://127.0.0.1', 'http://corp-proxy.example.com:3128'],
        repetitions: 2,
        clock: '2026-07-01T12:00:00Z',
        timeout: '20s',
        jobs: 2,
      },
      'e2e',
    );

    // Interrupt after a few runs, like Ctrl-C.
    const abort = new AbortController();
    let finished = 0;
    const interrupting: Progress = {
      ...silentProgress,
      runDone: () => {
        finished += 1;
        if (finished === 5) abort.abort();
      },
    };
    const first = await runScenario({ scenario, outDir, certsDir, progress: interrupting, signal: abort.signal });
    expect(first.exitCode).toBe(3);
    const doneFirst = first.manifest.runs.filter((r) => r.status === 'ok');
    expect(doneFirst.length).toBeGreaterThanOrEqual(3);
    expect(first.manifest.runs.filter((r) => r.status === 'pending').length).toBeGreaterThan(0);

    const resumed = await runScenario({ outDir, resume: true, certsDir, progress: silentProgress });
    const { manifest } = resumed;
    expect(resumed.exitCode).toBe(0);
    expect(manifest.cells).toHaveLength(16);
    expect(manifest.runs).toHaveLength(32);
    expect(resumed.ran).toHaveLength(32 - doneFirst.length);
    for (const r of doneFirst) expect(resumed.ran).not.toContain(r.id);
    for (const r of doneFirst) expect(manifest.runs.find((x) => x.id === r.id)!.startedAt).toBe(r.startedAt);

    const isolation = manifest.isolation!;
    const paths = new Set<string>();
    for (const run of manifest.runs) {
      expect(run.status).toBe('ok');
      const cell = cellOf(manifest, run);
      const records = await exchanges(outDir, run);
      // Attribution: every exchange of this run and only those, in this run's file.
      expect(records).toHaveLength(3);
      expect(run.exchanges).toBe(3);
      for (const rec of records) {
        expect(rec.run).toBe(run.id);
        expect(rec.route).toBe('forward');
        expect(rec.request.host).toBe(new URL(cell.ANTHROPIC_BASE_URL!).hostname);
      }
      // The agent saw the cell's proxy URL hostname, with the run listener's port.
      const proxyHost = new URL(cell.proxy_url!).hostname;
      const expectedHost = isolation.namespaces ? proxyHost : '127.0.0.1';
      expect(run.env.HTTPS_PROXY).toMatch(new RegExp(`^http://${expectedHost.replace(/\./g, '\\.')}:\\d+$`));
      expect(run.env.ANTHROPIC_API_KEY).toBeUndefined();
      const main = records[1]!.parsed!;
      const system = main.system.join('\n\n');
      if (isolation.clock.pinned) expect(system).toContain("Today's date: 2026-07-01");
      paths.add(/Working directory: (.*)/.exec(system)![1]! + ' ' + /Home directory: (.*)/.exec(system)![1]!);
      // Planted channels appear exactly in the cells whose axis triggers them.
      expect(system.includes('\u0430')).toBe(cell.TZ!.startsWith('Asia/'));
      expect(system.includes('\u200B')).toBe(cell.ANTHROPIC_BASE_URL!.endsWith('.cn'));
      expect(system.includes('Don\u2019t')).toBe(isolation.namespaces && proxyHost === 'corp-proxy.example.com');
      const build = records[1]!.request.headers.find(([name]) => name.toLowerCase() === 'x-client-build')?.[1];
      expect(build).toBe(cell.LANG!.startsWith('zh') ? '2026.07.1-r' : '2026.07.1');
    }
    if (isolation.namespaces) expect([...paths]).toEqual(['/tmp/promptdiff-sandbox/work /tmp/promptdiff-sandbox/home']);
    else expect(isolation.warnings.join(' ')).toMatch(/path noise/);
  }, 120_000); // 32 agent runs: a loaded 2-core CI machine needs more than the default 30 s

  test('failing, hanging and proxy-bypassing agents: statuses, killed tree, exit 3', async () => {
    const outDir = path.join(dir, 'misbehaving');
    const pidFile = path.join(dir, 'hang.pid');
    const started = Date.now();
    const result = await runScenario({
      scenario: validateScenario(
        {
          name: 'e2e-misbehaving',
          agent: { command: ['sh', modes, canary, '--task', 'say hi'] },
          axes: { MODE: ['ok', 'fail', 'hang', 'bypass'] },
          repetitions: 1,
          clock: '2026-07-01T12:00:00Z',
          timeout: '8s', // the ok agent must finish even on a loaded machine
          jobs: 2,
          env: { set: { PD_PIDFILE: pidFile } },
        },
        'e2e',
      ),
      outDir,
      certsDir,
      progress: silentProgress,
    });
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(result.exitCode).toBe(3);
    const by = Object.fromEntries(result.manifest.runs.map((r) => [cellOf(result.manifest, r).MODE, r]));
    expect(by.ok).toMatchObject({ status: 'ok', exchanges: 3, exitCode: 0 });
    expect(by.fail).toMatchObject({ status: 'failed', exchanges: 3, exitCode: 7 });
    expect(by.fail!.message).toContain('failing on purpose');
    expect(by.hang).toMatchObject({ status: 'timeout', exchanges: 3 });
    expect(by.hang!.message).toContain('canary-modes: hanging');
    expect(by.bypass).toMatchObject({ status: 'no-traffic', exchanges: 0, exitCode: 1 });
    expect(by.bypass!.message).toMatch(/agent sent no traffic through the proxy \(exit code 1\): is HTTPS_PROXY honoured/);
    expect(by.bypass!.message).toMatch(/--- agent stderr \(tail\) ---\ncanary: POST https:\/\/api\.anthropic\.com\/v1\/messages failed/);
    await new Promise((r) => setTimeout(r, 200));
    expect(alive(Number(await readFile(pidFile, 'utf8')))).toBe(false);
  }, 120_000);
});
