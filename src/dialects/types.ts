import type { DialectName, ParsedRequest, SseEvent } from '../capture/schema.js';
import type { Conversation, ToolCall } from './tool-turns.js';

/** What a dialect may look at to recognise a request: no body needed. */
export interface RequestHead {
  method: string;
  /** Path with query string, as in the request line (origin-form). */
  path: string;
  /** Lower-cased header names (Node's IncomingMessage.headers). */
  headers: Record<string, string | string[] | undefined>;
}

export interface StubOptions {
  /** The assistant text every stub reply carries. */
  text: string;
}

/** A complete stub answer. `chunks` are written in order; a streaming reply has one chunk per SSE event. */
export interface StubReply {
  status: number;
  headers: Record<string, string>;
  chunks: string[];
}

export interface Dialect {
  name: Exclude<DialectName, 'unknown'>;
  /** Top-level request-body fields that carry credentials: stored as `[redacted]` unless secrets are kept. */
  secretBodyFields?: readonly string[];
  /** The vendor's API origin: where a reverse-routed request of this family goes without --upstream-url. */
  origin: string;
  /** The base URL a client of this family uses when nothing sets one (the origin, with its API prefix when clients include it). */
  baseUrl: string;
  /** Model ids the stub lists when a client of this family asks for the models (none for a vendor API whose server picks the model). */
  models: readonly string[];
  /** Cheap test on method and path (and headers if needed). */
  matches(head: RequestHead): boolean;
  /**
   * The agent's prompt as the model would see it. `body` is the parsed JSON body (or null when the
   * body was empty or not JSON). Never throws: shapes it does not know become empty fields. Run
   * when a capture is read (capture/view.ts), never on the proxy's hot path: a better parse reads
   * old captures better.
   */
  parse(head: RequestHead, body: unknown): ParsedRequest;
  /** A valid reply (streaming when the request asked for it) that lets a real agent finish its task. */
  stub(head: RequestHead, body: unknown, options: StubOptions): StubReply;
  /** The assistant text carried by a streamed response (for passthrough captures). */
  assembleText(events: SseEvent[]): string;
  /**
   * What a stub script reads of the request (proxy/stub-script.ts); null when the request is not a
   * model turn (count_tokens, compaction). Never throws. `body` is exact JSON, as for `stub`.
   */
  conversation(head: RequestHead, body: unknown): Conversation | null;
  /** A valid reply (streaming when the request asked for it) in which the model calls one tool. */
  toolCall(head: RequestHead, body: unknown, call: ToolCall): StubReply;
  /**
   * For an API that also runs over a WebSocket (Responses WebSocket mode): the body of the
   * streamed request one client message stands for, answered like it with the events as text
   * messages; null for a message that wants no answer (an acknowledgement). `continues`: the
   * message carries only what is new since the connection's last turn. Absent: the stub refuses
   * this dialect's WebSocket upgrades.
   */
  websocketTurn?(message: unknown): { body: unknown; continues: boolean } | null;
}
