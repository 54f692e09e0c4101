import path from 'node:path';
import type { GenericField, GenericInput, ToolMap, ToolTarget } from '../proxy/stub-script-definition.js';

/*
 * Each preset's tools under a stub script: which of its own tools a generic tool becomes, and the
 * flags it needs to run them unattended. Measured on the releases in docs/agents.md by capturing
 * what each declares and running the default script (test/e2e-claude-script.test.ts,
 * test/agents-e2e/). A plain `agent.command` gets SYNONYMS: every preset's tools at once, the
 * first one the request declares wins.
 */

export interface ToolProfile {
  tools: ToolMap;
  /** Flags (each with its values) added to the agent's command when the scenario has a stub_script. */
  scriptArgs: ReadonlyArray<readonly string[]>;
}

/** The first of `names` the declared schema has; the first of all when the schema names none of them. */
function propName(props: ReadonlySet<string>, names: readonly string[]): string {
  return names.find((n) => props.has(n)) ?? names[0]!;
}

function absolute(p: string, workDir: string | undefined): string {
  return workDir === undefined || path.posix.isAbsolute(p) ? p : path.posix.join(workDir, p);
}

interface FieldOptions {
  /** The tool wants absolute paths (its schema says so): a relative generic path is joined to the working directory. */
  absolute?: boolean;
  /** Arguments the tool needs that the generic input does not carry (Glob's pattern for a listing). */
  fixed?: Record<string, unknown>;
}

/**
 * A tool whose arguments are the generic fields renamed: each generic field goes to the first of its
 * names that the declared schema has (releases rename them: Gemini CLI's absolute_path → file_path,
 * path → dir_path). A property named `absolute_path` always gets an absolute path.
 */
function renamed(name: string, fields: Partial<Record<GenericField, readonly string[]>>, options: FieldOptions = {}): ToolTarget {
  return {
    name,
    input(generic, at) {
      const out: Record<string, unknown> = { ...options.fixed };
      for (const [field, names] of Object.entries(fields) as Array<[GenericField, readonly string[]]>) {
        const value = generic[field];
        if (value === undefined) continue;
        const prop = propName(at.props, names);
        out[prop] = field === 'path' && (options.absolute || prop === 'absolute_path') ? absolute(value, at.workDir) : value;
      }
      return out;
    },
  };
}

/** POSIX shell single quotes. */
function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The shell command that does what a generic tool does, for agents whose only tool is a shell. */
const AS_COMMAND: Record<'shell' | 'read_file' | 'list_dir' | 'search', (g: GenericInput) => string> = {
  shell: (g) => g.command ?? '',
  read_file: (g) => `cat -- ${quote(g.path ?? '')}`,
  list_dir: (g) => `ls -A -- ${quote(g.path ?? '.')}`,
  search: (g) => `grep -rn -- ${quote(g.pattern ?? '')} ${quote(g.path ?? '.')}`,
};

/**
 * Codex 0.169's one model-facing tool is `exec` (namespace `functions`), a free-form tool whose input
 * is JavaScript calling nested tools: `tools.exec_command({cmd})` runs a shell command,
 * `tools.apply_patch(patch)` edits files. Older releases declare `exec_command` {cmd} or `shell`
 * {command: argv} directly.
 */
function codexExec(script: (g: GenericInput) => string): ToolTarget {
  return { name: 'exec', input: (g) => script(g) };
}

function codexShell(command: (g: GenericInput) => string): ToolTarget[] {
  return [
    codexExec((g) => `const r = await tools.exec_command(${JSON.stringify({ cmd: command(g) })});\ntext(r.output);`),
    { name: 'exec_command', input: (g) => ({ cmd: command(g) }) },
    { name: 'shell', input: (g) => ({ command: ['bash', '-lc', command(g)] }) },
  ];
}

/** An apply_patch patch that creates `path` with `content` (Codex's own way to write a file). */
function addFilePatch(g: GenericInput): string {
  const lines = (g.content ?? '').replace(/\n$/, '').split('\n');
  return ['*** Begin Patch', `*** Add File: ${g.path ?? ''}`, ...lines.map((l) => `+${l}`), '*** End Patch', ''].join('\n');
}

const CLAUDE_CODE: ToolMap = {
  shell: [renamed('Bash', { command: ['command'] })],
  read_file: [renamed('Read', { path: ['file_path'] }, { absolute: true })],
  // LS went away in the 2.x releases; Glob lists a directory as well.
  list_dir: [renamed('LS', { path: ['path'] }, { absolute: true }), renamed('Glob', { path: ['path'] }, { absolute: true, fixed: { pattern: '*' } })],
  write_file: [renamed('Write', { path: ['file_path'], content: ['content'] }, { absolute: true })],
  search: [renamed('Grep', { pattern: ['pattern'], path: ['path'] })],
};

const CODEX: ToolMap = {
  shell: codexShell(AS_COMMAND.shell),
  read_file: codexShell(AS_COMMAND.read_file),
  list_dir: codexShell(AS_COMMAND.list_dir),
  write_file: [codexExec((g) => `const r = await tools.apply_patch(${JSON.stringify(addFilePatch(g))});\ntext(JSON.stringify(r));`), { name: 'apply_patch', input: (g) => ({ input: addFilePatch(g) }) }],
  search: codexShell(AS_COMMAND.search),
};

const GEMINI_CLI: ToolMap = {
  shell: [renamed('run_shell_command', { command: ['command'] })],
  read_file: [renamed('read_file', { path: ['file_path', 'absolute_path'] })],
  list_dir: [renamed('list_directory', { path: ['dir_path', 'path'] })],
  write_file: [renamed('write_file', { path: ['file_path'], content: ['content'] })],
  search: [renamed('grep_search', { pattern: ['pattern'], path: ['dir_path', 'path'] }), renamed('search_file_content', { pattern: ['pattern'], path: ['path', 'dir_path'] })],
};

// Qwen Code's file tools take absolute paths only ("Relative paths are not supported"); 0.24.4 declares no list_directory.
const QWEN_CODE: ToolMap = {
  shell: [renamed('run_shell_command', { command: ['command'] })],
  read_file: [renamed('read_file', { path: ['file_path', 'absolute_path'] }, { absolute: true })],
  list_dir: [renamed('list_directory', { path: ['path', 'dir_path'] }, { absolute: true }), renamed('glob', { path: ['path'] }, { absolute: true, fixed: { pattern: '*' } })],
  write_file: [renamed('write_file', { path: ['file_path'], content: ['content'] }, { absolute: true })],
  search: [renamed('grep_search', { pattern: ['pattern'], path: ['path'] }, { absolute: true })],
};

/** A shell command that writes `content` to `path` (for agents whose only writing tool is the shell or a free-form patch). */
function writeCommand(g: GenericInput): string {
  return `printf '%s' ${quote(g.content ?? '')} > ${quote(g.path ?? '')}`;
}

/** A tool that takes one shell command plus fields the generic input lacks (a summary, a risk level). */
function shellWith(name: string, command: (g: GenericInput) => string, fixed: Record<string, unknown> = {}): ToolTarget {
  return { name, input: (g) => ({ ...fixed, command: command(g) }) };
}

// opencode 1.18 and its fork Kilo 7.7 declare bash, read, glob, grep, write, edit (no list: older opencode had one).
const OPENCODE: ToolMap = {
  shell: [renamed('bash', { command: ['command'] })],
  read_file: [renamed('read', { path: ['filePath'] }, { absolute: true })],
  list_dir: [renamed('list', { path: ['path'] }, { absolute: true }), renamed('glob', { path: ['path'] }, { absolute: true, fixed: { pattern: '*' } })],
  write_file: [renamed('write', { path: ['filePath'], content: ['content'] }, { absolute: true })],
  search: [renamed('grep', { pattern: ['pattern'], path: ['path'] }, { absolute: true })],
};

// Copilot CLI 1.0.102 (gpt models): bash needs a description; view reads files and lists directories
// (absolute paths); files are written with apply_patch, a free-form (custom) Chat tool, so the shell writes instead.
const COPILOT_DESCRIPTION = { description: 'promptdiff stub script step' };
const COPILOT: ToolMap = {
  shell: [shellWith('bash', AS_COMMAND.shell, COPILOT_DESCRIPTION)],
  read_file: [renamed('view', { path: ['path'] }, { absolute: true })],
  list_dir: [renamed('view', { path: ['path'] }, { absolute: true })],
  write_file: [shellWith('bash', writeCommand, COPILOT_DESCRIPTION)],
  search: [{ name: 'rg', input: (g, at) => ({ pattern: g.pattern ?? '', paths: absolute(g.path ?? '.', at.workDir), output_mode: 'content' }) }, shellWith('bash', AS_COMMAND.search, COPILOT_DESCRIPTION)],
};

// Continue CLI 1.5.47: Read {filepath}, List {dirpath}, Bash; Write/Edit only with --auto; no search tool.
const CONTINUE: ToolMap = {
  shell: [renamed('Bash', { command: ['command'] })],
  read_file: [renamed('Read', { path: ['filepath'] })],
  list_dir: [renamed('List', { path: ['dirpath'] })],
  write_file: [renamed('Write', { path: ['filepath'], content: ['content'] }), shellWith('Bash', writeCommand)],
  search: [shellWith('Bash', AS_COMMAND.search)],
};

// Factory droid 0.225: Execute wants a summary (3-8 words, sentence case) and a risk level; LS and Read want absolute paths.
const FACTORY_RISK = { summary: 'Run the stub script step', riskLevel: 'low', riskLevelReason: 'The promptdiff stub script asks for this command.' };
const FACTORY: ToolMap = {
  shell: [shellWith('Execute', AS_COMMAND.shell, FACTORY_RISK)],
  read_file: [renamed('Read', { path: ['file_path'] }, { absolute: true })],
  list_dir: [renamed('LS', { path: ['directory_path'] }, { absolute: true })],
  write_file: [renamed('Create', { path: ['file_path'], content: ['content'] }, { absolute: true }), shellWith('Execute', writeCommand, { ...FACTORY_RISK, riskLevel: 'medium' })],
  search: [renamed('Grep', { pattern: ['pattern'], path: ['path'] }, { absolute: true })],
};

/*
 * Without these flags (measured, docs/agents.md): Claude Code -p runs only commands it deems
 * read-only and reads only inside the working directory, answering the rest with a refusal as the
 * tool result (--dangerously-skip-permissions refuses to run as root, which every run is inside its
 * namespace); Codex's default read-only sandbox fails writes; Gemini CLI and Qwen Code -p do not
 * even declare their shell and write tools.
 */
export const TOOL_PROFILES: Record<string, ToolProfile> = {
  'claude-code': { tools: CLAUDE_CODE, scriptArgs: [['--allowedTools', 'Bash Read Write Edit Glob Grep LS']] },
  codex: { tools: CODEX, scriptArgs: [['--sandbox', 'workspace-write']] },
  'gemini-cli': { tools: GEMINI_CLI, scriptArgs: [['--yolo']] },
  'qwen-code': { tools: QWEN_CODE, scriptArgs: [['--yolo']] },
  opencode: { tools: OPENCODE, scriptArgs: [] },
  // Kilo's run auto-rejects bash ("pass --auto for autonomous use"); opencode's runs it unasked.
  kilo: { tools: OPENCODE, scriptArgs: [['--auto']] },
  copilot: { tools: COPILOT, scriptArgs: [['--allow-all-tools']] },
  continue: { tools: CONTINUE, scriptArgs: [['--auto']] },
  factory: { tools: FACTORY, scriptArgs: [['--auto', 'high']] },
};

/** Every preset's targets per generic tool, Claude Code's first (the canary speaks its dialect); a name is kept once. */
function union(maps: ToolMap[]): ToolMap {
  const out: ToolMap = {};
  for (const map of maps) {
    for (const [generic, targets] of Object.entries(map) as Array<[keyof ToolMap, readonly ToolTarget[]]>) {
      const list = [...(out[generic] ?? [])];
      for (const t of targets) if (!list.some((x) => x.name === t.name)) list.push(t);
      out[generic] = list;
    }
  }
  return out;
}

/** For a plain `agent.command`: resolved against whatever the request declares. */
export const SYNONYMS: ToolMap = union([CLAUDE_CODE, GEMINI_CLI, QWEN_CODE, CODEX, OPENCODE, COPILOT, CONTINUE, FACTORY]);

/** The tool profile of a preset, or the synonym table (no flags) for a plain command. */
export function toolProfile(preset: string | null): ToolProfile {
  return (preset !== null ? TOOL_PROFILES[preset] : undefined) ?? { tools: SYNONYMS, scriptArgs: [] };
}
