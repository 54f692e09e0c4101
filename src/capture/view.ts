import { bodyBytes, bodyView } from './body.js';
import { headerOf } from './headers.js';
import type { Body, CaptureError, DialectName, ExchangeRecord, ParsedRequest, RecordDraft, StoredBody, StoredRecord } from './schema.js';
import { CAPTURE_VERSION } from './schema.js';
import { detectDialect, parseSse, parseUnknown, type Dialect, type RequestHead } from '../dialects/index.js';

/*
 * Raw-first capture: a record stores bytes and what the proxy saw (framing, timing, errors);
 * everything read into them (the dialect, the prompt, the events of a stream, the assembled reply)
 * is derived here, when a capture is read. The derivation is a pure function of the stored record,
 * so a parser that improves reads old captures better, and the proxy's hot path does none of it.
 */

/** A dialect's reading of a request body. */
export interface RequestReading {
  dialect: Dialect | null;
  dialectName: DialectName;
  head: RequestHead;
  /** The body as JSON (null when empty or not JSON). */
  json: unknown;
  parsed: ParsedRequest;
  errors: CaptureError[];
}

/** Recognises the dialect and reads the prompt out of a request body's text (null: no text to read). */
export function interpret(head: RequestHead, text: string | null, contentType: string | undefined): RequestReading {
  const errors: CaptureError[] = [];
  let json: unknown = null;
  if (text !== null && text.trim() !== '') {
    try {
      json = JSON.parse(text);
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

type AnyRecord = StoredRecord | RecordDraft;

/**
 * The request head a dialect recognises, from a record: lower-cased header names, the first value
 * of a repeated header. A WebSocket turn reads as the POST to the handshake's path it stands for.
 */
export function headOf(request: AnyRecord['request']): RequestHead {
  const headers: Record<string, string> = {};
  for (const [name, value] of request.headers) {
    const key = name.toLowerCase();
    if (!(key in headers)) headers[key] = value;
  }
  return { method: request.method === 'WEBSOCKET' ? 'POST' : request.method, path: request.path, headers };
}

/** What reading the body of `request` gives, with its body as readers see it. */
export function readRequest(request: AnyRecord['request']): { reading: RequestReading; body: Body } {
  const head = headOf(request);
  const stored = request.body;
  const body = bodyView(stored);
  const contentType = headerOf(request.headers, 'content-type');
  // Only part of a body that did not fit is kept: the view is not read from a fragment.
  if (stored.truncated) {
    const reading = interpret(head, null, contentType);
    reading.errors.push({ stage: 'parse', message: `request body larger than the capture limit: its first ${stored.size} bytes are kept, not parsed` });
    return { reading, body };
  }
  // Wire bytes that failed to decode read as base64 (bodyView): no text to parse.
  const text = body.encoding === 'utf8' ? body.text : null;
  return { reading: interpret(head, text, contentType), body };
}

/** The exchange as readers see it: bodies as text, the dialect's reading, the events of a stream. */
export function viewOf(record: AnyRecord): ExchangeRecord {
  const { v: _v, request, response, errors, ...rest } = record;
  const { reading, body } = readRequest(request);
  let responseView: ExchangeRecord['response'] = null;
  if (response) {
    const { messages, body: stored, ...head } = response;
    const resBody = bodyView(stored);
    responseView = { ...head, body: resBody };
    const sse = messages ?? (/text\/event-stream/i.test(headerOf(response.headers, 'content-type') ?? '') && resBody.encoding === 'utf8' ? parseSse(resBody.text) : undefined);
    if (sse) {
      responseView.sse = sse;
      if (reading.dialect) responseView.assembledText = reading.dialect.assembleText(sse);
    }
  }
  return {
    ...rest,
    request: { ...request, body },
    dialect: reading.dialectName,
    parsed: reading.parsed,
    response: responseView,
    errors: [...errors, ...reading.errors],
  };
}

/** A body as readers see it, stored again: its bytes. */
function storedBody(body: Body): StoredBody {
  const { encoding: _e, text: _t, ...facts } = body;
  return { ...facts, base64: bodyBytes(body).toString('base64') };
}

/**
 * The stored record an exchange as readers see it came from: what was derived is dropped (parse
 * errors too, which reading finds again), a WebSocket turn keeps its messages' framing. Migrates
 * version-1 records (which stored the derived view) and writes synthetic captures in tests.
 */
export function storedOf(view: Omit<ExchangeRecord, 'dialect' | 'parsed'> & { dialect?: unknown; parsed?: unknown; v?: unknown }): StoredRecord {
  const { request, response, errors, dialect: _d, parsed: _p, v: _v, ...rest } = view;
  let stored: StoredRecord['response'] = null;
  if (response) {
    const { sse, assembledText: _a, body, ...head } = response;
    stored = { ...head, body: storedBody(body), ...(request.method === 'WEBSOCKET' && sse ? { messages: sse } : {}) };
  }
  return {
    v: CAPTURE_VERSION,
    ...rest,
    request: { ...request, body: storedBody(request.body) },
    response: stored,
    errors: errors.filter((e) => e.stage !== 'parse'),
  };
}
