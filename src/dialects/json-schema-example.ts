import { isRecord } from './common.js';

/**
 * A value that satisfies `schema`, for stubs answering structured-output requests. Agents such as
 * Gemini CLI ask for JSON (its model router, its next-speaker check) and retry or loop when the
 * reply does not parse, so the stub must return something the schema accepts.
 *
 * Covers JSON Schema as the APIs accept it and Gemini's OpenAPI subset (upper-case type names,
 * `nullable`). Not a solver: `pattern`, `not` and cross-field rules are ignored.
 */
export function exampleFromJsonSchema(schema: unknown, text = 'stub'): unknown {
  return example(schema, { root: schema, text, depth: 0 });
}

interface Ctx {
  root: unknown;
  text: string;
  depth: number;
}

// A recursive $ref (a tree node whose children are tree nodes) must end somewhere.
const MAX_DEPTH = 12;

function example(schema: unknown, ctx: Ctx): unknown {
  if (!isRecord(schema)) return ctx.text; // `true`, `{}`-like or garbage: anything goes
  if (ctx.depth > MAX_DEPTH) return null;
  const next: Ctx = { ...ctx, depth: ctx.depth + 1 };

  if (typeof schema.$ref === 'string') return example(resolveRef(ctx.root, schema.$ref), next);
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  for (const key of ['anyOf', 'oneOf'] as const) {
    const branches = schema[key];
    if (Array.isArray(branches) && branches.length > 0) {
      // Prefer a branch that carries content; a null branch is valid but tells the agent nothing.
      const pick = branches.find((b) => !(isRecord(b) && lower(b.type) === 'null')) ?? branches[0];
      return example(pick, next);
    }
  }
  if (Array.isArray(schema.allOf) && schema.allOf.length > 0) {
    const parts = schema.allOf.map((s) => example(s, next));
    if (parts.every(isRecord)) return Object.assign({}, ...parts);
    return parts[0];
  }

  switch (typeOf(schema)) {
    case 'object':
      return objectExample(schema, next);
    case 'array':
      return arrayExample(schema, next);
    case 'string':
      return stringExample(schema, ctx.text);
    case 'integer':
      return numberExample(schema, true);
    case 'number':
      return numberExample(schema, false);
    case 'boolean':
      return false;
    case 'null':
      return null;
    default:
      return ctx.text;
  }
}

function lower(v: unknown): string | undefined {
  return typeof v === 'string' ? v.toLowerCase() : undefined;
}

function typeOf(schema: Record<string, unknown>): string | undefined {
  const t = schema.type;
  if (Array.isArray(t)) {
    const names = t.map(lower).filter((n): n is string => n !== undefined);
    return names.find((n) => n !== 'null') ?? names[0];
  }
  if (typeof t === 'string') return t.toLowerCase();
  if (isRecord(schema.properties)) return 'object';
  if (schema.items !== undefined || schema.prefixItems !== undefined) return 'array';
  return undefined;
}

function resolveRef(root: unknown, ref: string): unknown {
  if (!ref.startsWith('#')) return undefined;
  let node: unknown = root;
  for (const raw of ref.slice(1).split('/').filter((s) => s !== '')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    node = isRecord(node) ? node[key] : Array.isArray(node) ? node[Number(key)] : undefined;
  }
  return node;
}

function objectExample(schema: Record<string, unknown>, ctx: Ctx): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const props = isRecord(schema.properties) ? schema.properties : {};
  // Gemini lets a schema fix the key order; keep it so the JSON reads like the real model's.
  const order = Array.isArray(schema.propertyOrdering)
    ? schema.propertyOrdering.filter((k): k is string => typeof k === 'string')
    : [];
  for (const key of [...order, ...Object.keys(props)]) {
    if (key in out || !(key in props)) continue;
    out[key] = example(props[key], ctx);
  }
  // A required name without a property schema still has to be present.
  for (const key of Array.isArray(schema.required) ? schema.required : []) {
    if (typeof key === 'string' && !(key in out)) out[key] = ctx.text;
  }
  return out;
}

function arrayExample(schema: Record<string, unknown>, ctx: Ctx): unknown[] {
  const max = typeof schema.maxItems === 'number' ? schema.maxItems : Infinity;
  const min = typeof schema.minItems === 'number' ? schema.minItems : 0;
  const count = Math.min(Math.max(1, min), max);
  if (Array.isArray(schema.prefixItems)) {
    const head = schema.prefixItems.slice(0, count).map((s) => example(s, ctx));
    const rest = isRecord(schema.items) ? schema.items : undefined;
    while (head.length < count) head.push(example(rest, ctx));
    return head;
  }
  return Array.from({ length: count }, () => example(schema.items, ctx));
}

const FORMATS: Record<string, string> = {
  'date-time': '1970-01-01T00:00:00Z',
  date: '1970-01-01',
  time: '00:00:00Z',
  email: 'stub@example.com',
  uri: 'https://example.com/',
  url: 'https://example.com/',
  uuid: '00000000-0000-4000-8000-000000000000',
};

function stringExample(schema: Record<string, unknown>, text: string): string {
  const fmt = typeof schema.format === 'string' ? FORMATS[schema.format] : undefined;
  let s = fmt ?? text;
  const min = typeof schema.minLength === 'number' ? schema.minLength : 0;
  const max = typeof schema.maxLength === 'number' ? schema.maxLength : Infinity;
  // Lengths count code points in JSON Schema, so pad and cut on code points.
  const cps = Array.from(s);
  while (cps.length < min) cps.push('x');
  if (cps.length > max) cps.length = max;
  s = cps.join('');
  return s;
}

function numberExample(schema: Record<string, unknown>, integer: boolean): number {
  const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
  // Draft 4 spells exclusivity as a boolean next to minimum/maximum; later drafts as a number.
  const exMin = num(schema.exclusiveMinimum) ?? (schema.exclusiveMinimum === true ? num(schema.minimum) : undefined);
  const exMax = num(schema.exclusiveMaximum) ?? (schema.exclusiveMaximum === true ? num(schema.maximum) : undefined);
  const min = exMin === undefined ? num(schema.minimum) : undefined;
  const max = exMax === undefined ? num(schema.maximum) : undefined;
  let v: number;
  if (min !== undefined) v = integer ? Math.ceil(min) : min;
  else if (exMin !== undefined) v = integer ? Math.floor(exMin) + 1 : exMin + pickStep(exMin, exMax);
  // Unbounded: 1, not 0. Schemas often leave the range to the description ("score from 1-100",
  // Gemini CLI 0.61's model router) and validate it in code; 1 fits those and any count or index.
  else v = 1;
  if (max !== undefined && v > max) v = integer ? Math.floor(max) : max;
  if (exMax !== undefined && v >= exMax) v = integer ? Math.ceil(exMax) - 1 : exMax - pickStep(exMin, exMax);
  return v;
}

// Between two exclusive bounds step to the midpoint; with only one, one unit is enough.
function pickStep(lo: number | undefined, hi: number | undefined): number {
  return lo !== undefined && hi !== undefined ? (hi - lo) / 2 : 1;
}
