/**
 * The acceptance test: `promptdiff demo` runs the canary agent (agents/canary/) with its
 * planted covert channels through the real proxy, diffs the captures, and must find each planted
 * channel — right class, attributed to exactly its axis and value group, right code points — and
 * report nothing else but overt echoes of axis values (the Host header carrying the base URL host).
 *
 * The expected channels are read from scenarios/demo.yaml itself (its `--plant KIND:TRIGGER=REGEX`
 * arguments), so editing the demo without updating the differ makes this fail.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { FindingsSchema, type Finding, type Findings } from '../src/diff/index.js';
import { ROOT, runCli, type CliResult } from './helpers/cli.js';

const DEMO = path.join(ROOT, 'scenarios', 'demo.yaml');

/** Which axis of the demo each canary trigger reads, and how it turns the axis value into what it tests. */
const TRIGGER_AXIS: Record<string, { axis: string; sense: (value: string) => string }> = {
  tz: { axis: 'TZ', sense: (v) => v },
  base: { axis: 'ANTHROPIC_BASE_URL', sense: (v) => new URL(v).hostname },
  locale: { axis: 'LANG', sense: (v) => v },
};

/** What each canary plant kind puts on the wire, as the differ must report it. */
interface Expected {
  cls: Finding['class'];
  path: RegExp;
  /** Code points added and removed by every change in the planted group (empty when not about code points). */
  added: string[];
  removed: string[];
  /** For value changes: baseline → planted value. */
  values?: [string, string];
}
const KIND: Record<string, Expected> = {
  homoglyph: { cls: 'confusable', path: /^body\.system/, added: ['U+0430'], removed: ['U+0061'] },
  zwsp: { cls: 'invisible', path: /^body\.system/, added: ['U+200B'], removed: [] },
  header: { cls: 'value-change', path: /^headers\.x-client-build$/, added: [], removed: [], values: ['2026.07.1', '2026.07.1-r'] },
  // Only in tool results, so only in the turns after the stub script made the canary run a tool.
  toolwrap: { cls: 'whitespace-lookalike', path: /^body\.messages\[\d+\]\.content\[0\]\.content$/, added: ['U+0020'], removed: [] },
};

interface Plant {
  kind: string;
  axis: string;
  /** The axis values that switch the plant on. */
  on: string[];
}

async function plantsOfDemo(): Promise<{ plants: Plant[]; axes: Record<string, string[]> }> {
  const scenario = parseYaml(await readFile(DEMO, 'utf8')) as { agent: { command: string[] }; axes: Record<string, string[]> };
  const cmd = scenario.agent.command;
  const plants = cmd.flatMap((arg, i) => {
    if (arg !== '--plant') return [];
    const m = /^([a-z-]+):([a-z]+)=(.*)$/.exec(cmd[i + 1]!);
    if (!m) throw new Error(`demo.yaml: cannot read --plant ${cmd[i + 1]}`);
    const [, kind, trigger, regex] = m as unknown as [string, string, string, string];
    const t = TRIGGER_AXIS[trigger];
    if (!t || !KIND[kind]) throw new Error(`demo.yaml plants ${kind}:${trigger}, which this test does not know yet: teach it`);
    const re = new RegExp(regex);
    return [{ kind, axis: t.axis, on: scenario.axes[t.axis]!.filter((v) => re.test(t.sense(v))) }];
  });
  return { plants, axes: scenario.axes };
}

let out: string;
let result: CliResult;
let findings: Findings;
let plants: Plant[];
let axes: Record<string, string[]>;

beforeAll(async () => {
  ({ plants, axes } = await plantsOfDemo());
  out = await mkdtemp(path.join(tmpdir(), 'promptdiff-demo-'));
  result = await runCli(['demo', '--out', out], {}, 150_000);
  findings = FindingsSchema.parse(JSON.parse(await readFile(path.join(out, 'findings.json'), 'utf8')));
}, 180_000);

afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

describe('promptdiff demo (end to end: canary → proxy → differ → report)', () => {
  it('exits 0 and says so in one line: exactly the planted channels were found, every run succeeded', () => {
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^demo: OK: found exactly the 4 planted channels \(.*whitespace-lookalike by TZ\), and nothing else but overt echoes$/m);
    expect(findings.summary.runsFailed).toEqual([]);
    expect(findings.summary.runs.compared).toBe(findings.summary.runs.total);
    expect(findings.summary.repetitions.min).toBeGreaterThanOrEqual(2);
    expect(plants.map((p) => p.kind).sort()).toEqual(['header', 'homoglyph', 'toolwrap', 'zwsp']);
  });

  it('finds every planted channel once, with its class, exactly its axis, its value group and its code points', () => {
    for (const plant of plants) {
      const want = KIND[plant.kind]!;
      const matches = findings.findings.filter((f) => f.class === want.cls && want.path.test(f.location.path));
      expect(matches, `${plant.kind}: ${JSON.stringify(findings.findings.map((f) => f.summary))}`).toHaveLength(1);
      const f = matches[0]!;
      const a = f.attribution;
      expect(a.axes, plant.kind).toEqual([plant.axis]);
      expect(a.determined).toBe(true);
      expect(a.interaction).toBe(false);
      expect(a.confounded).toEqual([]);
      // Two groups: the cells where the plant is on, and the rest (the baseline).
      expect(a.groups).toHaveLength(2);
      const planted = a.groups.find((g) => !g.baseline)!;
      const baseline = a.groups.find((g) => g.baseline)!;
      expect(planted.values[plant.axis]!.slice().sort(), plant.kind).toEqual(plant.on.slice().sort());
      expect(baseline.values[plant.axis]!.slice().sort()).toEqual(axes[plant.axis]!.filter((v) => !plant.on.includes(v)).sort());
      // Every cell is in exactly one group, and the planted group is exactly the cells with a triggering value.
      const cellValues = new Map(findings.summary.cells.map((c) => [c.id, c.values]));
      expect([...planted.cells, ...baseline.cells].sort()).toEqual([...cellValues.keys()].sort());
      for (const c of planted.cells) expect(plant.on).toContain(cellValues.get(c)![plant.axis]);
      for (const c of baseline.cells) expect(plant.on).not.toContain(cellValues.get(c)![plant.axis]);

      expect(planted.changes.length).toBeGreaterThan(0);
      if (want.values) {
        expect([baseline.context.before + baseline.text + baseline.context.after, planted.context.before + planted.text + planted.context.after]).toEqual(want.values);
      } else {
        for (const c of planted.changes) {
          expect(c.added.map((x) => x.cp), plant.kind).toEqual(want.added);
          expect(c.removed.map((x) => x.cp), plant.kind).toEqual(want.removed);
          // The offsets point at the planted code points in the captured prompt.
          const full = findings.texts[planted.textRef!]!;
          expect(full.slice(c.offsetAfter, c.offsetAfter + c.after.length)).toBe(c.after);
        }
      }
    }
  });

  it('reports nothing else but overt echoes of axis values', () => {
    const planted = new Set(plants.map((p) => KIND[p.kind]!.cls));
    const others = findings.findings.filter((f) => !planted.has(f.class));
    for (const f of others) {
      expect(f.class, f.summary).toBe('echo');
      expect(f.echo).toBeDefined();
      // The echoed text is (part of) one of the values of the axis it is attributed to.
      expect(f.attribution.axes).toEqual([f.echo!.axis]);
      expect(axes[f.echo!.axis]!.some((v) => v.includes(f.echo!.value))).toBe(true);
    }
    // The Host header carries the base URL host: an echo, not a covert channel.
    expect(others.map((f) => `${f.location.path} ${f.echo?.axis}`)).toContain('headers.host ANTHROPIC_BASE_URL');
    expect(findings.summary.counts.total).toBe(findings.findings.length);
    expect(findings.summary.counts.total).toBe(plants.length + others.length);
  });

  it('prints the findings, one line per finding, and writes the HTML report', async () => {
    const lines = result.stdout.split('\n');
    for (const plant of plants) {
      const cls = KIND[plant.kind]!.cls;
      expect(lines.filter((l) => l.startsWith(`${cls} `)), cls).toHaveLength(1);
    }
    expect(result.stdout).toContain('U+200B ZERO WIDTH SPACE');
    expect(result.stdout).toContain('U+0430 CYRILLIC SMALL LETTER A');
    const html = await readFile(path.join(out, 'report.html'), 'utf8');
    expect(html).toContain('title="U+200B ZERO WIDTH SPACE"');
  });

  it('reruns on the kept run directory: diff and report give the same findings and exit code', async () => {
    const again = await runCli(['diff', out, '--json']);
    expect(again.code).toBe(1);
    const rediffed = FindingsSchema.parse(JSON.parse(again.stdout));
    expect(rediffed.findings.map((f) => f.id)).toEqual(findings.findings.map((f) => f.id));
    const json = await runCli(['report', out, '--format', 'json']);
    expect(json.code).toBe(1);
    expect(FindingsSchema.parse(JSON.parse(json.stdout)).findings.map((f) => f.id)).toEqual(findings.findings.map((f) => f.id));
    const htmlFile = path.join(out, 'again.html');
    const html = await runCli(['report', out, '--format', 'html', '--out', htmlFile]);
    expect(html.code).toBe(1);
    const page = await readFile(htmlFile, 'utf8');
    expect(page).not.toMatch(/<(script|link|img)[^>]+(src|href)="https?:/);
    const missing = await runCli(['report', path.join(out, 'runs')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/findings\.json/);
  });
});

describe('the demo self-check', () => {
  it('fails, naming why, when a planted channel is missing or something else is found', async () => {
    const { checkDemo } = await import('../src/scenario/demo.js');
    const planted = plants.map((p) => ({ plant: `${p.kind}`, cls: KIND[p.kind]!.cls, axis: p.axis }));
    expect(checkDemo(findings, planted).ok).toBe(true);
    const without = { ...findings, findings: findings.findings.filter((f) => f.class !== 'invisible') };
    const missed = checkDemo(without, planted);
    expect(missed.ok).toBe(false);
    expect(missed.line).toMatch(/^demo: FAILED: missed zwsp \(invisible by ANTHROPIC_BASE_URL\)$/);
    const extra = checkDemo(findings, planted.filter((p) => p.cls !== 'confusable'));
    expect(extra.line).toMatch(/unexpected confusable by TZ at body\.system/);
  });
});
