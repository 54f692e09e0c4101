import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffRunDir, type Findings } from '../src/diff/index.js';
import { log } from '../src/log.js';
import { DEFAULT_STUB_SCRIPT } from '../src/proxy/stub-script-definition.js';
import { validateScenario } from '../src/scenario/scenario-file.js';
import { silentProgress } from '../src/scenario/progress.js';
import { runScenario } from '../src/scenario/runner.js';

/*
 * The canary shaped like Claude Code with a first-party base URL: for api.anthropic.com it sends
 * one tool more (first in the list) and opens the conversation with one message more. Two
 * channels sit in elements after those: a space in the second tool result's wrapper (by TZ) and a
 * zero-width space in the Read tool's description (only for Asian zones with a .cn gateway: TZ ×
 * base URL). With elements compared by index, each later tool and message met another element in
 * first-party cells, so both channels came out under the wrong axes, at several paths, among
 * dozens of value changes by the base URL.
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const canary = path.join(here, '..', 'agents', 'canary', 'index.mjs');
const workspace = path.join(here, 'fixtures', 'scenario', 'workspace');

let dir: string;
let findings: Findings;

beforeAll(async () => {
  log.level = 'silent';
  dir = await mkdtemp(path.join(tmpdir(), 'pd-elements-canary-'));
  const plant = (spec: string) => ['--plant', spec];
  const scenario = validateScenario(
    {
      name: 'canary-layout',
      agent: {
        command: [
          'node',
          canary,
          '--task',
          'Check the workspace.',
          ...plant('extra-tool:base=^api\\.anthropic\\.com$'),
          ...plant('extra-message:base=^api\\.anthropic\\.com$'),
          ...plant('toolwrap@2:tz=^Asia/'),
          ...plant('tooldesc:tz=^Asia/&base=\\.cn$'),
        ],
      },
      route: 'forward',
      workspace,
      stub_script: DEFAULT_STUB_SCRIPT,
      axes: { TZ: ['UTC', 'Asia/Shanghai'], ANTHROPIC_BASE_URL: ['https://api.anthropic.com', 'https://llm-gateway.example.cn'] },
      repetitions: 2,
      clock: '2026-07-01T12:00:00Z',
      timeout: '20s',
      jobs: 2,
    },
    'canary-layout',
  );
  const outDir = path.join(dir, 'run');
  const result = await runScenario({ scenario, outDir, certsDir: path.join(dir, 'certs'), progress: silentProgress });
  expect(result.exitCode, result.manifest.runs.map((r) => `${r.id} ${r.status} ${r.message ?? ''}`).join('\n')).toBe(0);
  findings = await diffRunDir(outDir);
}, 120_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

const by = (f: Findings['findings'][number]) => f.attribution.axes.join(' × ');

describe('differ on the canary with a first-party layout', () => {
  it('finds the tool-result wrapper by TZ alone, once, in the tool result after the extra message', () => {
    const wrap = findings.findings.filter((f) => f.class === 'whitespace-lookalike');
    expect(wrap.map((f) => `${f.location.path} by ${by(f)}`)).toEqual(['body.messages[5].content[0].content by TZ']);
    // The second tool result (the README read) is carried by main-turn requests 3 and 4.
    expect(wrap[0]!.locations.map((l) => l.ordinal)).toEqual([3, 4]);
    const odd = wrap[0]!.attribution.groups.find((g) => !g.baseline)!;
    expect(odd.text).toBe(' ');
    expect(odd.values.TZ).toEqual(['Asia/Shanghai']);
    // Both layouts are in each group: the wrapper was compared with its own counterpart everywhere.
    for (const g of wrap[0]!.attribution.groups) expect(g.cells).toHaveLength(2);
  });

  it('finds the zero-width space in the Read description by TZ × base URL, in the Read tool', () => {
    const zw = findings.findings.filter((f) => f.class === 'invisible');
    expect(zw.map((f) => `${f.location.path} by ${by(f)}`)).toEqual(['body.tools[name=Read].description by TZ × ANTHROPIC_BASE_URL']);
    const odd = zw[0]!.attribution.groups.find((g) => !g.baseline)!;
    expect(odd.combos).toEqual([{ TZ: 'Asia/Shanghai', ANTHROPIC_BASE_URL: 'https://llm-gateway.example.cn' }]);
    expect(odd.changes.flatMap((c) => c.added.map((a) => a.cp))).toEqual(['U+200B']);
  });

  it('reports the extra tool and the extra message as one presence change each, and nothing else by the base URL but its host', () => {
    const base = findings.findings.filter((f) => by(f) === 'ANTHROPIC_BASE_URL');
    const described = base.map((f) => `${f.class} ${f.location.path}`).sort();
    expect(described).toEqual(['echo headers.host', 'field-presence body.messages[0]', 'field-presence body.tools[name=ToolSearch]']);
    const tool = base.find((f) => f.location.path === 'body.tools[name=ToolSearch]')!;
    const present = tool.attribution.groups.find((g) => g.present)!;
    expect(present.values.ANTHROPIC_BASE_URL).toEqual(['https://api.anthropic.com']);
  });

  it('nothing else', () => {
    expect(findings.findings).toHaveLength(5);
  });
});
