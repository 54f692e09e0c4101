import { z } from 'zod';
import { distance } from '../levenshtein.js';

/*
 * A stub script as data: the scenario's `stub_script` (one model turn per item), the generic tool
 * names it may use, and what a generic tool maps to for an agent. What the stub does with it is in
 * stub-script.ts; which tools each agent has is in agents/tool-maps.ts.
 */

/** The generic tools a script may call, each with the input fields it takes (all strings). */
export const GENERIC_TOOLS = {
  shell: { required: ['command'], optional: [] },
  read_file: { required: ['path'], optional: [] },
  list_dir: { required: [], optional: ['path'] },
  write_file: { required: ['path', 'content'], optional: [] },
  search: { required: ['pattern'], optional: ['path'] },
} as const satisfies Record<string, { required: readonly GenericField[]; optional: readonly GenericField[] }>;

export type GenericTool = keyof typeof GENERIC_TOOLS;
export type GenericField = 'command' | 'path' | 'content' | 'pattern';
export type GenericInput = Partial<Record<GenericField, string>>;

export function isGenericTool(name: string): name is GenericTool {
  return Object.hasOwn(GENERIC_TOOLS, name);
}

/** What the agent's input builder may look at besides the generic input. */
export interface TargetContext {
  /** Property names of the tool's declared input schema (empty when it declares none). */
  props: ReadonlySet<string>;
  /** The agent's working directory as it sees it, when known: relative paths for tools that want absolute ones. */
  workDir?: string;
}

/** One of an agent's tools a generic tool can become. */
export interface ToolTarget {
  /** The tool's name as the agent declares it (a Responses namespace member by its own name). */
  name: string;
  /** The agent's input for the generic one: JSON arguments, or the text of a free-form (custom) tool. */
  input(generic: GenericInput, at: TargetContext): Record<string, unknown> | string;
}

/** Per generic tool, the agent's tools it may become, in order of preference: the first one the request declares is called. */
export type ToolMap = Partial<Record<GenericTool, readonly ToolTarget[]>>;

const NAMES = Object.keys(GENERIC_TOOLS).join(', ');

const Item = z
  .strictObject({
    /** A generic tool name (shell, read_file, list_dir, write_file, search) or the agent's own tool name. */
    tool: z.string().min(1).optional(),
    /** The tool's input: generic fields, the agent tool's own arguments, or the text of a free-form tool. */
    input: z.union([z.record(z.string(), z.unknown()), z.string()]).optional(),
    /** A text turn: what the model says. It ends the agent's turn, so only the last item may be one. */
    text: z.string().optional(),
  })
  .superRefine((item, ctx) => {
    if ((item.tool === undefined) === (item.text === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'expected either {tool: NAME, input: {...}} or {text: "..."}' });
      return;
    }
    if (item.text !== undefined && item.input !== undefined) ctx.addIssue({ code: 'custom', path: ['input'], message: 'only a tool turn takes an input' });
    if (item.tool === undefined || !isGenericTool(item.tool)) return;
    const spec = GENERIC_TOOLS[item.tool];
    const takes = [...spec.required, ...spec.optional] as string[];
    const input = item.input ?? {};
    if (typeof input === 'string') {
      ctx.addIssue({ code: 'custom', path: ['input'], message: `the generic tool ${item.tool} takes {${takes.join(', ')}}, not a string` });
      return;
    }
    for (const field of spec.required) {
      if (input[field] === undefined) ctx.addIssue({ code: 'custom', path: ['input', field], message: `required by the generic tool ${item.tool}` });
    }
    for (const [field, value] of Object.entries(input)) {
      if (!takes.includes(field)) ctx.addIssue({ code: 'custom', path: ['input', field], message: `not an input of the generic tool ${item.tool} (it takes ${takes.join(', ')})` });
      else if (typeof value !== 'string') ctx.addIssue({ code: 'custom', path: ['input', field], message: 'expected a string' });
    }
  });

export const StubScript = z
  .array(Item)
  .min(1, 'expected at least one turn')
  .superRefine((items, ctx) => {
    items.forEach((item, i) => {
      if (item.text !== undefined && item.tool === undefined && i < items.length - 1)
        ctx.addIssue({ code: 'custom', path: [i, 'text'], message: 'a text turn ends the agent\'s turn, so only the last item may be text' });
    });
  });
export type StubScript = z.output<typeof StubScript>;
export type StubScriptItem = StubScript[number];

/**
 * The script the demo and the audit use: a harmless command whose output ("42-probe") appears
 * nowhere in the command, so its presence in a later prompt proves the agent ran it and sent the
 * result back; then a file read (the workspace's README.md), a directory listing, and a text turn
 * that ends the run. Not `echo $((6*7))-probe`: Gemini CLI refuses any `$(` as command
 * substitution, and Qwen Code 0.24.4 runs it with empty output.
 */
export const DEFAULT_STUB_SCRIPT: StubScript = [
  { tool: 'shell', input: { command: "printf '%d-probe\\n' 0x2a" } },
  { tool: 'read_file', input: { path: 'README.md' } },
  { tool: 'list_dir', input: { path: '.' } },
  { text: 'Done.' },
];

/**
 * What can be checked before any request arrives, for an agent whose map is known: a generic name
 * the agent has no mapping for, and a name that is neither generic nor one of its mapped tools but
 * close to a generic name (a typo; any other name is taken as the agent's own tool and checked
 * against the tools each request declares).
 */
export function scriptIssues(items: StubScript, map: ToolMap, agent: string): Array<{ path: Array<string | number>; message: string }> {
  const own = new Set(Object.values(map).flatMap((targets) => targets.map((t) => t.name)));
  const issues: Array<{ path: Array<string | number>; message: string }> = [];
  items.forEach((item, i) => {
    const tool = item.tool;
    if (tool === undefined) return;
    if (isGenericTool(tool)) {
      if (!map[tool]?.length) issues.push({ path: [i, 'tool'], message: `${agent} has no tool for the generic tool ${tool} (mapped: ${Object.keys(map).join(', ') || 'none'})` });
      return;
    }
    if (own.has(tool)) return;
    const near = Object.keys(GENERIC_TOOLS).find((g) => distance(tool, g) <= 2);
    if (near) issues.push({ path: [i, 'tool'], message: `"${tool}" is not a generic tool (did you mean "${near}"? generic: ${NAMES}); an agent's own tool name is used as is` });
  });
  return issues;
}
