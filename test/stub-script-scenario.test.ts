import { readExchanges } from '../src/capture/store.js';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExchangeRecord } from '../src/capture/schema.js';
import { diffRunDir } from '../src/diff/index.js';
import { log } from '../src/log.js';
import { DEFAULT_STUB_SCRIPT } from '../src/proxy/stub-script-definition.js';
import { loadScenario, ScenarioError, validateScenario } from '../src/scenario/scenario-file.js';
import type { RunEntry } from '../src/scenario/manifest.js';
import { silentProgress } from '../src/scenario/progress.js';
import { serializeScenario } from '../src/scenario/resolve.js';
import { runScenario } from '../src/scenario/runner.js';
import { scriptArgs } from '../src/scenario/stub-script.js';

/*
 * stub_script in a scenario: what the schema rejects, and runs through the runner and the real
 * proxy with a small tool-using agent (test/fixtures/scenario/tool-agent.mjs).
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const toolAgent = path.join(here, 'fixtures', 'scenario', 'tool-agent.mjs');
const canary = path.join(here, '..', 'agents', 'canary', 'index.mjs');
const workspace = path.join(here, 'fixtures', 'scenario', 'workspace');

let dir: string;
beforeAll(async () => {
  log.level = 'silent';
  dir = await mkdtemp(path.join(tmpdir(), 'pd-stub-script-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function problems(yaml: string): Promise<string> {
  const file = path.join(dir, `s${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(file, yaml);
  try {
    await loadScenario(file);
  } catch (err) {
    expect(err).toBeInstanceOf(ScenarioError);
    const message = (err as Error).message;
    expect(message.startsWith(`${file}: invalid scenario\n`)).toBe(true);
    return message.split('\n').slice(1).join('\n');
  }
  throw new Error('expected the scenario to be rejected');
}

const HEAD = 'name: s\nagent: { preset: claude-code, version: "2.1.113", args: ["Run it."] }\n';

describe('stub_script in the scenario schema', () => {
  it('the issue\'s example loads as given, and survives the manifest round trip', async () => {
    const file = path.join(dir, 'ok.yaml');
    await writeFile(
      file,
      `${HEAD}stub_script:
  - tool: shell                      # a generic tool name, mapped per agent
    input: { command: "echo $((6*7))-probe" }
  - tool: read_file
    input: { path: "README.md" }
  - text: "Done."                    # a final text turn ends the script
`,
    );
    const { scenario } = await loadScenario(file);
    expect(scenario.stub_script).toEqual([{ tool: 'shell', input: { command: 'echo $((6*7))-probe' } }, { tool: 'read_file', input: { path: 'README.md' } }, { text: 'Done.' }]);
    expect(validateScenario(serializeScenario(scenario), 'manifest').stub_script).toEqual(scenario.stub_script);
    expect(validateScenario({ name: 'd', agent: { command: ['x'] }, stub_script: DEFAULT_STUB_SCRIPT }, 'd').stub_script).toEqual(DEFAULT_STUB_SCRIPT);
  });

  it('names the item and field of every mistake', async () => {
    expect(
      await problems(`${HEAD}stub_script:
  - tool: shell
    input: { cmd: "ls" }
  - tool: read_file
  - text: "Early."
  - { tool: list_dir, text: "both" }
  - { tool: shel, input: { command: ls } }
  - { tool: write_file, input: { path: a, content: 1 } }
  - { txt: "Done." }
`),
    ).toBe(
      [
        '  stub_script[0].input.command: required by the generic tool shell',
        '  stub_script[0].input.cmd: not an input of the generic tool shell (it takes command)',
        '  stub_script[1].input.path: required by the generic tool read_file',
        '  stub_script[3]: expected either {tool: NAME, input: {...}} or {text: "..."}',
        '  stub_script[5].input.content: expected a string',
        '  stub_script[6]: unknown field "txt" (did you mean "text"?)',
        '  stub_script[6]: expected either {tool: NAME, input: {...}} or {text: "..."}',
        "  stub_script[2].text: a text turn ends the agent's turn, so only the last item may be text",
        '  stub_script[4].tool: "shel" is not a generic tool (did you mean "shell"? generic: shell, read_file, list_dir, write_file, search); an agent\'s own tool name is used as is',
      ].join('\n'),
    );
  });

  it('an agent\'s own tool name passes; a script needs the stub upstream and at least one turn', async () => {
    expect((await problems(`${HEAD}upstream: passthrough\nstub_script: [{ tool: TodoWrite, input: { todos: [] } }]\n`))).toBe('  stub_script: only applies to upstream: stub');
    expect(await problems(`${HEAD}stub_script: []\n`)).toBe('  stub_script: expected at least one turn');
  });

  it('a preset\'s unattended-tools flags: added only with a script, and a flag the scenario gives wins', () => {
    expect(scriptArgs('claude-code', [])).toEqual(['--allowedTools', 'Bash Read Write Edit Glob Grep LS']);
    expect(scriptArgs('claude-code', ['--allowedTools', 'Bash'])).toEqual([]);
    expect(scriptArgs('codex', [])).toEqual(['--sandbox', 'workspace-write']);
    expect(scriptArgs('gemini-cli', [])).toEqual(['--yolo']);
    expect(scriptArgs('qwen-code', ['--yolo'])).toEqual([]);
  });
});

async function records(outDir: string, run: RunEntry): Promise<ExchangeRecord[]> {
  return (await readExchanges(path.join(outDir, 'runs', run.id))).records;
}

function scenarioWith(name: string, extra: Record<string, unknown>) {
  return validateScenario(
    {
      name,
      agent: { command: ['node', toolAgent] },
      route: 'reverse',
      workspace,
      stub_script: DEFAULT_STUB_SCRIPT,
      repetitions: 1,
      timeout: '20s',
      jobs: 2,
      ...extra,
    },
    name,
  );
}

describe('stub_script through the runner and the real proxy (a plain agent.command)', () => {
  it('every run plays the script turn by turn, the tool results go back, and the differ finds a byte planted in turn 2\'s tool-result wrapper', async () => {
    const outDir = path.join(dir, 'played');
    // Pinned: the tool results carry a local timestamp, whose date differs between the zones after 16:00 UTC on the real clock.
    const scenario = scenarioWith('played', { axes: { TZ: ['UTC', 'Asia/Shanghai'] }, clock: '2026-07-01T12:00:00Z', repetitions: 2, env: { set: { PLANT_TURN2: '1' } } });
    const result = await runScenario({ scenario, outDir, certsDir: path.join(dir, 'certs'), progress: silentProgress });
    const explain = result.manifest.runs.map((r) => `${r.id} ${r.status} ${r.message ?? ''}`).join('\n');
    expect(result.exitCode, explain).toBe(0);
    for (const run of result.manifest.runs) {
      const recs = await records(outDir, run);
      expect(recs.map((r) => r.stubTurn), run.id).toEqual([
        { index: 0, tool: 'Bash', generic: 'shell', reason: '0 tool results so far' },
        { index: 1, tool: 'Read', generic: 'read_file', reason: '1 tool result so far' },
        { index: 2, tool: 'LS', generic: 'list_dir', reason: '2 tool results so far' },
        { index: 3, reason: '3 tool results so far' },
      ]);
      const lastTexts = recs.map((r) => r.parsed!.messages.at(-1)!.text);
      expect(lastTexts[1]).toMatch(/^<tool-output\u200b? ran-at="[^"]+">\n42-probe\n<\/tool-output>$/);
      expect(lastTexts[2]).toContain('A tiny project the agents are asked about.');
      expect(lastTexts[3]).toContain('README.md\nindex.js');
      // Read got an absolute path: the run's working directory as the agent sees it.
      expect(recs[2]!.request.body.text).toMatch(/"file_path":"\/[^"]*\/work\/README\.md"/);
      expect(await readFile(path.join(outDir, 'runs', run.id, 'stdout.txt'), 'utf8')).toBe('Done.\n');
    }
    const findings = await diffRunDir(outDir);
    const summary = findings.findings.map((f) => `${f.class} ${f.location.path} by ${f.attribution.axes.join('×')} in ${f.locations.map((l) => l.ordinal).join(',')}`);
    expect(summary).toEqual(['invisible body.messages[4].content[0].content by TZ in 3,4']);
  }, 60_000);

  it('a tool the agent does not declare: the stub refuses the turn, the capture says why, and the run is an error though the agent exits 0', async () => {
    const outDir = path.join(dir, 'undeclared');
    const result = await runScenario({ scenario: scenarioWith('undeclared', { env: { set: { TOOLS: 'Read' } } }), outDir, certsDir: path.join(dir, 'certs'), progress: silentProgress });
    expect(result.exitCode).toBe(3);
    const [run] = result.manifest.runs;
    expect(run!.exitCode).toBe(0);
    expect(run!.status).toBe('error');
    const why = 'stub_script[0]: the generic tool shell is Bash or run_shell_command or exec or exec_command or shell or bash or Execute for agent.command, but the request declares none of them; it declares: Read';
    expect(run!.message).toContain(`${why} (exit code 0)`);
    const [rec] = await records(outDir, run!);
    expect(rec!.response!.status).toBe(400);
    expect(rec!.stubTurn).toEqual({ index: 0, reason: '0 tool results so far', error: why });
    expect(rec!.errors).toEqual([{ stage: 'upstream', message: why }]);
    expect(JSON.parse(rec!.response!.body.text)).toMatchObject({ error: { message: `promptdiff ${why}` } });
  }, 30_000);

  it('an agent that stops asking before the script ends (unstreamed replies): the run is an error naming the turns never played', async () => {
    const outDir = path.join(dir, 'stopped');
    const result = await runScenario({ scenario: scenarioWith('stopped', { env: { set: { MAX_TURNS: '2', STREAM: '0' } } }), outDir, certsDir: path.join(dir, 'certs'), progress: silentProgress });
    const [run] = result.manifest.runs;
    expect(run!.status).toBe('error');
    expect(run!.message).toMatch(/^stub_script: turns 2, 3 of 4 never asked for \(played: 0, 1\) \(exit code 0\)/);
    const recs = await records(outDir, run!);
    expect(recs.map((r) => [r.parsed!.stream, r.stubTurn?.index])).toEqual([
      [false, 0],
      [false, 1],
    ]);
  }, 30_000);
});

describe('stub_script with the canary (Claude-style Bash, Read, LS; forward route)', () => {
  it('plays the default script, and the differ finds the toolwrap plant that only the second tool result carries', async () => {
    const outDir = path.join(dir, 'canary');
    const scenario = validateScenario(
      {
        name: 'canary-script',
        agent: { command: ['node', canary, '--task', 'Check the workspace.', '--plant', 'toolwrap@2:tz=^Asia/'] },
        route: 'forward',
        workspace,
        stub_script: DEFAULT_STUB_SCRIPT,
        axes: { TZ: ['UTC', 'Asia/Shanghai'] },
        repetitions: 2,
        clock: '2026-07-01T12:00:00Z',
        timeout: '20s',
        jobs: 2,
      },
      'canary-script',
    );
    const result = await runScenario({ scenario, outDir, certsDir: path.join(dir, 'certs'), progress: silentProgress });
    const explain = result.manifest.runs.map((r) => `${r.id} ${r.status} ${r.message ?? ''}`).join('\n');
    expect(result.exitCode, explain).toBe(0);
    for (const run of result.manifest.runs) {
      const recs = await records(outDir, run);
      // The title side call declares no tools: the ordinary reply. Then the script, turn by turn.
      expect(recs.map((r) => [r.stubTurn?.index, r.stubTurn?.tool ?? r.stubTurn?.reason]), run.id).toEqual([
        [null, 'declares no tools'],
        [0, 'Bash'],
        [1, 'Read'],
        [2, 'LS'],
        [3, '3 tool results so far'],
      ]);
      expect(recs[2]!.parsed!.messages.at(-1)!.text).toContain('42-probe');
      expect(await readFile(path.join(outDir, 'runs', run.id, 'stdout.txt'), 'utf8')).toContain('Done.');
    }
    const findings = await diffRunDir(outDir);
    const summary = findings.findings.map((f) => `${f.location.path} by ${f.attribution.axes.join('×')} in ${f.locations.map((l) => l.ordinal).join(',')}`);
    // The second tool result (the README read) is messages[4]; requests 3 and 4 of the main turn carry it.
    expect(summary).toEqual(['body.messages[4].content[0].content by TZ in 3,4']);
    const changed = findings.findings[0]!.attribution.groups.find((g) => !g.baseline)!;
    expect(changed.values.TZ).toEqual(['Asia/Shanghai']);
    // The span is the space the plant puts before the wrapper's '>': <file > instead of <file>.
    expect(changed.text).toBe(' ');
    expect(findings.findings[0]!.class).toBe('whitespace-lookalike');
  }, 60_000);
});
