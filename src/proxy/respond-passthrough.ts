import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { BodyBuffer } from '../capture/body.js';
import { headersToUpstream, pairsFromRaw, responseHeadersOut } from '../capture/headers.js';
import { log } from '../log.js';
import { CLIENT_FAULT, ClientFault } from './client-faults.js';
import type { ErrorKind } from './error-kinds.js';
import { Exchange, type ConnectionInfo, type ExchangeSink } from './exchange.js';
import { splitHostPort } from './listen.js';
import { defaultUpstreamFor } from './upstream.js';

/*
 * Passthrough on the proxy's own request path (reverse route, --upstream-url, plain-HTTP tunnels)
 * rather than http-mitm-proxy's per-request one (a context with a dozen closures, a UUID, async.js
 * handler chains for every hook and every body chunk, and the response re-encoded as chunked
 * through a filter chain): one upstream request with the client's headers as sent, body chunks
 * forwarded as they arrive, the upstream's response written back as it arrives with its own framing.
 */

export interface PassthroughOptions {
  /** Send everything here instead of the host the client asked for. */
  upstreamBase: URL | null;
  /** The hosts requests may go to; null: any. */
  mayPassTo: ((host: string, port: number) => boolean) | null;
  /** Why a host may not be passed to, for the answer and the record. */
  notAllowed(host: string, port: number): string;
  httpAgent: http.Agent;
  httpsAgent: https.Agent;
}

/** A --passthrough-only list as a test of host and port. */
export function passthroughFilter(entries: string[] | undefined): ((host: string, port: number) => boolean) | null {
  if (!entries) return null;
  const allowed = entries.map((e) => {
    const { host, port } = splitHostPort(e.trim(), -1);
    return { host: host.toLowerCase(), port };
  });
  return (host, port) => {
    const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
    return allowed.some((a) => a.host === h && (a.port === -1 || a.port === port));
  };
}

interface AgentInternals {
  createConnection(this: http.Agent, opts: net.NetConnectOpts, cb?: (err: Error | null, socket: Duplex) => void): net.Socket;
}

/*
 * Upstream connections with Nagle's algorithm off. Node's client sockets keep it on, and a request
 * body is written chunk by chunk as the client's TLS records arrive: the second small write waits
 * for the ACK of the first, which the upstream delays by 40 ms. Every request with a body larger
 * than one record (an agent's prompt always is) paid those 40 ms.
 */
class NoDelayHttpAgent extends http.Agent {
  override createConnection(opts: net.NetConnectOpts, cb?: (err: Error | null, socket: Duplex) => void): Duplex {
    const socket = (http.Agent.prototype as unknown as AgentInternals).createConnection.call(this, opts, cb);
    socket.setNoDelay(true);
    return socket;
  }
}

class NoDelayHttpsAgent extends https.Agent {
  override createConnection(opts: net.NetConnectOpts, cb?: (err: Error | null, socket: Duplex) => void): Duplex {
    const socket = (https.Agent.prototype as unknown as AgentInternals).createConnection.call(this, opts, cb);
    socket.setNoDelay(true);
    return socket;
  }
}

/**
 * Keep-alive agents: reusing upstream connections is most of the gap between a proxy that adds a
 * millisecond and one that adds forty. `trust` is the extra trust as one secure context built
 * once, not a `ca` option: https.Agent concatenates `ca` (all ~140 system roots plus ours, ~200 KB)
 * into its pool key on every request, and builds a fresh context from it for every new connection.
 */
export function upstreamAgents(trust: tls.SecureContext | undefined): { httpAgent: http.Agent; httpsAgent: https.Agent } {
  return {
    httpAgent: new NoDelayHttpAgent({ keepAlive: true, maxSockets: 64 }),
    httpsAgent: new NoDelayHttpsAgent({ keepAlive: true, maxSockets: 64, ...(trust ? { secureContext: trust } : {}) }),
  };
}

const EMPTY = Buffer.alloc(0);

/** One exchange on the request path, while it lasts. */
class Passage {
  readonly requestBody: BodyBuffer;
  readonly responseBody: BodyBuffer;
  upstreamRequest: http.ClientRequest | null = null;
  private requestSet = false;

  constructor(
    readonly ex: Exchange,
    readonly req: http.IncomingMessage,
    readonly res: http.ServerResponse,
    bodyLimit: number,
  ) {
    this.requestBody = new BodyBuffer(bodyLimit);
    this.responseBody = new BodyBuffer(bodyLimit);
  }

  /** The whole request body arrived. */
  requestDone(): void {
    if (this.ex.finished || this.requestSet) return;
    this.requestSet = true;
    this.ex.setRequestBody(this.requestBody.bytes(), false, this.requestBody.overflow());
  }

  /** Hands the exchange to the capture with what arrived of both bodies; `after` runs once it is written. */
  finish(after?: () => void): void {
    if (this.ex.finished) return;
    if (!this.requestSet) this.ex.setRequestBody(this.requestBody.bytes(), !this.req.complete, this.requestBody.overflow());
    const response = this.ex.response;
    if (response?.source === 'upstream') {
      response.body = this.responseBody.bytes();
      response.overflow = this.responseBody.overflow();
    }
    this.ex.finish(after);
  }

  /** An exchange that failed on either leg: recorded, answered 502 when nothing was sent yet, else cut. */
  failed(kind: ErrorKind, err: Error): void {
    // A request the transport gave up on (malformed, too slow) was logged there already.
    const fault = err instanceof ClientFault ? err : null;
    if (!fault) log.warn({ kind, err: err?.message, ...this.ex.logContext() }, 'proxy error');
    this.ex.fail(kind, err);
    const res = this.res;
    if (res.destroyed || fault?.status === 0) {
      // the client is gone, or is not to be answered: nothing to answer
      if (fault && !res.destroyed) res.destroy();
    } else if (!res.headersSent) {
      // Answered once recorded, like every complete response (durable before acknowledged).
      const status = fault?.status ?? 502;
      const text = fault ? `promptdiff: ${fault.message}\n` : `promptdiff: upstream failed (${kind}): ${err?.message ?? err}\n`;
      res.writeHead(status, { 'content-type': 'text/plain', 'x-promptdiff-error': kind });
      // The proxy's own answer to a request it refused is what the client got: the record says so.
      if (fault) this.ex.response = { source: 'stub', status, headers: [['content-type', 'text/plain']], body: Buffer.from(text) };
      this.upstreamRequest?.destroy();
      this.finish(() => res.end(text));
      return;
    } else if (!res.writableEnded) {
      res.destroy();
    }
    this.upstreamRequest?.destroy();
    this.finish();
  }

  /** Answers 502 without contacting any upstream, once the request body is in; records why. */
  refuse(error: string, answer: string): void {
    this.ex.note('upstream', error);
    this.req.on('data', (c: Buffer) => this.requestBody.push(c));
    this.req.on('end', () => {
      this.res.writeHead(502, { 'content-type': 'text/plain' });
      this.finish(() => this.res.end(`promptdiff: ${answer}\n`));
    });
  }

  /**
   * The upstream's status line and headers go to the client as sent (content-length kept, no
   * re-encoding), each body chunk as it arrives (server-sent events stream), nothing after the last.
   * Durable before acknowledged: what completes the response for the client (the chunk that
   * reaches its Content-Length, or the end of a chunked or close-delimited body, which is written
   * by res.end) goes out only once the record has been written.
   */
  relayResponse(r: http.IncomingMessage): void {
    const res = this.res;
    this.ex.response = { source: 'upstream', status: r.statusCode ?? 0, headers: pairsFromRaw(r.rawHeaders), body: EMPTY };
    r.on('error', (err) => this.failed('SERVER_TO_PROXY_RESPONSE_ERROR', err));
    if (this.ex.finished) {
      r.resume();
      return;
    }
    res.writeHead(r.statusCode ?? 502, r.statusMessage, responseHeadersOut(r.rawHeaders));
    const declared = Number(r.headers['content-length'] ?? NaN);
    let received = 0;
    let last: Buffer | undefined;
    r.on('data', (chunk: Buffer) => {
      this.responseBody.push(chunk);
      received += chunk.length;
      if (received >= declared) {
        last = last ? Buffer.concat([last, chunk]) : chunk;
        return;
      }
      if (!res.write(chunk)) {
        r.pause();
        res.once('drain', () => r.resume());
      }
    });
    r.on('end', () => {
      this.finish(() => {
        if (!res.destroyed) res.end(last);
      });
    });
  }
}

/** Where a request on the proxy's own path goes upstream, or why it may not. */
export interface UpstreamTarget {
  isSSL: boolean;
  hostname: string;
  port: number;
  upstreamPath: string;
  /** The Host to send instead of the client's; null keeps the client's. */
  hostHeader: string | null;
}

export function upstreamTarget(options: PassthroughOptions, req: http.IncomingMessage, conn: ConnectionInfo): UpstreamTarget | { refusal: string; answer: string } {
  const rawUrl = req.url ?? '/';
  const absolute = /^https?:\/\//i.test(rawUrl);
  const requested = absolute ? new URL(rawUrl) : null;
  const path = requested ? requested.pathname + requested.search : rawUrl;

  let target: URL | null = null;
  if (options.upstreamBase) target = options.upstreamBase;
  else if (requested) target = requested;
  else if (!conn.tunnel) {
    // Reverse route: the client's base URL is us, so the real host must come from the dialect.
    const guess = defaultUpstreamFor(path, req.headers);
    if (!guess) {
      return { refusal: `no upstream for ${path}: pass --upstream-url`, answer: `reverse-route passthrough needs --upstream-url to know where ${path} goes` };
    }
    target = new URL(guess);
  }
  let isSSL: boolean;
  let hostname: string;
  let port: number;
  let upstreamPath: string;
  let hostHeader: string | null = null;
  if (target) {
    isSSL = target.protocol === 'https:';
    hostname = target.hostname.replace(/^\[(.*)\]$/, '$1');
    port = Number(target.port || (isSSL ? 443 : 80));
    upstreamPath = target === requested ? path : target.pathname.replace(/\/$/, '') + path;
    if (target !== requested) hostHeader = target.host;
  } else {
    const tunnel = conn.tunnel!;
    isSSL = tunnel.tls;
    hostname = tunnel.host;
    port = tunnel.port;
    upstreamPath = rawUrl;
  }
  if (options.mayPassTo && !options.mayPassTo(hostname, port)) {
    const why = options.notAllowed(hostname, port);
    return { refusal: why, answer: why };
  }
  // Node adds no Host of its own to a raw header list; an HTTP/1.0 client may not have sent one.
  if (hostHeader === null && req.headers.host === undefined) {
    hostHeader = target ? target.host : conn.tunnel!.target.replace(isSSL ? /:443$/ : /:80$/, '');
  }

  return { isSSL, hostname, port, upstreamPath, hostHeader };
}

export function passThrough(sink: ExchangeSink, options: PassthroughOptions, req: http.IncomingMessage, res: http.ServerResponse, conn: ConnectionInfo): void {
  const ex = new Exchange(sink, conn, req);
  const p = new Passage(ex, req, res, sink.bodyLimit);
  req.on('error', (err) => p.failed('CLIENT_TO_PROXY_REQUEST_ERROR', err));
  req.once(CLIENT_FAULT, (fault: ClientFault) => p.failed('CLIENT_TO_PROXY_REQUEST_ERROR', fault));
  res.on('error', (err) => p.failed('PROXY_TO_CLIENT_RESPONSE_ERROR', err));
  res.on('close', () => {
    if (ex.finished) return;
    ex.note('client', 'client disconnected before the response was complete');
    if (ex.response) ex.response.incomplete = true;
    p.upstreamRequest?.destroy();
    p.finish();
  });

  const t = upstreamTarget(options, req, conn);
  if ('refusal' in t) {
    p.refuse(t.refusal, t.answer);
    return;
  }
  const { isSSL, hostname, port, upstreamPath, hostHeader } = t;

  const upstreamRequest = (isSSL ? https : http).request({
    method: req.method,
    host: hostname,
    hostname,
    port,
    path: upstreamPath,
    servername: net.isIP(hostname) ? '' : hostname,
    headers: headersToUpstream(req.rawHeaders, hostHeader),
    agent: isSSL ? options.httpsAgent : options.httpAgent,
  } as https.RequestOptions);
  p.upstreamRequest = upstreamRequest;
  upstreamRequest.on('error', (err) => p.failed('PROXY_TO_SERVER_REQUEST_ERROR', err));
  upstreamRequest.on('response', (r: http.IncomingMessage) => p.relayResponse(r));

  // Chunks that arrive together (a TLS read yields one per 16 KB record) go upstream as one write.
  let corked = false;
  const uncork = () => {
    corked = false;
    upstreamRequest.uncork();
  };
  req.on('data', (chunk: Buffer) => {
    p.requestBody.push(chunk);
    if (upstreamRequest.destroyed) return;
    if (!corked) {
      corked = true;
      upstreamRequest.cork();
      process.nextTick(uncork);
    }
    if (!upstreamRequest.write(chunk)) {
      req.pause();
      upstreamRequest.once('drain', () => req.resume());
    }
  });
  req.on('end', () => {
    if (!upstreamRequest.destroyed) upstreamRequest.end();
    // After the corked body has gone upstream (nextTick), before the response can be complete.
    setImmediate(() => p.requestDone());
  });
}
