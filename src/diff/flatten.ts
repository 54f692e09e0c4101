import type { ExchangeRecord } from '../capture/schema.js';

/**
 * Headers that describe the connection or the body's framing rather than what the agent said;
 * they change with transport details the agent does not choose.
 */
const TRANSPORT_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
]);

/** Headers promptdiff's own proxy or runner may add: never the agent's doing. */
function isOwnHeader(name: string): boolean {
  return name.startsWith('x-promptdiff');
}

/** Every outbound field of one exchange, as path → exact string. Insertion order is kept for reports. */
export type Fields = Map<string, string>;

const IDENT = /^[A-Za-z_$][\w$-]*$/;

function child(path: string, key: string): string {
  return IDENT.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/**
 * One array of an exchange's body as walked: where each element's fields lie in the field order
 * (a depth-first walk keeps an element's fields together), and what the element is. The element
 * aligner (elements.ts) reads this to give the same logical element the same path in every run.
 */
export interface ArrayShape {
  /** The array's path as flattened (indices as sent). */
  path: string;
  /** Where its fields begin in the field order (for an empty array: where they would be). */
  at: number;
  elements: ElementShape[];
}

export interface ElementShape {
  /** The element's fields: positions [start, end) in the exchange's field order. */
  start: number;
  end: number;
  /** The JSON type, and for an object its `role` and `type` when they are strings. */
  kind: string;
  /** An object's `name` (or `function.name`, OpenAI's tools) when it is a string: a tool's identity. */
  name: string | null;
  /** Arrays inside this element (not inside their own elements), in walk order. */
  arrays: ArrayShape[];
}

function kindOf(value: unknown): { kind: string; name: string | null } {
  if (Array.isArray(value)) return { kind: 'array', name: null };
  if (value === null) return { kind: 'null', name: null };
  if (typeof value !== 'object') return { kind: typeof value, name: null };
  const o = value as Record<string, unknown>;
  const role = typeof o.role === 'string' ? ` role=${o.role}` : '';
  const type = typeof o.type === 'string' ? ` type=${o.type}` : '';
  const fn = o.function !== null && typeof o.function === 'object' ? (o.function as Record<string, unknown>).name : undefined;
  const name = typeof o.name === 'string' ? o.name : typeof fn === 'string' ? fn : null;
  return { kind: `object${role}${type}`, name };
}

/** `arrays`, when given, collects the shape of every array met (null: flatten only). */
function walk(value: unknown, path: string, out: Fields, arrays: ArrayShape[] | null): void {
  if (Array.isArray(value)) {
    if (arrays === null) {
      for (let i = 0; i < value.length; i++) walk(value[i], `${path}[${i}]`, out, null);
      return;
    }
    const shape: ArrayShape = { path, at: out.size, elements: [] };
    arrays.push(shape);
    for (let i = 0; i < value.length; i++) {
      const el: ElementShape = { start: out.size, end: 0, ...kindOf(value[i]), arrays: [] };
      walk(value[i], `${path}[${i}]`, out, el.arrays);
      el.end = out.size;
      shape.elements.push(el);
    }
    return;
  }
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    // Key order is a channel too (an encoder can permute keys); record it where it can vary.
    if (keys.length > 1) out.set(`${path}{keys}`, keys.join(','));
    for (const key of keys) walk((value as Record<string, unknown>)[key], child(path, key), out, arrays);
    return;
  }
  // Strings compare on exact code points; other scalars on their JSON spelling.
  out.set(path, typeof value === 'string' ? value : JSON.stringify(value));
}

/** The exchange's fields; `arrays`, when given, receives the shape of the body's arrays. */
export function flattenExchange(rec: ExchangeRecord, arrays: ArrayShape[] | null = null): Fields {
  const out: Fields = new Map();
  const req = rec.request;
  out.set('request.line', `${req.method} ${req.path} HTTP/${req.httpVersion}`);
  const seen = new Map<string, number>();
  for (const [rawName, value] of req.headers) {
    const name = rawName.toLowerCase();
    if (TRANSPORT_HEADERS.has(name) || isOwnHeader(name)) continue;
    const n = seen.get(name) ?? 0;
    seen.set(name, n + 1);
    out.set(n === 0 ? `headers.${name}` : `headers.${name}[${n}]`, value);
  }
  const body = req.body;
  if (body.text.length > 0) {
    if (body.encoding === 'base64') {
      out.set('body(base64)', body.text);
    } else {
      let json: unknown;
      let isJson = false;
      try {
        json = JSON.parse(body.text);
        isJson = true;
      } catch {
        // Not JSON: compare the body as one string.
      }
      if (isJson) walk(json, 'body', out, arrays);
      else out.set('body', body.text);
    }
  }
  return out;
}
