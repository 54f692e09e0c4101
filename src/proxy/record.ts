import { randomBytes } from 'node:crypto';
import { decodeBody, toText, DEFAULT_BODY_LIMIT, captureBody, type Decoding, type Overflow } from '../capture/body.js';
import { RawBytes } from '../capture/encode.js';
import { headerOf } from '../capture/headers.js';
import { hasSecretField, mayHoldSecretField, redactHeaders, redactJsonText, redactQuery } from '../capture/redact.js';
import { SecretValues } from '../capture/secret-values.js';
import type { BodyDraft, CaptureError, HeaderList, RecordDraft, SseEvent, StubTurn } from '../capture/schema.js';
import { CAPTURE_VERSION } from '../capture/schema.js';
import { interpret, type RequestReading } from '../capture/view.js';
import type { Dialect, RequestHead } from '../dialects/index.js';

/*
 * The record of an exchange, raw-first: the bytes and what the proxy saw, nothing read into them
 * (capture/view.ts derives that when the capture is read). Redaction is the one reading done here,
 * as it must be before anything is stored: header and query names, JSON body fields named like a
 * secret (only when the body's bytes show such a name), and every known secret value.
 */

export interface RequestPart {
  method: string;
  url: string;
  host: string;
  path: string;
  httpVersion: string;
  headers: HeaderList;
  contentEncoding: string | undefined;
  /** The body as it arrived: all of it, or its first bytes when `overflow` is set. */
  body: Buffer;
  overflow?: Overflow | undefined;
  incomplete: boolean;
  /** The most of a body the record keeps (capture/body.ts). */
  limit?: number;
  /** What removing the content codings gave, once known (decodeBody, or decodeBodySlow for a body past the limit). */
  decoding?: Decoding;
}

/**
 * The request body decoded and read exactly, so that the stub can answer it. Sets part.decoding.
 * A body cut at the capture limit is not read (the stub answers it as one without a body).
 */
export function readExact(head: RequestHead, part: RequestPart, contentType: string | undefined): RequestReading {
  const d = part.decoding ?? decodeBody(part.body, part.contentEncoding, part.limit ?? DEFAULT_BODY_LIMIT, part.overflow !== undefined);
  if (d !== null) part.decoding = d;
  if (d === null || 'error' in d || d.truncated) return interpret(head, null, contentType);
  return interpret(head, toText(d.bytes), contentType);
}

let seqCounter = 0;
/**
 * The ids' random parts, drawn 256 at a time: one randomBytes call per exchange (a trip into
 * OpenSSL's generator, and a getpid for its fork check) cost more than the rest of the id.
 */
const ID_BATCH = 256;
let idRandom = '';
let idRandomAt = ID_BATCH;

export function nextSeq(): { seq: number; id: string } {
  seqCounter += 1;
  if (idRandomAt === ID_BATCH) {
    idRandom = randomBytes(3 * ID_BATCH).toString('hex');
    idRandomAt = 0;
  }
  const suffix = idRandom.slice(idRandomAt * 6, idRandomAt * 6 + 6);
  idRandomAt += 1;
  return { seq: seqCounter, id: `${String(seqCounter).padStart(6, '0')}-${suffix}` };
}

export interface ResponsePart {
  source: 'stub' | 'upstream';
  status: number;
  headers: HeaderList;
  /** The body as it arrived: all of it, or its first bytes when `overflow` is set. */
  body: Buffer;
  overflow?: Overflow | undefined;
  /** What removing the content codings gave, when the Exchange already knows (a body past the limit). */
  decoding?: Decoding;
  incomplete?: boolean;
  /** Events that arrived as messages of their own (a WebSocket), instead of parsed from an SSE body. */
  events?: SseEvent[];
}

export interface RecordInput {
  seq: number;
  id: string;
  run: string | null;
  startedAt: Date;
  route: 'forward' | 'reverse';
  client: { address: string; port: number };
  tunnel: RecordDraft['tunnel'];
  request: RequestPart;
  /** The request's dialect, for the body fields it names as secrets (Dialect.secretBodyFields). */
  dialect: Dialect | null;
  response: ResponsePart | null;
  /** Stub script: the turn the stub answered as. */
  stubTurn?: StubTurn;
  errors: CaptureError[];
  keepSecrets: boolean;
  /** The most of a body the record keeps (capture/body.ts). */
  bodyLimit?: number;
  /** Unless secrets are kept: tags the values of secret JSON fields in bodies, and finds known values (capture/secret-values.ts). */
  secrets?: SecretValues;
}

/**
 * A body with its secrets replaced by their tags, as bytes: JSON fields named like a secret (when
 * `fields`: a JSON body), then every secret value known so far wherever it appears. The record's
 * `redacted` gets `prefix:name` for each field.
 */
function redactBody(body: BodyDraft, secrets: SecretValues, redacted: string[], prefix: string, fields: boolean, extra: readonly string[]): BodyDraft {
  if (!secrets.enabled) return body;
  const held = body.base64.bytes;
  let bytes = held;
  // Bytes that failed to decode are the wire's (compressed, or mislabelled): no JSON to read, but a
  // value that sits in them as it is (a body wrongly marked compressed) is still replaced.
  if (fields && bytes.length > 0 && body.decodeError === undefined) {
    const latin = bytes.toString('latin1');
    if (mayHoldSecretField(latin, extra)) {
      let json: unknown = null;
      try {
        // Parsed as latin1, its structure is the exact parse's (JSON's syntax is ASCII).
        json = JSON.parse(latin);
      } catch {
        // Not JSON: no fields to redact.
      }
      const r = json !== null && hasSecretField(json, extra) ? redactJsonText(latin, (value) => secrets.add(value), true, extra) : null;
      if (r) {
        for (const name of new Set(r.names)) redacted.push(`${prefix}:${name}`);
        bytes = Buffer.from(r.text, 'latin1');
      }
    }
  }
  bytes = secrets.line(bytes);
  return bytes === held ? body : { ...body, base64: new RawBytes(bytes), size: bytes.length };
}

/** Tags for a record built without a proxy's secrets (a direct caller): keyed for this process. */
let processSecrets: SecretValues | null = null;
const sessionSecrets = (): SecretValues => (processSecrets ??= SecretValues.forSession());

export function buildRecord(input: RecordInput): RecordDraft {
  const { request, response } = input;
  const reqBody = captureBody({
    wire: request.body,
    overflow: request.overflow,
    contentEncoding: request.contentEncoding,
    incomplete: request.incomplete,
    decoding: request.decoding,
    limit: input.bodyLimit ?? request.limit,
  });
  const errors = [...input.errors];
  if (reqBody.decodeError) errors.push({ stage: 'decode', message: `request ${reqBody.decodeError}` });

  let headers = request.headers;
  let url = request.url;
  let pathOnly = request.path;
  const redacted: string[] = [];
  let requestBody = reqBody;
  const secrets = input.keepSecrets ? undefined : (input.secrets ?? sessionSecrets());
  const extra = input.dialect?.secretBodyFields ?? [];
  if (secrets) {
    requestBody = redactBody(reqBody, secrets, redacted, 'body', true, extra);
    const h = redactHeaders(headers);
    headers = h.headers;
    redacted.push(...h.redacted);
    const u = redactQuery(url);
    url = u.value;
    pathOnly = redactQuery(pathOnly).value;
    redacted.push(...u.redacted);
  }

  let responseOut: RecordDraft['response'] = null;
  if (response) {
    const contentEncoding = headerOf(response.headers, 'content-encoding');
    const contentType = headerOf(response.headers, 'content-type') ?? '';
    let body = captureBody({
      wire: response.body,
      overflow: response.overflow,
      contentEncoding,
      incomplete: response.incomplete ?? false,
      decoding: response.decoding,
      limit: input.bodyLimit,
    });
    if (body.decodeError) errors.push({ stage: 'decode', message: `response ${body.decodeError}` });
    let resHeaders = response.headers;
    if (secrets) {
      const h = redactHeaders(resHeaders);
      resHeaders = h.headers;
      redacted.push(...h.redacted.map((n) => `response:${n}`));
      // Token endpoints answer with credentials (an OAuth refresh): JSON responses are checked too.
      const json = !/text\/event-stream/i.test(contentType) && /json/i.test(contentType);
      body = redactBody(body, secrets, redacted, 'response.body', json, []);
    }
    responseOut = { source: response.source, status: response.status, headers: resHeaders, body };
    if (response.events) responseOut.messages = response.events;
  }

  return {
    v: CAPTURE_VERSION,
    id: input.id,
    seq: input.seq,
    run: input.run,
    startedAt: input.startedAt.toISOString(),
    completedAt: new Date().toISOString(),
    route: input.route,
    client: input.client,
    tunnel: input.tunnel,
    request: {
      method: request.method,
      url,
      host: request.host,
      path: pathOnly,
      httpVersion: request.httpVersion,
      headers,
      body: requestBody,
    },
    redacted: [...new Set(redacted)],
    response: responseOut,
    ...(input.stubTurn ? { stubTurn: input.stubTurn } : {}),
    errors,
  };
}
