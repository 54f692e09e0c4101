import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claudeCode } from '../src/agents/index.js';
import { diffRunDir, writeFindings, type Finding, type Findings } from '../src/diff/index.js';
import { runExplain, type ExplainResult } from '../src/explain/index.js';
import { log } from '../src/log.js';
import { detectNamespaces } from '../src/scenario/isolate.js';
import { validateScenario } from '../src/scenario/scenario-file.js';
import { detectMachineSupport } from '../src/scenario/machine.js';
import { silentProgress } from '../src/scenario/progress.js';
import { runScenario } from '../src/scenario/runner.js';

/*
 * promptdiff explain on real Claude Code 2.1.91 (docs/agents.md decodes its rule): the apostrophe
 * of "Today's date" follows two tests on the base URL's host — a lab keyword anywhere (U+02BC), a
 * known domain such as .cn (U+2019), both (U+02B9) — and the date's separator follows the ICU time
 * zone (Asia/Shanghai or Asia/Urumqi after canonicalisation). explain must find the keyword, the
 * suffix and their conjunction from catalogue base URLs, and the zones among those tried. Bounded:
 * no host corpus and a dozen zones (bench/explain-bench.mjs runs every zone and the host corpus).
 */
const ZONES = ['Asia/Shanghai', 'Asia/Urumqi', 'PRC', 'Asia/Chongqing', 'Asia/Harbin', 'Asia/Kashgar', 'Asia/Hong_Kong', 'Asia/Taipei', 'Asia/Macau', 'Etc/GMT-8', 'Asia/Tokyo', 'Etc/UTC'];
/** The ground truth for the zones: what ICU canonicalises to the two zones Claude Code tests. */
const CHINA = ZONES.filter((z) => ['Asia/Shanghai', 'Asia/Urumqi'].includes(new Intl.DateTimeFormat('en', { timeZone: z }).resolvedOptions().timeZone)).sort();

const ns = await detectNamespaces();
const support = await detectMachineSupport(ns, 'reverse');
const full = ns.available && support.etcView !== null && support.uts;

/** The "Today's date is …" reminder of the main request. */
const inDateReminder = (f: Finding) => /^body\.messages\[0\]\.content\[\d+\]\.text$/.test(f.location.path);

describe.skipIf(!full)('promptdiff explain on real Claude Code 2.1.91', () => {
  let base: string;
  let findings: Findings;
  let apostrophe: ExplainResult;
  let date: ExplainResult;
  beforeAll(async () => {
    log.level = process.env.PROMPTDIFF_LOG_LEVEL ?? 'silent';
    base = await mkdtemp(path.join(tmpdir(), 'pd-e2e-claude-explain-'));
    await claudeCode.install('2.1.91');
    const runDir = path.join(base, 'run');
    const scenario = validateScenario(
      {
        name: 'claude-explain',
        agent: { preset: 'claude-code', version: '2.1.91', args: ['Say hi.'] },
        route: 'reverse',
        factors: { 'network.base-url': ['first-party', 'deepseek', 'zhipu', 'relay-cn'], 'system.timezone': ['Etc/UTC', 'Asia/Shanghai'] },
        design: 'one-at-a-time',
        // Pinned: with the real clock the zones' dates differ after 16:00 UTC, and the separator hides in that date change.
        clock: '2026-07-01T12:00:00Z',
        repetitions: 2,
        timeout: '90s',
        jobs: 2,
        workspace: path.resolve('test/fixtures/scenario/workspace'),
      },
      'e2e-claude-explain',
    );
    await runScenario({ scenario, outDir: runDir, progress: silentProgress });
    findings = await diffRunDir(runDir);
    await writeFindings(runDir, findings);
    const find = (cls: string) => findings.findings.find((f) => f.class === cls && inDateReminder(f));
    const a = find('confusable');
    const d = find('format-change');
    if (!a || !d) throw new Error(`the run did not show both channels:\n${findings.findings.map((f) => f.summary).join('\n')}`);
    [apostrophe, date] = await Promise.all([
      runExplain({ runDir, finding: a.id, corpus: false, progress: () => silentProgress }),
      runExplain({ runDir, finding: d.id, zones: ZONES, progress: () => silentProgress }),
    ]);
  }, 900_000);
  afterAll(async () => {
    if (base) await rm(base, { recursive: true, force: true });
  });

  it('the base-URL finding: a keyword anywhere (U+02BC), a .cn host (U+2019), both (U+02B9)', () => {
    const e = apostrophe.explain;
    expect(e.axis).toBe('network.base-url');
    expect(e.status).toBe('complete');
    const by = new Map(e.variants.map((v) => [v.codePoints.map((c) => c.cp).join(), v]));
    expect([...by.keys()].sort()).toEqual(['U+2019', 'U+02B9', 'U+02BC'].sort());
    expect(by.get('U+02BC')!.conditions).toEqual([{ field: 'host', relation: 'contains', value: 'deepseek', caseInsensitive: true }]);
    expect(by.get('U+02BC')!.rule).toBe('base URL host contains `deepseek` (any position, case-insensitive)');
    expect(by.get('U+2019')!.conditions).toEqual([{ field: 'host', relation: 'domain-suffix', value: 'cn', caseInsensitive: true, orEqual: true }]);
    expect(by.get('U+02B9')!.minimal).toEqual(['https://bigmodel.cn']);
    expect(by.get('U+02B9')!.conditions.map((c) => [c.relation, c.value])).toEqual([
      ['contains', 'bigmodel'],
      ['domain-suffix', 'cn'],
    ]);
    for (const v of e.variants) {
      expect(v.runs).toBeLessThanOrEqual(100);
      expect(v.probes.filter((p) => p.status === 'failed')).toEqual([]);
    }
  });

  it('the date-separator finding: exactly the zones ICU makes Asia/Shanghai or Asia/Urumqi', () => {
    const e = date.explain;
    expect(e.axis).toBe('system.timezone');
    expect(e.variants).toHaveLength(1);
    const v = e.variants[0]!;
    expect(v.minimal).toEqual(CHINA);
    expect(v.rule).toBe(`time zone ∈ {${CHINA.join(', ')}} (${CHINA.length} of ${ZONES.length} tried)`);
    expect(new Set(v.probes.map((p) => p.value))).toEqual(new Set(ZONES));
    expect(v.probes.every((p) => p.status === 'ok')).toBe(true);
  });
});
