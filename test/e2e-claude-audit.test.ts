import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAudit, type AuditResult } from '../src/audit/index.js';
import { claudeCode } from '../src/agents/index.js';
import type { Finding } from '../src/diff/index.js';
import { log } from '../src/log.js';
import { detectNamespaces } from '../src/scenario/isolate.js';
import { validateScenario } from '../src/scenario/scenario-file.js';
import { detectMachineSupport } from '../src/scenario/machine.js';
import { silentProgress } from '../src/scenario/progress.js';

/*
 * promptdiff audit on real Claude Code releases from npm, offline, with the default tool script:
 * 2.1.91, the first release with the hidden channels, and 2.1.90, the release before it. The
 * factors are the built-in catalogue's, narrowed to four (two that matter and two controls) and
 * two profiles so the test stays within a minute or two; bench/audit-bench.mjs audits the whole
 * catalogue. Reverse route: every base URL is third-party to Claude Code, so the date channel is
 * the time zone's alone (the forward route's first-party host is docs/agents.md's story).
 */
const COVERT = new Set(['invisible', 'confusable', 'whitespace-lookalike', 'punctuation-swap', 'format-change']);
const CHINA = ['Asia/Shanghai', 'Asia/Urumqi'];

let baseDir: string;
const ns = await detectNamespaces();
const support = await detectMachineSupport(ns, 'reverse');
const full = ns.available && support.etcView !== null && support.uts && support.git !== null && support.faketime;

function audit(version: string): Promise<AuditResult> {
  const scenario = validateScenario(
    {
      name: `claude-audit-${version}`,
      agent: { preset: 'claude-code', version, args: ['Say hi.'] },
      route: 'reverse',
      factors: {
        'system.timezone': ['Etc/UTC', 'Asia/Shanghai', 'Asia/Urumqi', 'Asia/Tokyo'],
        'network.base-url': ['first-party', 'deepseek', 'zhipu', 'openrouter'],
        'system.hostname': ['devbox', 'zhangwei-ThinkPad-X1-Carbon-6th'],
        'system.locale': ['en_US.UTF-8', 'zh_CN.UTF-8'],
      },
      repetitions: 2,
      timeout: '90s',
      jobs: 2,
      workspace: path.resolve('test/fixtures/scenario/workspace'),
    },
    'e2e-claude-audit',
  );
  return runAudit({ scenario, outDir: path.join(baseDir, version), profiles: ['cn-developer', 'ru-developer'], progress: () => silentProgress });
}

/** The "Today's date is …" reminder of the main request. */
const inDateReminder = (f: Finding) => /^body\.messages\[0\]\.content\[\d+\]\.text$/.test(f.location.path);

describe.skipIf(!full)('promptdiff audit on real Claude Code', () => {
  beforeAll(async () => {
    log.level = process.env.PROMPTDIFF_LOG_LEVEL ?? 'silent';
    baseDir = await mkdtemp(path.join(tmpdir(), 'pd-e2e-claude-audit-'));
    for (const v of ['2.1.90', '2.1.91']) await claudeCode.install(v);
  }, 600_000);
  afterAll(async () => {
    if (baseDir) await rm(baseDir, { recursive: true, force: true });
  });

  it('2.1.91: the apostrophe channel by base-URL host and the date-separator channel by time zone, nothing else covert', async () => {
    const r = await audit('2.1.91');
    expect(r.audit.status).toBe('complete');
    expect(r.audit.runs.ok).toBe(r.audit.runs.total);
    const covert = r.findings!.findings.filter((f) => COVERT.has(f.class));
    const apostrophe = covert.find((f) => f.class === 'confusable' && inDateReminder(f))!;
    expect(apostrophe, covert.map((f) => f.summary).join('\n')).toBeDefined();
    expect(apostrophe.attribution.axes).toEqual(['network.base-url']);
    const marks = new Map(apostrophe.attribution.groups.map((g) => [g.values['network.base-url']!.join(), g.text]));
    // deepseek is a lab keyword, open.bigmodel.cn a .cn host and zhipu keyword: U+02BC and U+02B9.
    expect(marks.get('deepseek')).toBe('\u02BC');
    expect(marks.get('zhipu')).toBe('\u02B9');
    const date = covert.find((f) => f.class === 'format-change' && inDateReminder(f))!;
    expect(date, covert.map((f) => f.summary).join('\n')).toBeDefined();
    expect(date.attribution.axes).toEqual(['system.timezone']);
    const slash = date.attribution.groups.find((g) => g.text.includes('/'))!;
    expect(slash.values['system.timezone']!.sort()).toEqual(CHINA);
    // Nothing else covert: the hostname and the locale are controls, and so is Asia/Tokyo.
    expect(covert.filter((f) => f !== apostrophe && f !== date).map((f) => f.summary)).toEqual([]);
    expect(r.audit.mattered.find((m) => m.factor === 'system.hostname')).toBeUndefined();
    expect(r.audit.verdict.some((v) => v.factors.join() === 'network.base-url' && v.class === 'confusable')).toBe(true);
    expect(r.exitCode).toBe(1);
  }, 600_000);

  it('2.1.90: neither channel, no covert finding at all', async () => {
    const r = await audit('2.1.90');
    expect(r.audit.status).toBe('complete');
    expect(r.audit.runs.ok).toBe(r.audit.runs.total);
    const covert = r.findings!.findings.filter((f) => COVERT.has(f.class));
    expect(covert.map((f) => f.summary)).toEqual([]);
    // Without a covert change there is nothing to cross or characterise.
    expect(r.audit.stages.slice(1).every((s) => s.runs === 0)).toBe(true);
  }, 600_000);
});
