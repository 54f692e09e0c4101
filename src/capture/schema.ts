import { z } from 'zod';
import type { RawBytes } from './encode.js';

/**
 * Bump when a stored field changes meaning; readers migrate older versions in store.ts.
 * Version 2: raw-first. A record stores the bytes and what the proxy saw of the exchange (framing,
 * timing, errors, redactions); the dialect's reading of it is derived when read (capture/view.ts).
 */
export const CAPTURE_VERSION = 2;

/** Headers are kept as sent: order, repeated names and the client's spelling of each name. */
export const HeaderList = z.array(z.tuple([z.string(), z.string()]));
export type HeaderList = z.infer<typeof HeaderList>;

/** What is known about how a body arrived, stored and read alike. */
const BodyFacts = {
  /** Bytes on the wire, before content decoding. */
  wireSize: z.number().int().nonnegative(),
  /** Bytes held (after content decoding, unless that failed). */
  size: z.number().int().nonnegative(),
  /** Content-Encoding that was removed to produce the bytes held (gzip, deflate, br, zstd), if any. */
  contentEncoding: z.string().optional(),
  /** Why decoding failed; the bytes held are then the wire's. */
  decodeError: z.string().optional(),
  /** The sender went away before the body was complete. */
  incomplete: z.boolean().optional(),
  /**
   * The body was larger than the capture limit (on the wire, or once decoded): only its first `size`
   * bytes are held; `wireSize` is still the whole body's size on the wire.
   */
  truncated: z.boolean().optional(),
  /** For a truncated body: SHA-256 (hex) of all of its bytes on the wire, to tell two bodies apart. */
  sha256: z.string().optional(),
};

/** A body as stored: its bytes, and what is known about how they arrived. */
export const StoredBody = z.object({
  /**
   * The bytes, base64. Base64 because it is exact for any bytes and written natively, ~10× faster
   * than escaping the text as a JSON string; readers decode it (capture/view.ts), and
   * `promptdiff show --json` prints records with bodies as text.
   */
  base64: z.string(),
  ...BodyFacts,
});
export type StoredBody = z.infer<typeof StoredBody>;

/** A body as readers see it (derived from a StoredBody): text when the bytes are UTF-8. */
export const Body = z.object({
  /**
   * utf8: `text` is the body exactly, code point for code point. base64: not valid UTF-8 (or binary),
   * or the wire's bytes of a body that failed to decode.
   */
  encoding: z.enum(['utf8', 'base64']),
  text: z.string(),
  ...BodyFacts,
});
export type Body = z.infer<typeof Body>;

export const ParsedMessage = z.object({
  role: z.string(),
  /** All text parts of the message joined with "\n", exactly as sent. */
  text: z.string(),
  /** Kinds of the content parts in order (text, image, tool_use, tool_result, function_call, ...). */
  parts: z.array(z.string()),
});
export type ParsedMessage = z.infer<typeof ParsedMessage>;

export const ParsedTool = z.object({
  name: z.string(),
  description: z.string().optional(),
});
export type ParsedTool = z.infer<typeof ParsedTool>;

export const DialectName = z.enum([
  'anthropic-messages',
  'openai-chat',
  'openai-responses',
  'gemini',
  // Vendor APIs of agents that stop at their vendor's login offline (docs/agents.md)
  'qoder',
  'augment',
  'amp',
  'unknown',
]);
export type DialectName = z.infer<typeof DialectName>;

/** A dialect's reading of a request: what the agent told the model. */
export const ParsedRequest = z.object({
  dialect: DialectName,
  /** Which operation of the dialect: messages, count_tokens, chat.completions, responses, generateContent, streamGenerateContent, countTokens, models, ... */
  endpoint: z.string(),
  model: z.string().nullable(),
  stream: z.boolean(),
  /** The system prompt blocks exactly as sent, in order (one entry for a plain string). */
  system: z.array(z.string()),
  messages: z.array(ParsedMessage),
  tools: z.array(ParsedTool),
  /** Other top-level request fields worth seeing at a glance (metadata, max_tokens, temperature, ...). */
  metadata: z.record(z.string(), z.unknown()),
});
export type ParsedRequest = z.infer<typeof ParsedRequest>;

export const SseEvent = z.object({
  event: z.string().optional(),
  data: z.string(),
  id: z.string().optional(),
});
export type SseEvent = z.infer<typeof SseEvent>;

export const CaptureError = z.object({
  stage: z.enum(['request', 'decode', 'parse', 'upstream', 'response', 'client']),
  message: z.string(),
});
export type CaptureError = z.infer<typeof CaptureError>;

/**
 * With a stub script: which of its turns the stub answered a request as. Optional, so records
 * without it (no script, passthrough, older captures) still read as version 1.
 */
export const StubTurn = z.object({
  /** Index into the scenario's stub_script; null when the request was no turn of it and got the ordinary stub reply. */
  index: z.number().int().nonnegative().nullable(),
  /** The tool the reply called, by the agent's own name. */
  tool: z.string().optional(),
  /** The script's generic name for it (shell, read_file, ...), when the turn used one. */
  generic: z.string().optional(),
  /** Why this turn, or why none ("2 tool results so far", "declares no tools", "not a model turn"). */
  reason: z.string(),
  /** The turn could not be played as scripted (e.g. the request does not declare the tool): the reply was an error. */
  error: z.string().optional(),
});
export type StubTurn = z.infer<typeof StubTurn>;

const Common = {
  v: z.literal(CAPTURE_VERSION),
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
  tunnel: z.object({ target: z.string(), sni: z.string().nullable(), tls: z.boolean() }).nullable(),
};

const RequestLine = {
  /** WEBSOCKET for one turn of a WebSocket (a client message and the server messages after it), read as a POST to the handshake's path. */
  method: z.string(),
  /** Absolute URL as the client addressed it (scheme from the route, host from CONNECT/Host). */
  url: z.string(),
  host: z.string(),
  path: z.string(),
  httpVersion: z.string(),
  headers: HeaderList,
};

/**
 * What was redacted before storing: header names (their values became "[redacted]"), `query:NAME`
 * for URL parameters, and `body:NAME` / `response.body:NAME` for JSON body fields whose string
 * value became its tag "[redacted:<8 hex>]" (capture/secret-values.ts: equal values, equal tags).
 */
const Redacted = z.array(z.string());

/** One line of exchanges.jsonl: the exchange as the proxy saw it, nothing read into it. */
export const StoredRecord = z.object({
  ...Common,
  request: z.object({ ...RequestLine, body: StoredBody }),
  redacted: Redacted,
  response: z
    .object({
      /** stub: answered by promptdiff; upstream: passed through from the real server. */
      source: z.enum(['stub', 'upstream']),
      status: z.number().int(),
      headers: HeaderList,
      /** For a WebSocket turn: the server messages joined with newlines (their framing is in `messages`). */
      body: StoredBody,
      /** For a WebSocket turn: the server's messages as framed (binary ones as base64, event "binary"). */
      messages: z.array(SseEvent).optional(),
    })
    .nullable(),
  stubTurn: StubTurn.optional(),
  /** What went wrong while the proxy handled the exchange (reading the body is not among them: see ExchangeRecord). */
  errors: z.array(CaptureError),
});
export type StoredRecord = z.infer<typeof StoredRecord>;

/**
 * An exchange as readers see it (diff, har, scan, explain, show): the stored record with its bodies
 * as text where they are UTF-8 and the dialect's reading of the request and the response, derived
 * from the bytes by capture/view.ts. Never stored: a better parser reads old captures better.
 */
export interface ExchangeRecord extends Omit<StoredRecord, 'v' | 'request' | 'response'> {
  request: Omit<StoredRecord['request'], 'body'> & { body: Body };
  dialect: DialectName;
  parsed: ParsedRequest | null;
  response:
    | (Omit<NonNullable<StoredRecord['response']>, 'body' | 'messages'> & {
        body: Body;
        /** For text/event-stream (or a WebSocket turn): the events. */
        sse?: SseEvent[];
        /** For SSE: the assistant text assembled from the stream's deltas. */
        assembledText?: string;
      })
    | null;
  /** The stored errors, then what reading the body found (stage parse: not JSON, too large to parse). */
  errors: CaptureError[];
}

/** A body as the proxy builds it: its bytes not yet encoded (see capture/encode.ts). */
export type BodyDraft = Omit<StoredBody, 'base64'> & { base64: RawBytes };

/** A record as the proxy builds it; JSON.stringify of a draft is the JSON of the StoredRecord it stands for. */
export type RecordDraft = Omit<StoredRecord, 'request' | 'response'> & {
  request: Omit<StoredRecord['request'], 'body'> & { body: BodyDraft };
  response: (Omit<NonNullable<StoredRecord['response']>, 'body'> & { body: BodyDraft }) | null;
};
