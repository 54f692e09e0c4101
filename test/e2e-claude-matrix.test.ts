import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claudeCode, claudeEntryPoint } from '../src/agents/index.js';
import type { ExchangeRecord } from '../src/capture/schema.js';
import { readExchanges } from '../src/capture/store.js';
import { diffRunDir } from '../src/diff/index.js';
import type { Finding, Findings } from '../src/diff/index.js';
import { validateScenario } from '../src/scenario/scenario-file.js';
import { silentProgress } from '../src/scenario/progress.js';
import { runScenario, type RunScenarioResult } from '../src/scenario/runner.js';
import { log } from '../src/log.js';

/*
 * Real Claude Code from npm through the whole runner (isolation, pinned clock, one listener per
 * run, stub upstream, offline): a JavaScript-era release (2.1.112, cli.js under this Node) and the
 * first native-era release (2.1.113, a Bun binary; a 74 MB download, about the smallest native one), each over
 * TZ × ANTHROPIC_BASE_URL × 2 repetitions in both routes, then diffed.
 * Installs come from ~/.cache/promptdiff/agents (the first time: ~20 s of downloads).
 */
const VERSIONS = [
  { version: '2.1.112', kind: 'javascript' },
  { version: '2.1.113', kind: 'native' },
] as const;
const ROUTES = ['forward', 'reverse'] as const;
const HOSTS = ['https://api.anthropic.com', 'https://llm-gateway.example.cn'];
const ZONES = ['UTC', 'Asia/Shanghai'];

let certsDir: string;
let baseDir: string;
const keep = process.env.PROMPTDIFF_E2E_KEEP;

beforeAll(async () => {
  log.level = process.env.PROMPTDIFF_LOG_LEVEL ?? 'silent';
  baseDir = keep ? path.resolve(keep) : await mkdtemp(path.join(tmpdir(), 'pd-e2e-claude-matrix-'));
  certsDir = path.join(baseDir, 'certs');
  // Sequential: two downloads at once only make both slower.
  for (const { version } of VERSIONS) await claudeCode.install(version);
}, 600_000);

afterAll(async () => {
  if (!keep) await rm(baseDir, { recursive: true, force: true });
});

async function runMatrix(version: string, route: 'forward' | 'reverse'): Promise<RunScenarioResult> {
  const scenario = validateScenario(
    {
      name: `claude-${version}-${route}`,
      agent: { preset: 'claude-code', version, args: ['Say hello.'] },
      route,
      axes: { TZ: ZONES, ANTHROPIC_BASE_URL: HOSTS },
      repetitions: 2,
      clock: '2026-07-01T12:00:00Z',
      timeout: '90s',
      jobs: 2,
    },
    'e2e-claude-matrix',
  );
  return runScenario({ scenario, outDir: path.join(baseDir, `${version}-${route}`), certsDir, progress: silentProgress });
}

describe.each(VERSIONS)('Claude Code $version ($kind) through the runner', ({ version, kind }) => {
  it.each(ROUTES)('%s route: 2 TZ × 2 base-URL hosts × 2 repetitions, diffed', async (route) => {
    const t0 = performance.now();
    const result = await runMatrix(version, route);
    const { manifest } = result;
    const explain = manifest.runs.map((r) => `${r.id} ${r.status} ${r.durationMs} ms ${r.message ?? ''}`).join('\n');
    expect(result.exitCode, explain).toBe(0);
    expect(manifest.runs).toHaveLength(8);
    for (const r of manifest.runs) expect(r.exitCode, explain).toBe(0);

    // Identity of what ran.
    const installed = await claudeCode.install(version);
    expect(claudeEntryPoint(installed.dir).kind).toBe(kind);
    expect(manifest.agent).toMatchObject({ preset: 'claude-code', version, requested: version, integrity: installed.integrity });
    expect(manifest.agent.integrity).toMatch(/^sha512-/);

    const texts = new Map<string, string>(); // run id → its /v1/messages request body
    for (const run of manifest.runs) {
      const cell = manifest.cells.find((c) => c.id === run.cell)!;
      const host = new URL(cell.values.ANTHROPIC_BASE_URL!).hostname;
      expect(run.env.CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC).toBe('1');
      expect(await readFile(path.join(result.outDir, 'runs', run.id, 'stdout.txt'), 'utf8')).toContain('promptdiff stub');
      const { records } = await readExchanges(path.join(result.outDir, 'runs', run.id));
      const calls = records.filter((x: ExchangeRecord) => x.request.method === 'POST' && /\/v1\/messages(\?|$)/.test(x.request.path));
      expect(calls.length, `${run.id}: ${records.map((x) => x.request.url).join(', ')}`).toBe(1);
      for (const c of calls) {
        expect(c.run).toBe(run.id);
        expect(c.dialect).toBe('anthropic-messages');
        expect(c.parsed!.system.length).toBeGreaterThan(0);
        expect(c.parsed!.system.join('').length).toBeGreaterThan(0);
        expect(c.response?.status).toBe(200);
        // The prompt went to the host the cell named, whatever the route.
        expect(c.request.host.replace(/:\d+$/, '')).toBe(host);
        texts.set(run.id, c.request.body?.text ?? '');
      }
    }
    expect(result.warnings).toEqual([]); // nothing reached the proxy outside a run's listener

    // What the agent really does (read from the raw bodies, independently of the differ): the
    // currentDate reminder is "Today's date is 2026-07-01." with an ASCII apostrophe only for the
    // api.anthropic.com host; any other host gets U+2019. Asia/Shanghai writes the date 2026/07/01,
    // except on the first-party URL (https://api.anthropic.com in the forward route).
    const firstParty = (host: string) => route === 'forward' && host === HOSTS[0];
    for (const run of manifest.runs) {
      const values = manifest.cells.find((c) => c.id === run.cell)!.values;
      const body = texts.get(run.id)!;
      const apostrophe = new URL(values.ANTHROPIC_BASE_URL!).hostname === 'api.anthropic.com' ? "'" : '\\\\u2019|\\u2019'; // raw JSON: escaped or not
      const date = values.TZ === 'Asia/Shanghai' && !firstParty(values.ANTHROPIC_BASE_URL!) ? '2026/07/01' : '2026-07-01';
      expect(body, run.id).toMatch(new RegExp(`Today(${apostrophe})s date is ${date}\\.`));
    }

    const findings: Findings = await diffRunDir(result.outDir);
    const summary = findings.findings.map((f: Finding) => `${f.class} ${f.location.urlPath} ${f.location.path} by ${f.attribution.axes.join('×') || '?'}`);
    const why = `${version} ${route}: ${Math.round(performance.now() - t0)} ms, runs ${manifest.runs.map((r) => r.durationMs).join(' ')} ms\n  ${summary.join('\n  ')}`;
    if (process.env.PROMPTDIFF_E2E_VERBOSE) console.log(why);
    expect(findings.findings.length, why).toBeGreaterThan(0);
    expect(findings.findings.every((f) => f.attribution.determined), why).toBe(true);
    // The Host header follows the base URL: an overt echo.
    expect(findings.findings.filter((f) => f.class === 'echo').map((f) => [f.location.path, f.attribution.axes]), why).toEqual([['headers.host', ['ANTHROPIC_BASE_URL']]]);
    // TZ explains nothing but the date's format: the run-to-run noise (session ids, request ids,
    // the per-run cch hash) is masked by the repetitions, and the pinned clock gives every zone the same day.
    const byTz = findings.findings.filter((f) => f.attribution.axes.includes('TZ'));
    expect(byTz.length, why).toBe(1);
    const tz = byTz[0]!;
    expect(tz.location.path, why).toMatch(/^body\.messages\[0\]\.content\[\d+\]\.text$/);
    for (const g of tz.attribution.groups) {
      const zones = g.combos.map((c) => c.TZ);
      if (zones.every((z) => z === 'Asia/Shanghai') && !g.combos.some((c) => firstParty(c.ANTHROPIC_BASE_URL ?? ''))) expect(g.text, why).toContain('/07/');
      else expect(g.text, why).not.toContain('/07/');
    }

    if (route === 'reverse') {
      // Both hosts are third-party here (http://<host>:<port>): same tools, same layout. What is left
      // are two one-character covert channels and the Host echo, nothing else.
      expect(summary.sort(), why).toEqual(
        [
          'echo /v1/messages headers.host by ANTHROPIC_BASE_URL',
          'format-change /v1/messages body.messages[0].content[1].text by TZ',
          'confusable /v1/messages body.messages[0].content[1].text by ANTHROPIC_BASE_URL',
        ].sort(),
      );
      const swap = findings.findings.find((f) => f.class === 'confusable')!;
      const changed = swap.attribution.groups.find((g) => !g.baseline)!;
      expect(changed.values.ANTHROPIC_BASE_URL).toEqual(['https://llm-gateway.example.cn']);
      expect(changed.changes.flatMap((c) => c.added.map((a) => a.cp))).toEqual(['U+2019']);
      expect(tz.class).toBe('format-change');
      expect(tz.attribution.groups.find((g) => !g.baseline)!.changes.flatMap((c) => [c.before, c.after])).toEqual(['-', '/', '-', '/']);
    } else {
      // api.anthropic.com is first-party: a 9-tool prompt with deferred tools, plus settings and
      // policy_limits requests; every other host gets 23 tools. Only the date reminder also involves TZ,
      // and only together with the base URL.
      expect(tz.attribution.axes.sort()).toEqual(['ANTHROPIC_BASE_URL', 'TZ']);
      expect(tz.attribution.interaction).toBe(true);
      for (const f of findings.findings) if (f !== tz) expect(f.attribution.axes, why).toEqual(['ANTHROPIC_BASE_URL']);
      const presence = findings.findings.filter((f) => f.class === 'request-presence').map((f) => f.location.urlPath).sort();
      expect(presence, why).toEqual(['/api/claude_code/policy_limits', '/api/claude_code/settings']);
      expect(findings.findings.some((f) => f.location.path.startsWith('body.tools[')), why).toBe(true);
    }
  }, 300_000);
});
