import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claudeCode } from '../src/agents/index.js';
import type { ExchangeRecord } from '../src/capture/schema.js';
import { readExchanges } from '../src/capture/store.js';
import { diffRunDir } from '../src/diff/index.js';
import { log } from '../src/log.js';
import { validateScenario } from '../src/scenario/scenario-file.js';
import { silentProgress } from '../src/scenario/progress.js';
import { runScenario } from '../src/scenario/runner.js';

/*
 * Real Claude Code from npm plays the stub script offline through the whole runner
 * (namespace, pinned clock, forward route, one listener per run): it runs the command, sends its
 * output back as a tool result, reads the file it is told to, and ends on the text turn.
 * 2.1.112 is cli.js under this Node, 2.1.113 the first native (Bun) release.
 */
const VERSIONS = [
  { version: '2.1.112', kind: 'javascript' },
  { version: '2.1.113', kind: 'native' },
] as const;
const here = path.dirname(fileURLToPath(import.meta.url));
const SCRIPT = [
  { tool: 'shell', input: { command: 'echo $((6*7))-probe' } },
  { tool: 'read_file', input: { path: 'README.md' } },
  { text: 'Done.' },
];

let baseDir: string;
beforeAll(async () => {
  log.level = process.env.PROMPTDIFF_LOG_LEVEL ?? 'silent';
  baseDir = await mkdtemp(path.join(tmpdir(), 'pd-e2e-claude-script-'));
  for (const { version } of VERSIONS) await claudeCode.install(version);
}, 600_000);
afterAll(() => rm(baseDir, { recursive: true, force: true }));

const messagesCalls = (records: ExchangeRecord[]) => records.filter((x) => x.request.method === 'POST' && /\/v1\/messages(\?|$)/.test(x.request.path));

describe.each(VERSIONS)('Claude Code $version ($kind) plays a stub script', ({ version }) => {
  it('runs the command, sends 42-probe back, reads the README, ends on the text turn with exit 0; the turns align across runs', async () => {
    const scenario = validateScenario(
      {
        name: `claude-script-${version}`,
        agent: { preset: 'claude-code', version, args: ['Run the probe, then read the README.'] },
        route: 'forward',
        axes: { TZ: ['UTC', 'Asia/Shanghai'] },
        repetitions: 2,
        clock: '2026-07-01T12:00:00Z',
        timeout: '90s',
        jobs: 2,
        workspace: path.join(here, 'fixtures', 'scenario', 'workspace'),
        stub_script: SCRIPT,
      },
      'e2e-claude-script',
    );
    const outDir = path.join(baseDir, version);
    const result = await runScenario({ scenario, outDir, certsDir: path.join(baseDir, 'certs'), progress: silentProgress });
    const explain = result.manifest.runs.map((r) => `${r.id} ${r.status} ${r.durationMs} ms ${r.message ?? ''}`).join('\n');
    expect(result.exitCode, explain).toBe(0);
    expect(result.manifest.agent.command).toContain('--allowedTools');

    for (const run of result.manifest.runs) {
      expect(run.exitCode, explain).toBe(0);
      const { records } = await readExchanges(path.join(outDir, 'runs', run.id));
      const calls = messagesCalls(records);
      const why = `${run.id}: ${calls.map((c) => JSON.stringify(c.stubTurn)).join(' ')}`;
      expect(calls.length, why).toBeGreaterThanOrEqual(3);
      const turns = calls.filter((c) => c.stubTurn?.index !== null && c.stubTurn !== undefined);
      expect(turns.map((c) => [c.stubTurn!.index, c.stubTurn!.tool]), why).toEqual([
        [0, 'Bash'],
        [1, 'Read'],
        [2, undefined],
      ]);
      // The second turn's request carries the command's output as a tool result.
      const second = turns[1]!.parsed!.messages.at(-1)!;
      expect(second.parts, why).toContain('tool_result');
      expect(second.text, why).toContain('42-probe');
      expect(turns[2]!.parsed!.messages.at(-1)!.text, why).toContain('A tiny project the agents are asked about.');
      for (const c of calls) expect(c.errors, why).toEqual([]);
      expect(await readFile(path.join(outDir, 'runs', run.id, 'stdout.txt'), 'utf8')).toContain('Done.');
    }

    // Each turn meets its counterpart in every run: no turn is reported missing, and all that
    // differs is explained by an axis (the noise of tool-use ids and timings is masked).
    const findings = await diffRunDir(outDir);
    const summary = findings.findings.map((f) => `${f.class} ${f.location.exchange} ${f.location.path} by ${f.attribution.axes.join('×')}`);
    if (process.env.PROMPTDIFF_E2E_VERBOSE) console.log(`${version}:\n  ${summary.join('\n  ')}`);
    expect(findings.findings.filter((f) => f.class === 'request-presence'), summary.join('\n')).toEqual([]);
    expect(findings.findings.every((f) => f.attribution.determined), summary.join('\n')).toBe(true);
  }, 240_000);
});
