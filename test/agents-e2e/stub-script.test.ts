import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_PRESETS } from '../../src/agents/index.js';
import type { ExchangeRecord } from '../../src/capture/schema.js';
import { readExchanges } from '../../src/capture/store.js';
import { diffRunDir } from '../../src/diff/index.js';
import { log } from '../../src/log.js';
import { DEFAULT_STUB_SCRIPT, type StubScript } from '../../src/proxy/stub-script-definition.js';
import { validateScenario } from '../../src/scenario/scenario-file.js';
import { silentProgress } from '../../src/scenario/progress.js';
import { runScenario } from '../../src/scenario/runner.js';

/*
 * Every preset but Claude Code (test/e2e-claude-script.test.ts) plays a stub script offline through the runner: each
 * runs the command with its own shell tool, sends the output back, reads and lists with its own
 * tools, and ends on the text turn. Codex gets the issue's `echo $((6*7))-probe`; Gemini CLI
 * refuses any `$(` as command substitution and Qwen Code 0.24.4 prints nothing for it, so those
 * two get the default script (`printf '%d-probe\n' 0x2a`, same output).
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const ISSUE_SCRIPT: StubScript = [
  { tool: 'shell', input: { command: 'echo $((6*7))-probe' } },
  { tool: 'read_file', input: { path: 'README.md' } },
  { text: 'Done.' },
];
const AGENTS = [
  { preset: 'codex', version: process.env.PROMPTDIFF_E2E_CODEX_VERSION ?? '0.169.0', script: ISSUE_SCRIPT, tools: ['exec', 'exec', undefined] },
  // The Responses WebSocket transport (what Codex uses with OpenAI's own provider): the stub is its peer.
  { preset: 'codex', version: process.env.PROMPTDIFF_E2E_CODEX_VERSION ?? '0.169.0', script: ISSUE_SCRIPT, tools: ['exec', 'exec', undefined], flags: ['-c', 'model_providers.stub.supports_websockets=true'], method: 'WEBSOCKET' },
  { preset: 'gemini-cli', version: process.env.PROMPTDIFF_E2E_GEMINI_VERSION ?? '0.61.0', script: DEFAULT_STUB_SCRIPT, tools: ['run_shell_command', 'read_file', 'list_directory', undefined] },
  { preset: 'qwen-code', version: process.env.PROMPTDIFF_E2E_QWEN_VERSION ?? '0.24.4', script: DEFAULT_STUB_SCRIPT, tools: ['run_shell_command', 'read_file', 'glob', undefined] },
  { preset: 'opencode', version: process.env.PROMPTDIFF_E2E_OPENCODE_VERSION ?? '1.18.33', script: DEFAULT_STUB_SCRIPT, tools: ['bash', 'read', 'glob', undefined] },
  { preset: 'kilo', version: process.env.PROMPTDIFF_E2E_KILO_VERSION ?? '7.7.7', script: DEFAULT_STUB_SCRIPT, tools: ['bash', 'read', 'glob', undefined] },
  { preset: 'copilot', version: process.env.PROMPTDIFF_E2E_COPILOT_VERSION ?? '1.0.102', script: DEFAULT_STUB_SCRIPT, tools: ['bash', 'view', 'view', undefined] },
  { preset: 'continue', version: process.env.PROMPTDIFF_E2E_CONTINUE_VERSION ?? '1.5.47', script: DEFAULT_STUB_SCRIPT, tools: ['Bash', 'Read', 'List', undefined] },
  { preset: 'factory', version: process.env.PROMPTDIFF_E2E_FACTORY_VERSION ?? '0.225.1', script: DEFAULT_STUB_SCRIPT, tools: ['Execute', 'Read', 'LS', undefined] },
];

let baseDir: string;
beforeAll(async () => {
  log.level = process.env.PROMPTDIFF_LOG_LEVEL ?? 'silent';
  baseDir = await mkdtemp(path.join(tmpdir(), 'pd-agents-script-'));
});
afterAll(() => rm(baseDir, { recursive: true, force: true }));

const modelCalls = (records: ExchangeRecord[]) => records.filter((x) => x.dialect !== 'unknown' && x.stubTurn !== undefined);

describe.each(AGENTS)('$preset $version $flags plays a stub script', ({ preset, version, script, tools, flags, method }: (typeof AGENTS)[number] & { flags?: string[]; method?: string }) => {
  beforeAll(() => AGENT_PRESETS[preset]!.install(version), 900_000);

  it('runs the command, sends 42-probe back, uses its file tools, ends on the text turn with exit 0; the turns align across runs', async () => {
    const scenario = validateScenario(
      {
        name: `${preset}-script`,
        agent: { preset, version, args: [...(flags ?? []), 'Run the probe, then read the README.'] },
        route: 'forward',
        repetitions: 2,
        timeout: '120s',
        jobs: 1,
        workspace: path.join(here, '..', 'fixtures', 'scenario', 'workspace'),
        stub_script: script,
      },
      'agents-e2e-script',
    );
    const outDir = path.join(baseDir, `${preset}${flags ? '-flags' : ''}`);
    const result = await runScenario({ scenario, outDir, certsDir: path.join(baseDir, 'certs'), progress: silentProgress });
    const explain = result.manifest.runs.map((r) => `${r.id} ${r.status} ${r.durationMs} ms ${r.message ?? ''}`).join('\n');
    expect(result.exitCode, explain).toBe(0);

    for (const run of result.manifest.runs) {
      expect(run.exitCode, explain).toBe(0);
      const { records } = await readExchanges(path.join(outDir, 'runs', run.id));
      const calls = modelCalls(records);
      const why = `${run.id}: ${calls.map((c) => `${c.request.path} ${JSON.stringify(c.stubTurn)}`).join('\n  ')}`;
      expect(calls.length, why).toBeGreaterThanOrEqual(3);
      const turns = calls.filter((c) => c.stubTurn!.index !== null);
      expect(turns.map((c) => [c.stubTurn!.index, c.stubTurn!.tool]), why).toEqual(tools.map((t, i) => [i, t]));
      if (method) expect(new Set(turns.map((c) => c.request.method)), why).toEqual(new Set([method]));
      const second = turns[1]!.parsed!.messages.at(-1)!;
      expect(second.role, why).toMatch(/^(user|tool)$/);
      expect(second.text, why).toContain('42-probe');
      expect(turns[2]!.parsed!.messages.at(-1)!.text, why).toContain('A tiny project the agents are asked about.');
      for (const c of calls) expect(c.errors, why).toEqual([]);
      expect(await readFile(path.join(outDir, 'runs', run.id, 'stdout.txt'), 'utf8'), why).toContain('Done.');
    }

    const findings = await diffRunDir(outDir);
    const summary = findings.findings.map((f) => `${f.class} ${f.location.exchange} ${f.location.path}`);
    if (process.env.PROMPTDIFF_E2E_VERBOSE) console.log(`${preset}@${version}: ${result.manifest.runs.map((r) => `${r.durationMs} ms`).join(', ')}\n  ${summary.join('\n  ')}`);
    // One cell: whatever differs between its two runs is noise; a turn missing in one run would be a presence change.
    expect(findings.findings, summary.join('\n')).toEqual([]);
  }, 600_000);
});
