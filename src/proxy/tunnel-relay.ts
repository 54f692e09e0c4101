import net from 'node:net';
import tls from 'node:tls';
import type { CaptureError } from '../capture/schema.js';
import { log } from '../log.js';
import { headerValues } from '../capture/headers.js';
import { redactQuery } from '../capture/redact.js';
import { captureError } from './error-kinds.js';
import { awaitingResponse } from './limits.js';
import { HttpTap, type TapRequest, type TapResponse } from './tap.js';
import { WebSocketTap, negotiatedDeflate } from './websocket-tap.js';
import { TurnGrouper, type WebSocketTurn } from './websocket-turns.js';

/** A tunnelled request as a log line names it (query redacted as in the record). */
function requestLine(r: TapRequest): string {
  return `${r.method} ${redactQuery(r.url).value}`;
}

export interface RelayTarget {
  host: string;
  port: number;
  /** The CONNECT target as the client gave it, for messages. */
  target: string;
  /** Set when this target may not be contacted: every request is answered 502 with it. */
  refused?: Error | null;
  /** The most of one body the tap keeps for the record. */
  bodyLimit?: number;
}

export interface RelayEvents {
  /**
   * An exchange to record: complete, or cut off (then `errors` says by whom). `written`, when
   * given, must be called once its record is written: the bytes that completed the response for
   * the client wait for it.
   */
  exchange(req: TapRequest, res: TapResponse | null, errors: CaptureError[], written?: () => void): void;
  /** A request is complete (and relayed); its response is still to come. */
  request?(req: TapRequest): void;
  /** The tap could not follow the connection's HTTP framing: the rest is relayed unrecorded. */
  framingLost(message: string): void;
  /**
   * One turn of a WebSocket the connection was upgraded to: a client message (null for server
   * messages before the first one) and the server messages that followed it, up to the next
   * client message or the end.
   */
  websocketTurn(handshake: { req: TapRequest; res: TapResponse }, turn: WebSocketTurn): void;
  /** Work that will still report turns (decompression): the capture's flush waits for it. */
  hold(work: Promise<unknown>): void;
}



/**
 * Passthrough for a decrypted CONNECT tunnel: the client's bytes go to the target over a TLS
 * connection of their own, exactly as sent (no HTTP server or client in between, so no header is
 * rewritten and nothing is re-framed), the target's bytes come back the same way, and a copy of
 * each direction goes through the HTTP/1.1 tap, which rebuilds the exchanges for the capture.
 * An unreachable (or refused) target is answered 502 per request, as the request path does.
 * Returns the upstream socket (the caller closes it with the proxy), or null when refused.
 */
export function relayToTarget(client: tls.TLSSocket, to: RelayTarget, trust: tls.SecureContext | undefined, events: RelayEvents): tls.TLSSocket | null {
  const up = to.refused
    ? null
    : tls.connect({
        host: to.host,
        port: to.port,
        ...(net.isIP(to.host) ? {} : { servername: to.host }),
        ALPNProtocols: ['http/1.1'],
        ...(trust ? { secureContext: trust } : {}),
      });
  up?.setNoDelay(true);
  let connected = false;
  let failed: Error | null = to.refused ?? null;
  let closed = false;

  /*
   * Durable before acknowledged: a chunk from the upstream that completes a response (the tap
   * says so while reading it) is held, with everything after it, until that exchange's record is
   * written. `unwritten` counts the records the held bytes wait for.
   */
  let readingServer = false;
  let unwritten = 0;
  const held: Buffer[] = [];
  /** The upstream ended while bytes were held: end the client after them. */
  let endAfterHeld = false;
  /** The client's write buffer is full: the upstream stays paused until it drains. */
  let blocked = false;
  const toClient = (chunk: Buffer) => {
    if (client.destroyed || client.write(chunk) || blocked) return;
    blocked = true;
    client.once('drain', () => {
      blocked = false;
      if (unwritten === 0) up?.resume();
    });
  };
  const release = () => {
    unwritten -= 1;
    if (unwritten > 0) return;
    for (const c of held.splice(0)) toClient(c);
    if (endAfterHeld) client.end();
    else if (up && !blocked) up.resume();
  };
  /** A `written` callback for an exchange the server's bytes just completed; none otherwise. */
  const gate = (): (() => void) | undefined => {
    if (!readingServer) return undefined;
    unwritten += 1;
    return release;
  };

  const answerFailed = (r: TapRequest) => {
    if (!failed) return;
    // The upstream could not be reached (or may not be): answer this request 502 and close.
    const kind = to.refused ? 'PASSTHROUGH_NOT_ALLOWED' : 'PROXY_TO_SERVER_REQUEST_ERROR';
    log.warn({ kind, target: to.target, err: failed.message, request: requestLine(r) }, 'proxy error');
    const message = to.refused ? `promptdiff: ${failed.message}\n` : `promptdiff: upstream failed (${kind}): ${failed.message}\n`;
    const error = to.refused ? { stage: 'upstream' as const, message: failed.message } : captureError(kind, failed);
    // Answered once recorded, like a response from the upstream.
    events.exchange(r, null, [error], () =>
      client.end(`HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\nx-promptdiff-error: ${kind}\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(message)}\r\n\r\n${message}`),
    );
    tap.close();
  };
  // After a 101 to a WebSocket, its messages are read instead, and recorded turn by turn.
  let ws: WebSocketTap | null = null;
  let handshake: { req: TapRequest; res: TapResponse } | null = null;
  const turns = new TurnGrouper((turn) => {
    if (handshake) events.websocketTurn(handshake, turn);
  });
  const tap = new HttpTap({
    exchange: (r, res) => {
      if (!tap.waiting) awaitingResponse.delete(client);
      events.exchange(r, res, [], gate());
    },
    request: (r) => {
      awaitingResponse.add(client);
      events.request?.(r);
      answerFailed(r);
    },
    error: (message) => {
      log.warn({ target: to.target, err: message }, 'could not follow the HTTP framing of a tunnel: relaying it unrecorded');
      events.framingLost(`HTTP: ${message}`);
    },
    upgraded: (req, res, clientRest, serverRest) => {
      if (!/^websocket$/i.test(headerValues(res.rawHeaders, 'upgrade')[0]?.trim() ?? '')) return;
      handshake = { req, res };
      ws = new WebSocketTap(negotiatedDeflate(headerValues(res.rawHeaders, 'sec-websocket-extensions')[0]), (m) => turns.message(m), (message) => {
        log.warn({ target: to.target, err: message }, 'could not follow the WebSocket framing of a tunnel: relaying it unrecorded');
        events.framingLost(`WebSocket: ${message}`);
      });
      if (clientRest.length > 0) ws.fromClient(clientRest);
      if (serverRest.length > 0) ws.fromServer(serverRest);
    },
  }, to.bodyLimit);
  /** Records what is still open, cut off by `stage`. */
  const finish = (stage: CaptureError['stage'], message: string) => {
    if (closed) return;
    closed = true;
    for (const { req, res } of tap.close()) events.exchange(req, res, [{ stage, message }]);
    const open = ws;
    if (open) {
      events.hold(
        open.settled().then(() => {
          turns.end();
          open.close();
        }),
      );
    }
  };

  client.on('data', (chunk: Buffer) => {
    if (up && !failed && !up.write(chunk)) {
      client.pause();
      up.once('drain', () => client.resume());
    }
    if (ws) ws.fromClient(chunk);
    else tap.fromClient(chunk);
  });
  client.on('end', () => {
    if (!failed) up?.end();
  });
  client.on('close', () => {
    up?.destroy();
    finish('client', 'client disconnected before the response was complete');
  });
  if (!up) return null;

  up.on('data', (chunk: Buffer) => {
    if (client.destroyed) return;
    if (ws) ws.fromServer(chunk);
    else {
      readingServer = true;
      tap.fromServer(chunk);
      readingServer = false;
    }
    if (unwritten > 0) {
      held.push(chunk);
      up.pause();
      return;
    }
    toClient(chunk);
    if (blocked) up.pause();
  });
  up.once('secureConnect', () => {
    connected = true;
  });
  up.on('end', () => {
    readingServer = true;
    tap.serverEnded();
    readingServer = false;
    // No response can follow: what is still open was cut off by the upstream, not the client.
    finish('upstream', 'the upstream closed the connection before the response was complete');
    if (unwritten > 0) endAfterHeld = true;
    else client.end();
  });
  up.on('error', (err) => {
    if (connected) {
      log.warn({ kind: 'SERVER_TO_PROXY_RESPONSE_ERROR', target: to.target, err: err.message, ...(tap.waiting ? { request: requestLine(tap.waiting) } : {}) }, 'proxy error');
      const e = captureError('SERVER_TO_PROXY_RESPONSE_ERROR', err);
      finish(e.stage, e.message);
      client.destroy();
      return;
    }
    // Logged when a request is answered with it: a client may open a tunnel and never use it.
    log.debug({ target: to.target, err: err.message }, 'could not connect to the tunnel target');
    failed = err;
    const waiting = tap.waiting;
    if (waiting) answerFailed(waiting);
  });
  up.on('close', () => {
    // After a clean end the client socket finishes sending what it holds and closes itself.
    if (!failed && !client.writableEnded && !endAfterHeld) client.destroy();
  });
  return up;
}
