import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { headersToUpstream, pairsFromRaw, responseHead } from '../capture/headers.js';
import { log } from '../log.js';
import { Exchange, type ConnectionInfo, type ExchangeSink } from './exchange.js';
import { upstreamTarget, type PassthroughOptions } from './respond-passthrough.js';
import { refuseUpgrade } from './respond-stub.js';
import { WebSocketTap, negotiatedDeflate } from './websocket-tap.js';
import { TurnGrouper, recordWebSocketLost, recordWebSocketTurn, upgradeRequest } from './websocket-turns.js';

/*
 * Passthrough of a WebSocket on the proxy's own request path (reverse route, --upstream-url):
 * the upgrade goes to the same upstream an HTTP request would, the 101 and every byte after it are
 * relayed as sent both ways, and a copy of each direction is read as WebSocket frames, so every
 * turn is recorded as over a decrypted tunnel (websocket-turns.ts). Before, http-mitm-proxy
 * relayed these and nothing of them reached the capture.
 */

export function relayUpgrade(
  sink: ExchangeSink,
  options: PassthroughOptions,
  hold: (runId: string | null, work: Promise<unknown>) => void,
  req: http.IncomingMessage,
  socket: Duplex,
  head: Buffer,
  conn: ConnectionInfo | undefined,
): void {
  if (!conn) return void socket.destroy();
  const t = upstreamTarget(options, req, conn);
  if ('refusal' in t) return refuseUpgrade(sink, req, socket, conn, 502, t.answer);
  const request = upgradeRequest(req);
  const up = (t.isSSL ? https : http).request({
    method: req.method,
    host: t.hostname,
    hostname: t.hostname,
    port: t.port,
    path: t.upstreamPath,
    servername: net.isIP(t.hostname) ? '' : t.hostname,
    headers: headersToUpstream(req.rawHeaders, t.hostHeader),
    // The agents carry the upstream trust; an upgraded socket leaves the agent's pool.
    agent: t.isSSL ? options.httpsAgent : options.httpAgent,
  } as https.RequestOptions);
  socket.on('error', () => undefined);

  up.on('upgrade', (res: http.IncomingMessage, upstream: Duplex, upHead: Buffer) => {
    socket.write(responseHead(res.statusCode ?? 502, res.statusMessage ?? '', pairsFromRaw(res.rawHeaders)));
    const handshake = { status: res.statusCode ?? 101, rawHeaders: res.rawHeaders };
    const turns = new TurnGrouper((turn) => recordWebSocketTurn(sink, conn, request, handshake, turn));
    const extensions = res.headers['sec-websocket-extensions'];
    const tap = new WebSocketTap(negotiatedDeflate(Array.isArray(extensions) ? extensions[0] : extensions), (m) => turns.message(m), (message) => {
      log.warn({ url: req.url, err: message }, 'could not follow the WebSocket framing of a passthrough upgrade: relaying it unrecorded');
      recordWebSocketLost(sink, conn, request, `framing lost on this WebSocket (${message}); what followed was relayed but not recorded`);
    });
    upstream.on('error', () => undefined);
    if (upHead.length > 0) {
      socket.write(upHead);
      tap.fromServer(upHead);
    }
    if (head.length > 0) {
      upstream.write(head);
      tap.fromClient(head);
    }
    socket.on('data', (c: Buffer) => tap.fromClient(c));
    upstream.on('data', (c: Buffer) => tap.fromServer(c));
    socket.pipe(upstream);
    upstream.pipe(socket);
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      socket.destroy();
      upstream.destroy();
      hold(
        conn.runId,
        tap.settled().then(() => {
          turns.end();
          tap.close();
        }),
      );
    };
    socket.on('close', close);
    upstream.on('close', close);
    // Sockets here are half-open capable: an end from either side ends the WebSocket for both,
    // once the pipes have passed on what came before it.
    socket.on('end', () => setImmediate(close));
    upstream.on('end', () => setImmediate(close));
  });

  // The upstream answered without upgrading: its answer goes to the client as sent, recorded as one exchange.
  up.on('response', (res: http.IncomingMessage) => {
    const ex = new Exchange(sink, conn, request);
    ex.setRequestBody(Buffer.alloc(0), false);
    const chunks: Buffer[] = [];
    socket.write(responseHead(res.statusCode ?? 502, res.statusMessage ?? '', pairsFromRaw(res.rawHeaders)));
    res.on('data', (c: Buffer) => {
      chunks.push(c);
      socket.write(c);
    });
    res.on('end', () => {
      ex.response = { source: 'upstream', status: res.statusCode ?? 0, headers: pairsFromRaw(res.rawHeaders), body: Buffer.concat(chunks) };
      ex.finish(() => socket.end());
    });
    res.on('error', () => socket.destroy());
  });

  up.on('error', (err: Error) => {
    log.warn({ kind: 'PROXY_TO_SERVER_REQUEST_ERROR', url: req.url, err: err.message }, 'proxy error');
    const ex = new Exchange(sink, conn, request);
    ex.setRequestBody(Buffer.alloc(0), false);
    ex.fail('PROXY_TO_SERVER_REQUEST_ERROR', err);
    const text = `promptdiff: upstream failed (PROXY_TO_SERVER_REQUEST_ERROR): ${err.message}\n`;
    ex.finish(() => socket.end(`HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`));
  });
  up.end();
}
