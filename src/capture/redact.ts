import type { BodyDraft, HeaderList } from './schema.js';

export const REDACTED = '[redacted]';

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

/**
 * Blanks the values of a JSON request body's credential fields (a dialect's `secretBodyFields`,
 * e.g. Qoder's `personal_token`) in the stored text, keeping every other byte: the value's JSON
 * form becomes `"[redacted]"` wherever it occurs. Only string values of top-level fields.
 */
export function redactBodyFields(body: BodyDraft, json: unknown, fields: readonly string[]): { body: BodyDraft; redacted: string[] } {
  if (body.encoding !== 'utf8' || typeof json !== 'object' || json === null || Array.isArray(json)) return { body, redacted: [] };
  let text = typeof body.text === 'string' ? body.text : body.text.bytes.toString('utf8');
  const redacted: string[] = [];
  for (const f of fields) {
    const v = (json as Record<string, unknown>)[f];
    if (typeof v !== 'string' || v.length === 0 || v === REDACTED) continue;
    const encoded = JSON.stringify(v);
    if (!text.includes(encoded)) continue;
    text = text.split(encoded).join(JSON.stringify(REDACTED));
    redacted.push(`body:${f}`);
  }
  if (!redacted.length) return { body, redacted };
  return { body: { ...body, text, size: Buffer.byteLength(text) }, redacted };
}
