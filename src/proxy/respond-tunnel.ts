import type net from 'node:net';
import type tls from 'node:tls';
import { headersObject, pairsFromRaw } from '../capture/headers.js';
import { Exchange, type ConnectionInfo, type ExchangeSink, type RequestLike } from './exchange.js';
import type { TapRequest } from './tap.js';
import { relayToTarget } from './tunnel-relay.js';
import { recordWebSocketTurn } from './websocket-turns.js';

/*
 * Passthrough for a decrypted CONNECT tunnel without --upstream-url: the bytes are relayed as they
 * are (tunnel-relay.ts), and each exchange the tap rebuilds becomes the record the request path
 * would write for the same exchange.
 */

export interface TunnelOptions {
  trust: tls.SecureContext | undefined;
  /** The most of one body the tap keeps. */
  bodyLimit: number;
  /** Why this target may not be contacted, or null when it may. */
  refusal(host: string, port: number): string | null;
  /** Work that will still record exchanges (decompression): the run's flush waits for it. */
  hold(runId: string | null, work: Promise<unknown>): void;
  /** The upstream socket, to close with the proxy. */
  own(socket: net.Socket): void;
}

const EMPTY = Buffer.alloc(0);

export function relayTunnel(sink: ExchangeSink, options: TunnelOptions, client: tls.TLSSocket, conn: ConnectionInfo): void {
  const tunnel = conn.tunnel!;
  const requestLike = (r: TapRequest): RequestLike => ({
    url: r.url,
    method: r.method,
    httpVersion: r.httpVersion,
    rawHeaders: r.rawHeaders,
    headers: headersObject(r.rawHeaders),
    socket: client,
  });
  const why = options.refusal(tunnel.host, tunnel.port);
  const refused = why === null ? null : new Error(why);
  /** Exchanges of requests that are complete and wait for their response. */
  const waiting = new WeakMap<TapRequest, Exchange>();
  const exchangeOf = (r: TapRequest): Exchange => {
    const known = waiting.get(r);
    if (known) return known;
    const ex = new Exchange(sink, conn, requestLike(r), r.startedAt);
    ex.setRequestBody(r.body, !r.complete, r.overflow);
    return ex;
  };
  const upstreamSocket = relayToTarget(client, { host: tunnel.host, port: tunnel.port, target: tunnel.target, refused, bodyLimit: options.bodyLimit }, options.trust, {
    request(r) {
      const ex = exchangeOf(r);
      waiting.set(r, ex);
    },
    exchange(r, res, errors, written) {
      const ex = exchangeOf(r);
      waiting.delete(r);
      ex.response = res
        ? {
            source: 'upstream',
            status: res.status,
            headers: pairsFromRaw(res.rawHeaders),
            body: res.body,
            overflow: res.overflow,
            ...(res.complete ? {} : { incomplete: true }),
          }
        : null;
      ex.errors.push(...errors);
      ex.finish(written);
    },
    websocketTurn(handshake, turn) {
      recordWebSocketTurn(sink, conn, requestLike(handshake.req), { status: handshake.res.status, rawHeaders: handshake.res.rawHeaders }, turn);
    },
    hold(work) {
      options.hold(conn.runId, work);
    },
    framingLost(message) {
      const nothing: RequestLike = { url: '/', method: '', httpVersion: '1.1', rawHeaders: [], headers: {}, socket: client };
      const ex = new Exchange(sink, conn, nothing);
      ex.setRequestBody(EMPTY, true);
      ex.note('request', `framing lost on this connection (${message}); what followed was relayed but not recorded`);
      ex.finish();
    },
  });
  if (upstreamSocket) options.own(upstreamSocket);
}
