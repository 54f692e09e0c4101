import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { runAudit, type AuditResult } from '../src/audit/index.js';
import { AuditSchema } from '../src/audit/schema.js';
import { FindingsSchema, type Finding } from '../src/diff/index.js';
import { detectNamespaces } from '../src/scenario/isolate.js';
import { validateScenario } from '../src/scenario/scenario-file.js';
import { detectMachineSupport } from '../src/scenario/machine.js';
import { silentProgress } from '../src/scenario/progress.js';
import { CLI, own, runCli } from './helpers/cli.js';

const CANARY = path.resolve('agents/canary/index.mjs');

/**
 * One planted channel per factor kind, each triggered by a value some catalogue profile has and
 * read the way real code reads it (readlink, getpwuid, ~/.gitconfig, .git/config, /etc files…),
 * plus one that needs two factors at once. Slot N puts each in its own sentence.
 */
const PLANTS: Array<{ plant: string; factors: string[] }> = [
  { plant: 'zwsp@1:systz=^Asia/Urumqi$', factors: ['system.timezone'] },
  { plant: 'homoglyph@2:syslocale=^ru_RU', factors: ['system.locale'] },
  { plant: 'apostrophe@3:hostname=^iZ', factors: ['system.hostname'] },
  { plant: 'zwsp@4:user=^alirezaei$', factors: ['user.name'] },
  { plant: 'homoglyph@5:gitemail=@alibaba-inc\\.com$', factors: ['git.identity'] },
  { plant: 'apostrophe@6:gitremote=gitflic\\.ru', factors: ['git.remote'] },
  { plant: 'zwsp@7:npmrc=npmmirror', factors: ['packages.mirror'] },
  { plant: 'homoglyph@8:dns=^178\\.22\\.122\\.100$', factors: ['network.dns'] },
  { plant: 'apostrophe@9:osrelease=^astra$', factors: ['system.os-release'] },
  { plant: 'zwsp@10:machineid=^8a6c1ef8', factors: ['system.machine-id'] },
  { plant: 'homoglyph@11:date=^2027-', factors: ['clock'] },
  { plant: 'apostrophe@12:base=dashscope', factors: ['network.base-url'] },
  { plant: 'zwsp@13:proxy=^proxy\\.corp\\.example\\.com$', factors: ['network.proxy-url'] },
  { plant: 'homoglyph@14:noproxy=alibaba-inc', factors: ['network.no-proxy'] },
  { plant: 'apostrophe@15:readme=Маленькая', factors: ['workspace.language'] },
  { plant: 'zwsp@16:env.GTK_IM_MODULE=^fcitx$', factors: ['env.input-method'] },
  { plant: 'homoglyph@17:env.GITHUB_ACTIONS=^true$', factors: ['env.ci'] },
  { plant: 'date-format@18:systz=^Asia/Shanghai$&base=deepseek', factors: ['network.base-url', 'system.timezone'] },
];

const COVERT = new Set(['invisible', 'confusable', 'whitespace-lookalike', 'punctuation-swap', 'format-change']);

const ns = await detectNamespaces();
const support = await detectMachineSupport(ns, 'forward');
const full = ns.available && support.etcView !== null && support.uts && support.home && support.git !== null && support.faketime;

function scenario(extra: Record<string, unknown> = {}) {
  return validateScenario(
    {
      name: 'canary-audit',
      agent: { command: ['node', CANARY, '--task', 'Say hi.', ...PLANTS.flatMap((p) => ['--plant', p.plant])] },
      route: 'forward',
      repetitions: 2,
      timeout: '30s',
      ...extra,
    },
    'canary-audit.yaml',
  );
}

/** The rule sentence a slotted plant edits: "Rule 07 (since …)". */
function slotOf(f: Finding, texts: Record<string, string>): number | null {
  const g = f.attribution.groups.find((x) => x.baseline)!;
  const full = g.textRef ? texts[g.textRef]! : '';
  const before = full.slice(0, g.offset);
  const m = /Rule (\d\d) \(since [^\n]*$/.exec(before);
  return m ? Number(m[1]) : null;
}

describe.skipIf(!full)('promptdiff audit on the canary, no factors named', () => {
  let result: AuditResult;
  let outDir: string;
  beforeAll(async () => {
    outDir = await mkdtemp(path.join(os.tmpdir(), 'promptdiff-audit-'));
    result = await runAudit({ scenario: scenario(), outDir, progress: () => silentProgress });
  }, 600_000);

  test('every planted channel is found, attributed to its factor; the interaction as an interaction', () => {
    const findings = result.findings!;
    const covert = findings.findings.filter((f) => COVERT.has(f.class));
    const bySlot = new Map(covert.map((f) => [slotOf(f, findings.texts), f]));
    for (const [i, p] of PLANTS.entries()) {
      const f = bySlot.get(i + 1);
      expect(f, `no finding for ${p.plant}`).toBeDefined();
      expect([...f!.attribution.axes].sort(), p.plant).toEqual([...p.factors].sort());
      expect(f!.attribution.interaction, p.plant).toBe(p.factors.length > 1);
    }
  });

  test('nothing else: no other covert finding, and only what the canary discloses openly', () => {
    const findings = result.findings!;
    const covert = findings.findings.filter((f) => COVERT.has(f.class));
    expect(covert).toHaveLength(PLANTS.length);
    // What the canary says in the open: its home directory (user), today's date (clock), the base
    // URL's host and path (the request line; the Host header is expected), and the README it reads
    // with the script's read_file turn (the workspace's language) in the tool result.
    const overt = new Set(findings.findings.filter((f) => !COVERT.has(f.class)).map((f) => `${f.class} ${f.location.path} ${f.attribution.axes.join('×')}`));
    expect([...overt].sort()).toEqual(
      [
        'echo body.system user.name',
        'echo body.system clock',
        'echo body.messages[4].content[0].content workspace.language',
        'value-change request.line network.base-url',
        'expected headers.host network.base-url',
      ].sort(),
    );
  });

  test('audit.json: stages, runs against a full factorial, what mattered, what is not applicable', async () => {
    const audit = AuditSchema.parse(JSON.parse(await readFile(path.join(outDir, 'audit.json'), 'utf8')));
    expect(audit.stages.map((s) => s.name)).toEqual(['screen', 'fold-over', 'follow-up', 'values']);
    expect(audit.stages[0]!.cells[0]!.purposes).toContain('baseline');
    expect(audit.stages[0]!.cells.some((c) => c.purposes.includes('profile cn-developer'))).toBe(true);
    // The interaction shows only in profile cells: that profile is folded over.
    expect(audit.stages[1]!.cells.some((c) => c.purposes.some((p) => p.startsWith('fold-over cn-developer')))).toBe(true);
    expect(audit.runs.total).toBe(audit.stages.reduce((n, s) => n + s.runs, 0));
    expect(audit.runs.ok).toBe(audit.runs.total);
    expect(audit.runs.total).toBeLessThan(audit.runs.fullFactorial / 1000);
    expect(audit.factors.notApplicable.map((f) => f.factor)).toEqual(['system.mac-address']);
    expect(audit.factors.skipped).toEqual([]);
    const mattered = audit.mattered.map((m) => m.factor);
    for (const p of PLANTS) for (const f of p.factors) expect(mattered).toContain(f);
    expect(audit.mattered.find((m) => m.factor === 'system.timezone')!.with).toContain('network.base-url');
    expect(audit.verdict.length).toBe(result.findings!.findings.filter((f) => f.class !== 'expected').length);
    expect(result.exitCode).toBe(1);
  });

  test('the run directory is an ordinary one: diff gives the same findings, report.html opens with the verdict', async () => {
    const before = FindingsSchema.parse(JSON.parse(await readFile(path.join(outDir, 'findings.json'), 'utf8')));
    const diff = await runCli(['diff', outDir, '--json']);
    expect(diff.code).toBe(1);
    const again = FindingsSchema.parse(JSON.parse(diff.stdout));
    expect(again.findings.map((f) => f.id)).toEqual(before.findings.map((f) => f.id));
    const html = await readFile(path.join(outDir, 'report.html'), 'utf8');
    expect(html.indexOf('id="verdict"')).toBeGreaterThan(-1);
    expect(html.indexOf('id="verdict"')).toBeLessThan(html.indexOf('id="overview"'));
    expect(html).toMatch(/audit of node .*canary.*runs in 4 stages/);
  });
});

describe.skipIf(!full)('audit: limits and errors', () => {
  test('a screen larger than the budget fails before any run, naming the numbers', async () => {
    const outDir = await mkdtemp(path.join(os.tmpdir(), 'promptdiff-audit-'));
    await expect(runAudit({ scenario: scenario(), outDir, budget: 10, progress: () => silentProgress })).rejects.toThrow(
      /the screen needs \d+ cells × 2 repetitions = \d+ runs, more than --budget 10/,
    );
  });

  test('a factor asked for that the route cannot carry is skipped out loud and makes the exit code 3', async () => {
    const outDir = await mkdtemp(path.join(os.tmpdir(), 'promptdiff-audit-'));
    const r = await runAudit({
      scenario: scenario({ route: 'reverse' }),
      outDir,
      factors: ['system.timezone', 'network.proxy-url'],
      profiles: ['cn-xinjiang'],
      progress: () => silentProgress,
    });
    expect(r.audit.factors.skipped.map((s) => s.factor)).toEqual(['network.proxy-url']);
    expect(r.findings!.summary.factorsSkipped?.map((s) => s.factor)).toEqual(['network.proxy-url']);
    expect(r.exitCode).toBe(3);
    // The clock is not tried: the runs see the catalogue's baseline instant, not the host's clock
    // (whose date in Asia/Shanghai is tomorrow after 16:00 UTC).
    const manifest = JSON.parse(await readFile(path.join(outDir, 'manifest.json'), 'utf8')) as { scenario: { clock: string } };
    expect(manifest.scenario.clock).toBe('2026-07-01T12:00:00Z');
  }, 120_000);

  test('an interrupted audit resumes where it stopped and ends like an uninterrupted one', async () => {
    const outDir = await mkdtemp(path.join(os.tmpdir(), 'promptdiff-audit-'));
    const small = { factors: ['system.timezone', 'system.hostname', 'network.base-url'], profiles: ['cn-developer', 'cn-ai-lab'] };
    const controller = new AbortController();
    let done = 0;
    const stopping = () => ({ ...silentProgress, runDone: () => (++done === 3 ? controller.abort() : undefined) });
    const first = await runAudit({ scenario: scenario(), outDir, ...small, progress: stopping, signal: controller.signal });
    expect(first.audit.status).toBe('interrupted');
    expect(first.exitCode).toBe(3);
    const resumed = await runAudit({ outDir, resume: true, progress: () => silentProgress });
    expect(resumed.audit.status).toBe('complete');
    expect(resumed.audit.runs.ok).toBe(resumed.audit.runs.total);
    const covert = resumed.findings!.findings.filter((f) => COVERT.has(f.class)).map((f) => `${f.class} ${[...f.attribution.axes].sort().join('×')}`);
    // The plants these factors can show: hostname iZ… and dashscope (cn-ai-lab), Shanghai × deepseek
    // (cn-developer), and Asia/Urumqi, which the values stage tries once the time zone mattered.
    expect(covert.sort()).toEqual([
      'confusable network.base-url',
      'confusable system.hostname',
      'format-change network.base-url×system.timezone',
      'invisible system.timezone',
    ]);
    // Once complete, resuming again runs nothing.
    const again = await runAudit({ outDir, resume: true, progress: () => silentProgress });
    expect(again.audit.runs.total).toBe(resumed.audit.runs.total);
    expect(again.audit.stages.every((s) => s.runs === 0)).toBe(true);
  }, 300_000);

  test('an audit killed with SIGKILL in its first stage resumes from its audit.json and ends like an uninterrupted one', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'promptdiff-audit-kill-'));
    const outDir = path.join(dir, 'audit');
    const file = path.join(dir, 'canary-audit.json');
    await writeFile(file, JSON.stringify({ name: 'canary-audit', agent: { command: ['node', CANARY, '--task', 'Say hi.', ...PLANTS.flatMap((p) => ['--plant', p.plant])] }, route: 'forward', repetitions: 2, timeout: '30s' }));
    const small = ['--factors', 'system.timezone,system.hostname,network.base-url', '--profiles', 'cn-developer,cn-ai-lab'];
    const child = own(spawn(process.execPath, [CLI, 'audit', file, '--out', outDir, ...small], { stdio: 'ignore' }));
    // Killed once three runs of the screen are recorded: no handler runs, nothing is flushed.
    const runsDone = () => {
      try {
        return readdirSync(path.join(outDir, 'runs')).filter((r) => statSync(path.join(outDir, 'runs', r, 'exchanges.jsonl'), { throwIfNoEntry: false })?.size).length;
      } catch {
        return 0;
      }
    };
    const started = Date.now();
    while (runsDone() < 3 && child.exitCode === null && Date.now() - started < 120_000) await new Promise((r) => setTimeout(r, 100));
    expect(child.exitCode).toBe(null);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(existsSync(path.join(outDir, 'findings.json'))).toBe(false);
    const left = AuditSchema.parse(JSON.parse(await readFile(path.join(outDir, 'audit.json'), 'utf8')));
    expect(left.status).toBe('interrupted');
    const resumed = await runCli(['audit', '--resume', outDir], {}, 240_000);
    expect(resumed.code, resumed.stderr).toBe(1);
    const audit = AuditSchema.parse(JSON.parse(await readFile(path.join(outDir, 'audit.json'), 'utf8')));
    expect(audit.status).toBe('complete');
    expect(audit.runs.ok).toBe(audit.runs.total);
    const findings = FindingsSchema.parse(JSON.parse(await readFile(path.join(outDir, 'findings.json'), 'utf8')));
    const covert = findings.findings.filter((f) => COVERT.has(f.class)).map((f) => `${f.class} ${[...f.attribution.axes].sort().join('×')}`);
    expect(covert.sort()).toEqual(['confusable network.base-url', 'confusable system.hostname', 'format-change network.base-url×system.timezone', 'invisible system.timezone']);
  }, 300_000);

  test('CLI: bad flags are one-line errors; promptdiff factors lists the catalogue', async () => {
    const bad = await runCli(['audit', 'x.yaml', '--budget', 'lots']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/--budget must be a whole number/);
    const unknown = await runCli(['audit', path.resolve('scenarios/demo.yaml'), '--factors', 'system.timezones']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/--factors: system\.timezones is not a factor of the catalogue/);
    const list = await runCli(['factors']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^system\.timezone {2}\(timezone; needs etc\)/m);
    expect(list.stdout).toMatch(/cn-ai-lab/);
  });
});
