import type { HeaderList } from './schema.js';
import { REDACTED, isSecretField } from './secret-values.js';

/** Header names whose values are credentials. Matched case-insensitively. */
const SECRET_HEADERS = new Set([
  'authorization',
  'proxy-authorization',
  'x-api-key',
  'api-key',
  'x-goog-api-key',
  'openai-api-key',
  'anthropic-api-key',
  'cookie',
  'set-cookie',
  'x-amz-security-token',
  'x-auth-token',
]);

/** Query parameters that carry keys (Gemini's ?key=, OAuth tokens). */
const SECRET_QUERY = new Set(['key', 'api_key', 'apikey', 'access_token', 'token']);

export function isSecretHeader(name: string): boolean {
  return SECRET_HEADERS.has(name.toLowerCase());
}

export function redactHeaders(headers: HeaderList): { headers: HeaderList; redacted: string[] } {
  const redacted: string[] = [];
  const out: HeaderList = headers.map(([name, value]) => {
    if (!isSecretHeader(name)) return [name, value];
    redacted.push(name.toLowerCase());
    return [name, REDACTED];
  });
  return { headers: out, redacted: [...new Set(redacted)] };
}

/** Redacts secret query parameters in a path or URL, keeping everything else byte for byte. */
export function redactQuery(pathOrUrl: string): { value: string; redacted: string[] } {
  const q = pathOrUrl.indexOf('?');
  if (q < 0) return { value: pathOrUrl, redacted: [] };
  const redacted: string[] = [];
  const query = pathOrUrl
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = decodeURIComponentSafe(eq < 0 ? pair : pair.slice(0, eq));
      if (eq < 0 || !SECRET_QUERY.has(name.toLowerCase())) return pair;
      redacted.push(`query:${name}`);
      return `${pair.slice(0, eq)}=${encodeURIComponent(REDACTED)}`;
    })
    .join('&');
  return { value: `${pathOrUrl.slice(0, q)}?${query}`, redacted };
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/*
 * Secrets inside JSON bodies: the string value of a field whose name says key, token, secret or
 * password (isSecretField, secret-values.ts), or that the request's dialect names
 * (Dialect.secretBodyFields: Qoder's personal_token), is replaced by its tag (SecretValues.add): the one tag
 * of that value everywhere else too, and registered, so the value is replaced wherever else it
 * appears. Equal secrets get equal tags and different ones differ, so the differ still sees
 * whether a value changed.
 */

/** What stands for a secret value in a record: SecretValues.add. */
export type Tagger = (value: string) => string;

/** Field names repeat across bodies (type, text, name...): each is judged once. */
const fieldVerdicts = new Map<string, boolean>();

/** A secret field: named like one (isSecretField), or named by the request's dialect (Dialect.secretBodyFields). */
function secretName(name: string, extra: readonly string[]): boolean {
  if (extra.length > 0 && extra.includes(name)) return true;
  let v = fieldVerdicts.get(name);
  if (v === undefined) {
    v = isSecretField(name);
    if (fieldVerdicts.size < 10_000) fieldVerdicts.set(name, v);
  }
  return v;
}

/**
 * A string value under a key whose name holds one of isSecretField's words (its first test),
 * escapes other than \u allowed in the name: the regular expression finds each `":"` natively
 * and looks back from it, ~0.5 ns a byte.
 */
const SECRET_KEY = /"\s*:\s*"(?<=(?:key|token|secret|pass|pwd|credential)(?:[^"\\]|\\.)*"\s*:\s*")/i;
/**
 * A key with a letter spelled as a \u escape, which could spell one of the words (only ASCII
 * letters can: the words match case-insensitively, and no other character folds to one).
 */
const ESCAPED_LETTER_KEY = /\\u00[4-7][0-9a-fA-F](?:[^"\\]|\\.)*"\s*:/;

/**
 * Whether a JSON text (or its bytes as latin1) may have a string under a secret field: false only
 * when it surely has none, so that most bodies skip the parse that hasSecretField needs (~14 µs for
 * the proxy benchmark's 20 KB prompt, against ~25 µs to parse it and ~5 µs more to walk it).
 */
export function mayHoldSecretField(text: string, extra: readonly string[] = []): boolean {
  if (SECRET_KEY.test(text)) return true;
  if (ESCAPED_LETTER_KEY.test(text)) return true;
  return extra.some((name) => text.includes(`"${name}"`));
}

/** Whether a parsed JSON value has a string under a secret field anywhere (cheap: no text is rewritten). */
export function hasSecretField(v: unknown, extra: readonly string[] = [], depth = 0): boolean {
  if (typeof v !== 'object' || v === null || depth > 64) return false;
  if (Array.isArray(v)) {
    for (const x of v) if (typeof x === 'object' && hasSecretField(x, extra, depth + 1)) return true;
    return false;
  }
  const o = v as Record<string, unknown>;
  for (const k in o) {
    const x = o[k];
    if (typeof x === 'string') {
      if (secretName(k, extra)) return true;
    } else if (typeof x === 'object' && x !== null && hasSecretField(x, extra, depth + 1)) return true;
  }
  return false;
}

/**
 * The JSON text with the string value of every secret field replaced by its tag, everything
 * else byte for byte; null when there is none. `text` may be a byte string (one char per UTF-8
 * byte, see encode.ts): JSON's structure is ASCII, and the value is hashed as the text it stands for.
 */
export function redactJsonText(text: string, tag: Tagger, bytes = false, extra: readonly string[] = []): { text: string; names: string[] } | null {
  const names: string[] = [];
  let out = '';
  let copied = 0;
  let i = 0;
  const n = text.length;
  /** The end (after the closing quote) of the string starting at `at`. */
  const stringEnd = (at: number): number => {
    let j = at + 1;
    while (j < n) {
      const c = text.charCodeAt(j);
      if (c === 0x5c) j += 2;
      else if (c === 0x22) return j + 1;
      else j += 1;
    }
    return n;
  };
  // JSON's own whitespace only: in a byte string (latin1), U+00A0 and U+0085 are bytes of UTF-8 text.
  const isSpace = (at: number): boolean => {
    const c = text.charCodeAt(at);
    return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
  };
  for (;;) {
    i = text.indexOf('"', i);
    if (i < 0) break;
    const end = stringEnd(i);
    let j = end;
    while (j < n && isSpace(j)) j += 1;
    if (text[j] !== ':') {
      i = end;
      continue;
    }
    // A key: is its value a string, and is the key a secret's name?
    let v = j + 1;
    while (v < n && isSpace(v)) v += 1;
    if (text[v] !== '"') {
      i = v;
      continue;
    }
    const vEnd = stringEnd(v);
    let name: string;
    try {
      name = JSON.parse(text.slice(i, end)) as string;
    } catch {
      name = '';
    }
    // A byte string's name is its UTF-8 bytes one per char: judged and listed as the text it is.
    if (bytes) name = Buffer.from(name, 'latin1').toString('utf8');
    if (secretName(name, extra)) {
      let value: string;
      try {
        value = JSON.parse(text.slice(v, vEnd)) as string;
      } catch {
        value = text.slice(v + 1, vEnd - 1);
      }
      if (bytes) value = Buffer.from(value, 'latin1').toString('utf8');
      out += text.slice(copied, v + 1) + tag(value);
      copied = vEnd - 1;
      names.push(name);
    }
    i = vEnd;
  }
  if (names.length === 0) return null;
  return { text: out + text.slice(copied), names };
}
