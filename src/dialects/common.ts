import { randomBytes } from 'node:crypto';
import type { DialectName, ParsedRequest, SseEvent } from '../capture/schema.js';
import type { StubReply } from './types.js';

/** Every reply promptdiff makes up carries this, so a capture never passes a stub off as the real API. */
export const STUB_HEADER = 'x-promptdiff-stub';

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** A request header's first value (names are lower-case in a RequestHead). */
export function headerValue(head: { headers: Record<string, string | string[] | undefined> }, name: string): string | undefined {
  const v = head.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The Host header without its port, lower-case: which vendor a forward-route request is for. */
export function hostName(head: { headers: Record<string, string | string[] | undefined> }): string {
  return (headerValue(head, 'host') ?? '').replace(/:\d+$/, '').toLowerCase();
}

/** The named headers that are present, as sent: a vendor's client and device identifiers at a glance. */
export function identityHeaders(head: { headers: Record<string, string | string[] | undefined> }, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    const v = headerValue(head, n);
    if (v !== undefined) out[n] = v;
  }
  return out;
}

/** The path without query string or fragment. */
export function pathname(path: string): string {
  const cut = path.search(/[?#]/);
  return cut === -1 ? path : path.slice(0, cut);
}

export function queryParam(path: string, name: string): string | null {
  const q = path.indexOf('?');
  if (q === -1) return null;
  try {
    return new URLSearchParams(path.slice(q + 1).split('#')[0]).get(name);
  } catch {
    return null;
  }
}

export function emptyParsed(dialect: DialectName, endpoint: string): ParsedRequest {
  return {
    dialect,
    endpoint,
    model: null,
    stream: false,
    system: [],
    messages: [],
    tools: [],
    metadata: {},
  };
}

/**
 * Runs a dialect's reader and turns any surprise into empty fields: a capture must be stored even
 * when an agent sends a shape we never saw, so parse() may not throw.
 */
export function safeParse(
  dialect: DialectName,
  endpoint: string,
  read: (p: ParsedRequest) => void,
): ParsedRequest {
  const p = emptyParsed(dialect, endpoint);
  try {
    read(p);
  } catch {
    return emptyParsed(dialect, endpoint);
  }
  return p;
}

/** The listed fields that are present, untouched: enough to see settings at a glance, not a copy of the body. */
export function pick(body: unknown, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!isRecord(body)) return out;
  for (const k of keys) if (body[k] !== undefined) out[k] = body[k];
  return out;
}

/** About four characters per token: the usual rule of thumb, good enough for usage numbers in a stub. */
export function estimateTokens(chars: number): number {
  return Math.max(1, Math.ceil(chars / 4));
}

export function bodyTokens(body: unknown): number {
  try {
    return estimateTokens(JSON.stringify(body ?? '').length);
  } catch {
    return 1;
  }
}

export function textTokens(text: string): number {
  return estimateTokens(text.length);
}

/** Random, so ids differ between repetitions and the differ files them under noise. */
export function stubId(prefix: string): string {
  return prefix + randomBytes(12).toString('hex');
}

export function unixSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * Pieces for streaming deltas: at least two when the text has two code points, and never a cut
 * inside a surrogate pair (a lone surrogate would reach the client as U+FFFD after UTF-8 encoding).
 */
export function splitText(text: string): string[] {
  const cps = Array.from(text);
  if (cps.length === 0) return [];
  if (cps.length === 1) return [text];
  const size = Math.min(24, Math.ceil(cps.length / 2));
  const out: string[] = [];
  for (let i = 0; i < cps.length; i += size) out.push(cps.slice(i, i + size).join(''));
  return out;
}

export function jsonReply(
  value: unknown,
  headers: Record<string, string> = {},
  status = 200,
): StubReply {
  return {
    status,
    headers: { 'content-type': 'application/json', ...headers, [STUB_HEADER]: '1' },
    chunks: [JSON.stringify(value)],
  };
}

export function sseReply(chunks: string[], headers: Record<string, string> = {}): StubReply {
  return {
    status: 200,
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      ...headers,
      [STUB_HEADER]: '1',
    },
    chunks,
  };
}

/** An SSE event's data as JSON, or null when it is not JSON (e.g. `[DONE]`). */
export function eventJson(ev: SseEvent): unknown {
  try {
    return JSON.parse(ev.data);
  } catch {
    return null;
  }
}
