import { randomBytes } from 'node:crypto';
import { isAscii, isUtf8 } from 'node:buffer';
import { captureBody, decodeBody, toText, DEFAULT_BODY_LIMIT, type DecodedBody, type Decoding, type Overflow } from '../capture/body.js';
import { ByteStrings, Utf8Text, byteStringsSafe } from '../capture/encode.js';
import { headerOf } from '../capture/headers.js';
import { hasSecretField, redactHeaders, redactJsonText, redactParsed, redactQuery, type Tagger } from '../capture/redact.js';
import { SecretValues } from '../capture/secret-values.js';
import type { BodyDraft, CaptureError, DialectName, HeaderList, ParsedRequest, RecordDraft, SseEvent, StubTurn } from '../capture/schema.js';
import { CAPTURE_VERSION } from '../capture/schema.js';
import { detectDialect, parseUnknown, parseSse, type Dialect, type RequestHead } from '../dialects/index.js';

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
  /** Set by whoever already decoded the body (to parse it), so the record does not decode it again. */
  decoded?: DecodedBody;
}

export interface ParsedView {
  dialect: Dialect | null;
  dialectName: DialectName;
  head: RequestHead;
  /** The body as JSON; in a view from readForRecord, possibly byte strings: for the record only. */
  json: unknown;
  parsed: ParsedRequest | ByteStrings<ParsedRequest>;
  errors: CaptureError[];
}

/** Recognises the dialect and reads the prompt out of a request body. */
export function interpret(head: RequestHead, decodedText: string | null, contentType: string | undefined): ParsedView {
  const errors: CaptureError[] = [];
  let json: unknown = null;
  if (decodedText !== null && decodedText.trim() !== '') {
    try {
      json = JSON.parse(decodedText);
    } catch (err) {
      // Only an error when the client claimed JSON; plenty of agent traffic is form or text.
      if (!contentType || /json/i.test(contentType)) {
        errors.push({ stage: 'parse', message: `request body is not JSON: ${(err as Error).message}` });
      }
    }
  }
  const dialect = detectDialect(head);
  const parsed = dialect ? dialect.parse(head, json) : parseUnknown(head, json);
  return { dialect, dialectName: dialect?.name ?? 'unknown', head, json, parsed, errors };
}

/**
 * The request body with its content codings removed, or null: a decoding error (the record says
 * which), or a body decodeBody cannot read whole, which only decodeBodySlow can (the Exchange runs
 * it before the record is built). Sets part.decoding when known.
 */
function decodedBody(part: RequestPart): { bytes: Buffer; truncated: boolean } | null {
  const d = part.decoding ?? decodeBody(part.body, part.contentEncoding, part.limit ?? DEFAULT_BODY_LIMIT, part.overflow !== undefined);
  if (d === null) return null;
  part.decoding = d;
  return 'error' in d ? null : d;
}

/** Decodes the body's bytes to text, keeps both on the part and reads the dialect's view from the text. */
function readText(head: RequestHead, part: RequestPart, d: { bytes: Buffer; truncated: boolean } | null, contentType: string | undefined): ParsedView {
  // Only part of a body that did not fit is kept: the view is not read from a fragment.
  if (d?.truncated || (d === null && part.decoding === undefined)) {
    const v = interpret(head, null, contentType);
    v.errors.push({ stage: 'parse', message: `request body larger than the capture limit of ${part.limit ?? DEFAULT_BODY_LIMIT} bytes: its first bytes are kept, not parsed` });
    return v;
  }
  const text = d === null ? null : toText(d.bytes);
  if (d !== null) part.decoded = { bytes: d.bytes, text };
  return interpret(head, text, contentType);
}

/** The request body decoded and read exactly: the view's json can answer the request. Sets part.decoded. */
export function readExact(head: RequestHead, part: RequestPart, contentType: string | undefined): ParsedView {
  return readText(head, part, decodedBody(part), contentType);
}

/**
 * The request body decoded and read for the record alone, without turning it into a JS string
 * where that can be avoided (see capture/encode.ts): valid UTF-8 is kept as bytes, and JSON whose
 * byte-strings reading is exact is parsed from its latin1 decoding (~1 ns a byte cheaper). Sets
 * part.decoded. Anything unusual (a decoding or JSON error) takes the exact path, so the record
 * is the same either way; only the view's json may be byte strings, so it must not be used to
 * answer the request.
 */
export function readForRecord(head: RequestHead, part: RequestPart, contentType: string | undefined): ParsedView {
  const d = decodedBody(part);
  if (d === null || d.truncated || d.bytes.length < 256 || !isUtf8(d.bytes)) return readText(head, part, d, contentType);
  const bytes = d.bytes;
  part.decoded = { bytes, text: new Utf8Text(bytes) };
  // ASCII decodes to the same string either way, and latin1 is the decoder's fastest path.
  const ascii = isAscii(bytes);
  const latin = bytes.toString('latin1');
  if (!ascii && !byteStringsSafe(latin)) return interpret(head, toText(bytes), contentType);
  const v = interpret(head, latin, contentType);
  // A JSON error message quotes the text: take it from the exact text.
  if (v.errors.length > 0 && !ascii) return interpret(head, toText(bytes), contentType);
  if (!ascii) v.parsed = new ByteStrings(v.parsed as ParsedRequest);
  return v;
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
  view: ParsedView | null;
  response: ResponsePart | null;
  /** Stub script: the turn the stub answered as. */
  stubTurn?: StubTurn;
  errors: CaptureError[];
  keepSecrets: boolean;
  /** Keep valid UTF-8 response bodies as bytes for the encoder (their text is not needed here). */
  bytesText?: boolean;
  /** The most of a body the record keeps (capture/body.ts). */
  bodyLimit?: number;
  /** Unless secrets are kept: tags the values of secret JSON fields in bodies (capture/redact.ts). */
  secrets?: SecretValues;
}

/** A body's text with its secret JSON fields tagged; the record's `redacted` gets `prefix:name` for each. */
function redactBody(body: BodyDraft, tag: Tagger, redacted: string[], prefix: string, extra: readonly string[] = []): BodyDraft {
  if (body.encoding !== 'utf8') return body;
  const bytes = body.text instanceof Utf8Text;
  const text = body.text instanceof Utf8Text ? body.text.bytes.toString('latin1') : body.text;
  const r = redactJsonText(text, tag, bytes, extra);
  if (!r) return body;
  for (const name of new Set(r.names)) redacted.push(`${prefix}:${name}`);
  const out = bytes ? new Utf8Text(Buffer.from(r.text, 'latin1')) : r.text;
  return { ...body, text: out, size: bytes ? (out as Utf8Text).bytes.length : Buffer.byteLength(r.text, 'utf8') };
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
    text: request.decoded?.text,
    limit: input.bodyLimit ?? request.limit,
  });
  const errors = [...input.errors];
  if (reqBody.decodeError) errors.push({ stage: 'decode', message: `request ${reqBody.decodeError}` });
  if (input.view) errors.push(...input.view.errors);

  let headers = request.headers;
  let url = request.url;
  let pathOnly = request.path;
  const redacted: string[] = [];
  let requestBody = reqBody;
  let parsed = input.view?.parsed ?? null;
  const secrets = input.keepSecrets ? undefined : (input.secrets ?? sessionSecrets());
  const tag: Tagger | undefined = secrets?.enabled ? (value) => secrets.add(value) : undefined;
  const extra = input.view?.dialect?.secretBodyFields ?? [];
  // Only bodies whose parse shows a secret field are rewritten: the walk costs microseconds, the rewrite more.
  if (tag && input.view?.json && hasSecretField(input.view.json, extra)) {
    requestBody = redactBody(reqBody, tag, redacted, 'body', extra);
    if (parsed && hasSecretField(parsed instanceof ByteStrings ? parsed.value.metadata : parsed.metadata, extra)) {
      const names = new Set<string>();
      parsed =
        parsed instanceof ByteStrings
          ? new ByteStrings({ ...parsed.value, metadata: redactParsed(parsed.value.metadata, tag, names, extra) })
          : { ...parsed, metadata: redactParsed(parsed.metadata, tag, names, extra) };
      for (const name of names) redacted.push(`body:${name}`);
    }
  }
  if (!input.keepSecrets) {
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
    const isSse = /text\/event-stream/i.test(contentType);
    const body = captureBody({
      wire: response.body,
      overflow: response.overflow,
      contentEncoding,
      incomplete: response.incomplete ?? false,
      decoding: response.decoding,
      asBytes: input.bytesText === true && !isSse,
      limit: input.bodyLimit,
    });
    if (body.decodeError) errors.push({ stage: 'decode', message: `response ${body.decodeError}` });
    let resHeaders = response.headers;
    if (!input.keepSecrets) {
      const h = redactHeaders(resHeaders);
      resHeaders = h.headers;
      redacted.push(...h.redacted.map((n) => `response:${n}`));
    }
    // Token endpoints answer with credentials (an OAuth refresh): JSON responses are checked too.
    const resBody = tag && !isSse && /json/i.test(contentType) ? redactBody(body, tag, redacted, 'response.body') : body;
    responseOut = { source: response.source, status: response.status, headers: resHeaders, body: resBody };
    if (response.events) {
      responseOut.sse = response.events;
      if (input.view?.dialect) responseOut.assembledText = input.view.dialect.assembleText(response.events);
    } else if (isSse && body.encoding === 'utf8' && typeof body.text === 'string') {
      const events = parseSse(body.text);
      responseOut.sse = events;
      if (input.view?.dialect) responseOut.assembledText = input.view.dialect.assembleText(events);
    }
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
    dialect: input.view?.dialectName ?? 'unknown',
    parsed,
    response: responseOut,
    ...(input.stubTurn ? { stubTurn: input.stubTurn } : {}),
    errors,
  };
}
