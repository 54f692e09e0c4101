import type { IncomingHttpHeaders } from 'node:http';
import type { HeaderList } from './schema.js';

/*
 * Every header helper in one place. Three shapes are in play: Node's rawHeaders
 * ([name, value, name, value, ...], as sent), its parsed IncomingHttpHeaders object (lower-case
 * names, duplicates merged) and the capture's HeaderList (ordered pairs, as sent). The proxy
 * keeps the raw forms on the wire and in the record; the object form is only what dialects read.
 */

/** Node's rawHeaders as ordered pairs: keeps order, duplicates and the client's spelling. */
export function pairsFromRaw(raw: string[]): HeaderList {
  const out: HeaderList = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

export function pairsFromObject(headers: Record<string, string | number | string[] | undefined>): HeaderList {
  const out: HeaderList = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) out.push([name, String(v)]);
  }
  return out;
}

/** The value of header `name` (lower case): a HeaderList's first, or an object's (repeated values joined). */
export function headerOf(headers: Record<string, string | string[] | undefined> | HeaderList, name: string): string | undefined {
  if (Array.isArray(headers)) return headers.find(([n]) => n.toLowerCase() === name)?.[1];
  const v = headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Every value of header `name` (lower case) in a raw [name, value, ...] list, in order. */
export function headerValues(raw: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!);
  return out;
}

const DISCARD_DUPLICATES = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

/** The headers object Node's http parser would build from these raw headers (IncomingMessage.headers). */
export function headersObject(raw: string[]): IncomingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    const prev = out[name];
    if (prev === undefined) {
      out[name] = name === 'set-cookie' ? [value] : value;
    } else if (name === 'set-cookie') {
      (prev as string[]).push(value);
    } else if (DISCARD_DUPLICATES.has(name)) {
      // first one wins
    } else if (name === 'cookie') {
      out[name] = `${prev as string}; ${value}`;
    } else {
      out[name] = `${prev as string}, ${value}`;
    }
  }
  return out as IncomingHttpHeaders;
}

/**
 * The client's request headers for the upstream, as sent (names, order, duplicates), as the flat
 * [name, value, ...] list http.request takes: Proxy-* headers are for the proxy and stay there,
 * and `host`, when given, replaces the client's Host (a reverse route or --upstream-url).
 */
export function headersToUpstream(raw: string[], host: string | null): string[] {
  const out: string[] = [];
  let sawHost = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length > 6 && /^proxy-/i.test(name)) continue;
    if (host !== null && name.length === 4 && name.toLowerCase() === 'host') {
      if (!sawHost) out.push(name, host);
      sawHost = true;
      continue;
    }
    out.push(name, raw[i + 1]!);
  }
  if (host !== null && !sawHost) out.unshift('Host', host);
  return out;
}

/**
 * The upstream's response headers for the client, as sent (names, order, duplicates), as the flat
 * [name, value, ...] list writeHead takes. Public-Key-Pins would pin the upstream's key on a
 * connection that carries our leaf, so it is dropped, as http-mitm-proxy does.
 */
export function responseHeadersOut(raw: string[]): string[] {
  let out: string[] | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    if (/^public-key-pins/i.test(raw[i]!)) out ??= raw.slice(0, i);
    else if (out) out.push(raw[i]!, raw[i + 1]!);
  }
  return out ?? raw;
}

/** A response's status line and header block as written on a raw socket (an upgrade's answer). */
export function responseHead(status: number, reason: string, headers: HeaderList): string {
  return `HTTP/1.1 ${status} ${reason}\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
}
