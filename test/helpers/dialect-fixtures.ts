import type { SseEvent } from '../../src/capture/schema.js';
import { parseSse, type RequestHead, type StubReply } from '../../src/dialects/index.js';

/** What every dialect's tests share: request heads, the characters this tool exists to catch, SSE and JSON Schema checks. */
export const head = (method: string, path: string, headers: RequestHead['headers'] = {}): RequestHead => ({
  method,
  path,
  headers,
});
export const post = (path: string): RequestHead => head('POST', path);

/** The characters this tool exists to catch: a curly apostrophe, a zero-width space, a tag character. */
export const TRICKY = 'it\u2019s\u200b here\u{E0041}';
export const STUB_TEXT = 'Stub reply \u2019quoted\u2019 \u{1F600} with an astral emoji and enough words to split.';

export function sseOf(reply: StubReply): SseEvent[] {
  return parseSse(reply.chunks.join(''));
}

export function dataOf(ev: SseEvent): Record<string, unknown> {
  return JSON.parse(ev.data) as Record<string, unknown>;
}

export function hasLoneSurrogate(s: string): boolean {
  return /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

/** Just enough JSON Schema to check the stub's structured outputs: types, enums, properties, items. */
export function validates(schema: unknown, value: unknown, root: unknown = schema): boolean {
  if (typeof schema !== 'object' || schema === null) return true;
  const s = schema as Record<string, unknown>;
  if (typeof s.$ref === 'string') {
    const target = s.$ref
      .slice(2)
      .split('/')
      .reduce<unknown>((n, k) => (n as Record<string, unknown>)[k], root);
    return validates(target, value, root);
  }
  if ('const' in s) return JSON.stringify(s.const) === JSON.stringify(value);
  if (Array.isArray(s.enum)) return s.enum.some((e) => JSON.stringify(e) === JSON.stringify(value));
  if (Array.isArray(s.anyOf)) return s.anyOf.some((b) => validates(b, value, root));
  if (Array.isArray(s.oneOf)) return s.oneOf.filter((b) => validates(b, value, root)).length === 1;
  const types = (Array.isArray(s.type) ? s.type : s.type === undefined ? [] : [s.type]).map((t) =>
    String(t).toLowerCase(),
  );
  if (s.nullable === true && value === null) return true;
  const kind =
    value === null
      ? 'null'
      : Array.isArray(value)
        ? 'array'
        : Number.isInteger(value)
          ? 'integer'
          : typeof value;
  if (types.length > 0 && !types.includes(kind) && !(kind === 'integer' && types.includes('number'))) return false;
  if (kind === 'object') {
    const obj = value as Record<string, unknown>;
    for (const r of (s.required as string[] | undefined) ?? []) if (!(r in obj)) return false;
    const props = (s.properties as Record<string, unknown> | undefined) ?? {};
    for (const [k, v] of Object.entries(obj)) {
      if (k in props) {
        if (!validates(props[k], v, root)) return false;
      } else if (s.additionalProperties === false) return false;
    }
  }
  if (kind === 'array') {
    const a = value as unknown[];
    if (typeof s.minItems === 'number' && a.length < s.minItems) return false;
    if (typeof s.maxItems === 'number' && a.length > s.maxItems) return false;
    if (!a.every((x) => validates(s.items, x, root))) return false;
  }
  if (kind === 'string') {
    const n = Array.from(value as string).length;
    if (typeof s.minLength === 'number' && n < s.minLength) return false;
    if (typeof s.maxLength === 'number' && n > s.maxLength) return false;
  }
  if (kind === 'integer' || kind === 'number') {
    const n = value as number;
    if (typeof s.minimum === 'number' && n < s.minimum) return false;
    if (typeof s.maximum === 'number' && n > s.maximum) return false;
    if (typeof s.exclusiveMinimum === 'number' && n <= s.exclusiveMinimum) return false;
    if (typeof s.exclusiveMaximum === 'number' && n >= s.exclusiveMaximum) return false;
  }
  return true;
}
