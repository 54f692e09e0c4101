import { readInputText } from '../input-file.js';
import path from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { ScenarioSchema, type Scenario } from './schema.js';
import { distance } from '../levenshtein.js';
import { UserError } from '../errors.js';

/** A problem the user can fix in their scenario file: the CLI prints the message (no stack) and exits 2. */
export class ScenarioError extends UserError {
  override readonly name = 'ScenarioError';
}

export interface LoadedScenario {
  scenario: Scenario;
  /** Absolute path of the file, or null when the scenario came from memory. */
  file: string | null;
  /** Directory that relative paths in the scenario are resolved against. */
  baseDir: string;
}

/** `axes.TZ[1]`, `agent.command`, `(top level)`: the notation a user searches their file for. */
export function formatPath(p: readonly PropertyKey[]): string {
  let out = '';
  for (const key of p) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(top level)' : out;
}

/** zod's definition of a schema node, as far as the key lookup below needs it. */
interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  options?: z.ZodType[];
  innerType?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
  in?: z.ZodType;
}

function defOf(schema: z.ZodType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

/**
 * The keys an object may have at `at` in the scenario schema (a union offers every branch's keys),
 * so a misspelt key is matched against its own object's keys, not the whole file's.
 */
function keysAt(schema: z.ZodType, at: readonly PropertyKey[]): Set<string> {
  const def = defOf(schema);
  const out = new Set<string>();
  switch (def.type) {
    case 'object': {
      if (at.length === 0) return new Set(Object.keys(def.shape ?? {}));
      const next = def.shape?.[String(at[0])];
      return next ? keysAt(next, at.slice(1)) : out;
    }
    case 'union':
      for (const option of def.options ?? []) for (const k of keysAt(option, at)) out.add(k);
      return out;
    case 'array':
      return at.length && def.element ? keysAt(def.element, at.slice(1)) : out;
    case 'record':
      return at.length && def.valueType ? keysAt(def.valueType, at.slice(1)) : out;
    case 'pipe':
      return def.in ? keysAt(def.in, at) : out;
    default:
      return def.innerType ? keysAt(def.innerType, at) : out;
  }
}

/** The known key closest to a misspelt one, within two edits. */
function nearest(key: string, known: Iterable<string>): string | undefined {
  let best: { known: string; d: number } | undefined;
  for (const k of known) {
    const d = distance(key, k);
    if (d <= 2 && (!best || d < best.d)) best = { known: k, d };
  }
  return best?.known;
}

function unknownKeys(keys: readonly string[], at: readonly PropertyKey[]): string {
  const known = keysAt(ScenarioSchema, at);
  return keys
    .map((key) => {
      const near = nearest(key, known);
      return `unknown field "${key}"${near ? ` (did you mean "${near}"?)` : ''}`;
    })
    .join('; ');
}

/**
 * zod reports a union (agent: {command} or {preset}) that no branch accepts with one generic
 * message; when a branch failed on a misspelt key, that key is what the user needs to hear about.
 */
function describeUnion(issue: z.core.$ZodIssueInvalidUnion): string | null {
  const keys = new Set<string>();
  for (const branch of issue.errors) {
    for (const sub of branch) if (sub.code === 'unrecognized_keys' && sub.path.length === 0) for (const k of sub.keys) keys.add(k);
  }
  return keys.size ? unknownKeys([...keys], issue.path) : null;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return unknownKeys(issue.keys, issue.path);
  if (issue.code === 'invalid_union') return describeUnion(issue) ?? issue.message;
  return issue.message;
}

export function formatIssues(where: string, error: z.ZodError): string {
  const lines = error.issues.map((issue) => `  ${formatPath(issue.path)}: ${describeIssue(issue)}`);
  return `${where}: invalid scenario\n${lines.join('\n')}`;
}

/** Validates an already-parsed scenario object; `where` names it in errors. */
export function validateScenario(data: unknown, where: string): Scenario {
  const result = ScenarioSchema.safeParse(data);
  if (!result.success) throw new ScenarioError(formatIssues(where, result.error));
  return result.data;
}

/**
 * Scenarios are small. Aliases are refused past a handful: a "billion laughs" file of nested aliases
 * expands exponentially, and the YAML library's own limit throws something that is not a parse error.
 */
const YAML_OPTIONS = { prettyErrors: true, maxAliasCount: 100, uniqueKeys: true } as const;

function parseText(text: string, file: string): unknown {
  if (file.endsWith('.json')) {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new ScenarioError(`${file}: not valid JSON: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  try {
    return parseYaml(text, YAML_OPTIONS);
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const at = err.linePos?.[0];
      const where = at ? `${file}:${at.line}:${at.col}` : file;
      throw new ScenarioError(`${where}: not valid YAML: ${err.message.split('\n')[0]}`);
    }
    if (err instanceof ReferenceError && /alias/i.test(err.message)) {
      throw new ScenarioError(`${file}: not a usable scenario: too many YAML aliases (limit ${YAML_OPTIONS.maxAliasCount}); write the values out`);
    }
    if (err instanceof RangeError) throw new ScenarioError(`${file}: not a usable scenario: nested too deeply`);
    throw new ScenarioError(`${file}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** Reads a YAML or JSON scenario file and validates it. */
export async function loadScenario(file: string): Promise<LoadedScenario> {
  const abs = path.resolve(file);
  const text = await readInputText(file, 'scenario', (message) => new ScenarioError(message.replace(/: cannot read \(/, ': cannot read scenario file (')));
  if (text === null) throw new ScenarioError(`${file}: cannot read scenario file (ENOENT)`);
  const data = parseText(text, file);
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ScenarioError(`${file}: expected a mapping at the top level (name:, agent:, axes:, ...)`);
  }
  return { scenario: validateScenario(data, file), file: abs, baseDir: path.dirname(abs) };
}
