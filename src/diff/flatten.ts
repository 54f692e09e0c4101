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

function walk(value: unknown, path: string, out: Fields): void {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) walk(value[i], `${path}[${i}]`, out);
    return;
  }
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    // Key order is a channel too (an encoder can permute keys); record it where it can vary.
    if (keys.length > 1) out.set(`${path}{keys}`, keys.join(','));
    for (const key of keys) walk((value as Record<string, unknown>)[key], child(path, key), out);
    return;
  }
  // Strings compare on exact code points; other scalars on their JSON spelling.
  out.set(path, typeof value === 'string' ? value : JSON.stringify(value));
}

export function flattenExchange(rec: ExchangeRecord): Fields {
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
      if (isJson) walk(json, 'body', out);
      else out.set('body', body.text);
    }
  }
  return out;
}
