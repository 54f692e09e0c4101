import { z } from 'zod';
import { CaptureError, HeaderList, SseEvent, StubTurn } from './schema.js';
import { storedOf } from './view.js';

/*
 * Capture records as version 1 wrote them, frozen: read only to migrate them (store.ts,
 * CAPTURE_MIGRATIONS[1]). Version 1 stored each body as text and the dialect's parsed view beside
 * it, both built while the exchange was in flight; version 2 stores the bytes alone and derives the
 * view when read (capture/view.ts). Do not change this file: old run directories must keep reading.
 */

const BodyV1 = z.object({
  /** utf8: `text` is the body exactly, code point for code point. base64: not valid UTF-8 (or binary). */
  encoding: z.enum(['utf8', 'base64']),
  text: z.string(),
  /** Bytes on the wire, before content decoding. */
  wireSize: z.number().int().nonnegative(),
  /** Bytes after content decoding (what `text` holds). */
  size: z.number().int().nonnegative(),
  /** Content-Encoding that was removed to produce `text` (gzip, deflate, br, zstd), if any. */
  contentEncoding: z.string().optional(),
  /** Why decoding failed; `text` then holds the raw wire bytes as base64. */
  decodeError: z.string().optional(),
  /** The client went away before the body was complete. */
  incomplete: z.boolean().optional(),
  /**
   * The body was larger than the capture limit (on the wire, or once decoded): `text` holds only its
   * first `size` bytes; `wireSize` is still the whole body's size on the wire.
   */
  truncated: z.boolean().optional(),
  /** For a truncated body: SHA-256 (hex) of all of its bytes on the wire, to tell two bodies apart. */
  sha256: z.string().optional(),
});
export const ExchangeRecordV1 = z.object({
  v: z.literal(1),
  /** Unique within a capture directory: `<seq>-<random>`. */
  id: z.string(),
  /** Order in which the proxy received the request (1-based, per proxy process). */
  seq: z.number().int().positive(),
  /** The scenario run this exchange belongs to, when the runner attributed it (null for a bare proxy). */
  run: z.string().nullable(),
  startedAt: z.string(),
  completedAt: z.string(),
  /** forward: the client used the proxy (CONNECT or absolute-form); reverse: the client's base URL is the proxy. */
  route: z.enum(['forward', 'reverse']),
  client: z.object({ address: z.string(), port: z.number().int() }),
  /** For forward TLS: the CONNECT target and the SNI the client sent. */
  tunnel: z
    .object({ target: z.string(), sni: z.string().nullable(), tls: z.boolean() })
    .nullable(),
  request: z.object({
    method: z.string(),
    /** Absolute URL as the client addressed it (scheme from the route, host from CONNECT/Host). */
    url: z.string(),
    host: z.string(),
    path: z.string(),
    httpVersion: z.string(),
    headers: HeaderList,
    body: BodyV1,
  }),
  /**
   * What was redacted before storing: header names (their values became "[redacted]"), `query:NAME`
   * for URL parameters, and `body:NAME` / `response.body:NAME` for JSON body fields whose string
   * value became its tag "[redacted:<8 hex>]" (capture/secret-values.ts: equal values, equal tags).
   */
  redacted: z.array(z.string()),
  /** Derived again when read: whatever version 1 stored here is not kept. */
  dialect: z.string(),
  parsed: z.unknown(),
  response: z
    .object({
      /** stub: answered by promptdiff; upstream: passed through from the real server. */
      source: z.enum(['stub', 'upstream']),
      status: z.number().int(),
      headers: HeaderList,
      body: BodyV1,
      /** For text/event-stream: the events as parsed from the raw body. */
      sse: z.array(SseEvent).optional(),
      /** For SSE: the assistant text assembled from the stream's deltas. */
      assembledText: z.string().optional(),
    })
    .nullable(),
  stubTurn: StubTurn.optional(),
  errors: z.array(CaptureError),
});
export type ExchangeRecordV1 = z.infer<typeof ExchangeRecordV1>;


/** Why a version-1 record cannot be migrated: the field and what is wrong with it. */
export class V1RecordError extends Error {}

/** CAPTURE_MIGRATIONS[1]: a version-1 record, validated as version 1 wrote it, as version 2 stores it. */
export function migrateV1(raw: Record<string, unknown>): Record<string, unknown> {
  const parsed = ExchangeRecordV1.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new V1RecordError(issue ? `${issue.path.join('.') || '(record)'}: ${issue.message}` : 'invalid record');
  }
  const { dialect: _d, parsed: _p, ...rest } = parsed.data;
  return storedOf(rest);
}
