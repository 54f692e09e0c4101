import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { factorKind, FACTOR_KINDS } from './index.js';
import type { FactorKind } from './types.js';
import { FactorDefinition } from '../manifest.js';
import { UserError } from '../../errors.js';

export { FactorDefinition };

/**
 * The built-in catalogue (catalogue.yaml beside this module): every factor with its neutral
 * baseline and realistic alternatives, and profiles (the values one kind of machine has together).
 * This module only reads and checks it; the values and their sources live in the YAML.
 */

import { FACTOR_NAME } from './names.js';

export { FACTOR_NAME };

const plainValue = z.union([z.string(), z.number(), z.boolean()]).transform(String);

const FactorEntry = z.strictObject({
  kind: z.string(),
  summary: z.string().min(1),
  /** The value an ordinary developer machine anywhere would have. */
  baseline: plainValue,
  /** Applied to every run in which the factor is not varied, so the host never shows through. */
  neutral: plainValue.optional(),
  values: z.union([z.array(plainValue), z.record(z.string(), z.unknown())]),
});

const ProfileEntry = z.strictObject({
  summary: z.string().min(1),
  values: z.record(z.string(), plainValue),
});

const CatalogueFile = z.strictObject({
  version: z.literal(1),
  factors: z.record(z.string(), FactorEntry),
  profiles: z.record(z.string(), ProfileEntry).default({}),
});

/** A factor as runs use it: its kind, and its values by id (baseline first) with their checked parameters. */
export interface Factor {
  name: string;
  kind: FactorKind<unknown>;
  summary: string;
  baseline: string;
  neutral?: string;
  values: Map<string, unknown>;
}

export interface Profile {
  name: string;
  summary: string;
  values: Record<string, string>;
}

export interface Catalogue {
  factors: Map<string, Factor>;
  profiles: Map<string, Profile>;
}

/** A catalogue (or a manifest's stored factor definitions) that does not check: exit 2, one line. */
export class CatalogueError extends UserError {
  override name = 'CatalogueError';
}

function issueText(error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
  return `${where}${issue?.message ?? 'invalid'}`;
}

/** Checks one factor's entry against its kind; `where` names it in errors. */
export function buildFactor(name: string, entry: FactorDefinition | z.infer<typeof FactorEntry>, where: string): Factor {
  if (!FACTOR_NAME.test(name)) throw new CatalogueError(`${where}: "${name}" is not a factor name (lower-case words joined by dots)`);
  const kind = factorKind(entry.kind);
  if (!kind) {
    throw new CatalogueError(`${where}.kind: unknown factor kind "${entry.kind}" (known: ${FACTOR_KINDS.map((k) => k.kind).join(', ')})`);
  }
  const values = new Map<string, unknown>();
  const check = (id: string, raw: unknown) => {
    const parsed = kind.params.safeParse(raw);
    if (!parsed.success) throw new CatalogueError(`${where}.values.${id}: ${issueText(parsed.error)}`);
    values.set(id, parsed.data);
  };
  if (Array.isArray(entry.values)) {
    if (!kind.plainValues) throw new CatalogueError(`${where}.values: kind ${kind.kind} takes a mapping of value id → parameters`);
    for (const v of [entry.baseline, ...entry.values.map(String)]) if (!values.has(v)) check(v, v);
  } else {
    for (const [id, raw] of Object.entries(entry.values)) check(id, raw);
    if (!values.has(entry.baseline)) throw new CatalogueError(`${where}.baseline: "${entry.baseline}" is not one of its values`);
    // Baseline first, so "the first value is the baseline" holds for every factor.
    const baseline = values.get(entry.baseline);
    values.delete(entry.baseline);
    const rest = [...values];
    values.clear();
    values.set(entry.baseline, baseline);
    for (const [id, p] of rest) values.set(id, p);
  }
  if (entry.neutral !== undefined && !values.has(entry.neutral)) {
    if (kind.plainValues) check(entry.neutral, entry.neutral);
    else throw new CatalogueError(`${where}.neutral: "${entry.neutral}" is not one of its values`);
  }
  return {
    name,
    kind,
    summary: entry.summary,
    baseline: entry.baseline,
    ...(entry.neutral !== undefined ? { neutral: entry.neutral } : {}),
    values,
  };
}

export function parseCatalogue(text: string, where: string): Catalogue {
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw new CatalogueError(`${where}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const parsed = CatalogueFile.safeParse(data);
  if (!parsed.success) throw new CatalogueError(`${where}: ${issueText(parsed.error)}`);
  const factors = new Map<string, Factor>();
  for (const [name, entry] of Object.entries(parsed.data.factors)) factors.set(name, buildFactor(name, entry, `${where}: factors.${name}`));
  const profiles = new Map<string, Profile>();
  for (const [name, entry] of Object.entries(parsed.data.profiles)) {
    for (const [factor, value] of Object.entries(entry.values)) {
      const f = factors.get(factor);
      if (!f) throw new CatalogueError(`${where}: profiles.${name}.values.${factor}: not a factor of the catalogue`);
      if (!f.values.has(value)) throw new CatalogueError(`${where}: profiles.${name}.values.${factor}: "${value}" is not one of its values`);
    }
    profiles.set(name, { name, summary: entry.summary, values: entry.values });
  }
  return { factors, profiles };
}

export const CATALOGUE_FILE = fileURLToPath(new URL('./catalogue.yaml', import.meta.url));

let builtIn: Catalogue | null = null;

export function builtInCatalogue(): Catalogue {
  builtIn ??= parseCatalogue(readFileSync(CATALOGUE_FILE, 'utf8'), CATALOGUE_FILE);
  return builtIn;
}

/** Every string inside a value's parameters (URLs, file contents, names), deepest first. */
function strings(params: unknown): string[] {
  if (typeof params === 'string') return [params];
  if (Array.isArray(params)) return params.flatMap(strings);
  if (params && typeof params === 'object') return Object.values(params).flatMap(strings);
  return [];
}

/** A factor's definition as manifest.json stores it: enough to rerun without the catalogue, and to tell echoes. */
export function definitionOf(factor: Factor): FactorDefinition {
  const shows = (id: string, params: unknown) => [...new Set([id, ...strings(params), ...(factor.kind.shows?.(params) ?? [])])];
  return {
    kind: factor.kind.kind,
    summary: factor.summary,
    baseline: factor.baseline,
    ...(factor.neutral !== undefined ? { neutral: factor.neutral } : {}),
    values: Object.fromEntries(factor.values),
    shows: Object.fromEntries([...factor.values].map(([id, params]) => [id, shows(id, params)])),
  };
}

/**
 * The parameters of `value` for `factor`: a catalogue id, or (for kinds with plain values) any
 * value its kind accepts. Returns an error message instead when neither.
 */
export function valueParams(factor: Factor, value: string): { params: unknown } | { error: string } {
  if (factor.values.has(value)) return { params: factor.values.get(value) };
  if (!factor.kind.plainValues) {
    return { error: `"${value}" is not a value of ${factor.name} (known: ${[...factor.values.keys()].join(', ')})` };
  }
  const parsed = factor.kind.params.safeParse(value);
  return parsed.success ? { params: parsed.data } : { error: issueText(parsed.error) };
}
