import type http from 'node:http';
import { pairsFromRaw } from '../capture/headers.js';
import type { CaptureError } from '../capture/schema.js';
import { Exchange, type ConnectionInfo, type ExchangeSink, type RequestLike } from './exchange.js';
import type { WsMessage } from './websocket-tap.js';

/*
 * A relayed WebSocket recorded turn by turn, whichever path relayed it (a decrypted tunnel, or the
 * proxy's own request path): a client message and the server messages after it are one exchange,
 * method WEBSOCKET, read by the dialect of the handshake's path as a POST to it would be.
 */

export interface WebSocketTurn {
  /** The client message; null for server messages before the first one. */
  request: WsMessage | null;
  responses: WsMessage[];
}

/** Groups messages in arrival order into turns: each client message starts one. */
export class TurnGrouper {
  private turn: WebSocketTurn | null = null;

  constructor(private readonly emit: (turn: WebSocketTurn) => void) {}

  message(m: WsMessage): void {
    if (m.fromClient) {
      this.end();
      this.turn = { request: m, responses: [] };
    } else {
      this.turn ??= { request: null, responses: [] };
      this.turn.responses.push(m);
    }
  }

  /** The open turn is complete (the next client message, or the end of the connection). */
  end(): void {
    if (this.turn) this.emit(this.turn);
    this.turn = null;
  }
}

const EMPTY = Buffer.alloc(0);

/** An upgrade request as the record needs it. */
export function upgradeRequest(req: http.IncomingMessage): RequestLike {
  return { url: req.url, method: req.method, httpVersion: req.httpVersion, rawHeaders: req.rawHeaders, headers: req.headers, socket: req.socket };
}

/**
 * The exchange of one WebSocket message: the dialect is found as for the HTTP request the message
 * stands for (a POST to the handshake's path); the record says what it was.
 */
export function webSocketExchange(sink: ExchangeSink, conn: ConnectionInfo, request: RequestLike, at?: Date): Exchange {
  const ex = new Exchange(sink, conn, { ...request, method: 'POST' }, at);
  ex.recordedMethod = 'WEBSOCKET';
  return ex;
}

/** A WebSocket whose frames could not be read: what followed is not recorded, and the record says why. */
export function recordWebSocketLost(sink: ExchangeSink, conn: ConnectionInfo, request: RequestLike, note: string): void {
  const ex = webSocketExchange(sink, conn, request);
  ex.setRequestBody(EMPTY, true);
  ex.note('request', note);
  ex.finish();
}

/** The record of one turn; `handshake` is the server's 101 (its status and headers as sent). */
export function recordWebSocketTurn(sink: ExchangeSink, conn: ConnectionInfo, request: RequestLike, handshake: { status: number; rawHeaders: string[] }, turn: WebSocketTurn): void {
  const ex = webSocketExchange(sink, conn, request, turn.request?.at ?? turn.responses[0]?.at ?? new Date());
  ex.setRequestBody(turn.request?.data ?? EMPTY, false);
  // Text messages as they are; binary ones (or ones that failed to inflate) as base64.
  const events = turn.responses.map((m) => (m.opcode === 1 && !m.error ? { data: m.data.toString('utf8') } : { event: 'binary', data: m.data.toString('base64') }));
  ex.response = {
    source: 'upstream',
    status: handshake.status,
    headers: pairsFromRaw(handshake.rawHeaders),
    body: Buffer.from(events.map((e) => e.data).join('\n'), 'utf8'),
    events,
  };
  const errors: CaptureError[] = [...(turn.request ? [turn.request] : []), ...turn.responses]
    .filter((m) => m.error)
    .map((m) => ({ stage: 'decode' as const, message: `${m.fromClient ? 'client' : 'server'} message: ${m.error}` }));
  ex.errors.push(...errors);
  ex.finish();
}
