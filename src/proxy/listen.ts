import type http from 'node:http';
import type https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { Duplex } from 'node:stream';
import { Proxy } from 'http-mitm-proxy';
import { LeafIssuer, type CertificateAuthority } from '../ca/index.js';
import { redactQuery } from '../capture/redact.js';
import { log } from '../log.js';
import { CLIENT_FAULT, ClientFault, describeClientError, rawAnswer, requestLineOf } from './client-faults.js';
import type { ConnectionInfo } from './exchange.js';
import { awaitingResponse, LimitLog, type Limits } from './limits.js';

/*
 * The transport: the listening sockets, CONNECT, TLS termination, the per-run listeners and the
 * limits on what one client may hold (connections, idle time, slow requests). It decides nothing
 * about answers; it tags every connection with where it came from (ConnectionInfo) and hands
 * requests, tunnels and upgrades to the handlers, and what it refuses to `rejected`.
 *
 * http-mitm-proxy provides the listening HTTP server and CONNECT dispatch (its WebSocket relay is
 * not used: it recorded nothing). CONNECT tunnels are taken over and TLS is terminated in
 * this process instead of through the library's per-host loopback HTTPS servers.
 */

export interface TransportOptions {
  host: string;
  port: number;
  allowRemote: boolean;
  ca: CertificateAuthority;
  limits: Limits;
  /** Handed to the library, which would use them for requests it relays itself (none reach it). */
  httpAgent: http.Agent;
  httpsAgent: https.Agent;
}

/** A request the transport refused before any responder saw it, for the record. */
export interface Rejection {
  method: string;
  url: string;
  httpVersion: string;
  /** What the client was answered; 0 when it was not answered. */
  status: number;
  /** What happened, in words. */
  reason: string;
  /** Whose doing it was: a request the parser refused, or a client that did nothing. */
  stage: 'request' | 'client';
  /** The answer's bytes, when there is one. */
  answer: string;
}

export interface TransportHandlers {
  request(req: http.IncomingMessage, res: http.ServerResponse, conn: ConnectionInfo): void;
  /** A decrypted TLS tunnel to relay as bytes. Absent: tunnels are served through request() too. */
  tunnel?(client: tls.TLSSocket, conn: ConnectionInfo): void;
  /** An HTTP upgrade (a WebSocket): the responder answers or relays it; the library's relay is never used. */
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, conn: ConnectionInfo | undefined): void;
  /** Records a refused request; `answer` sends the refusal, once recorded. */
  rejected(conn: ConnectionInfo, rejection: Rejection, answer: () => void): void;
}

export interface Transport {
  host: string;
  port: number;
  /** http://HOST:PORT of the main listener. */
  url: string;
  urlFor(port: number): string;
  connectionOf(socket: unknown): ConnectionInfo | undefined;
  /** A listener of its own for one run: every connection it accepts is tagged with runId. */
  addRunListener(runId: string): Promise<number>;
  removeRunListener(runId: string): Promise<void>;
  /** A socket of the proxy's own (an upstream connection) to destroy on close. */
  own(socket: net.Socket): void;
  /** How often each limit was hit. */
  limitsHit(): ReturnType<LimitLog['counts']>;
  close(): void;
}

/** The port could not be listened on: a user mistake (busy, privileged), said in one line. */
export class ListenError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ListenError';
  }
}

function listenError(err: NodeJS.ErrnoException, host: string, port: number): ListenError {
  switch (err.code) {
    case 'EADDRINUSE':
      return new ListenError(err.code, `port ${port} on ${host} is already in use (another proxy?): pick another with --port, or --port 0 for a free one`);
    case 'EACCES':
      return new ListenError(err.code, `port ${port} on ${host} needs privileges this user does not have (ports below 1024 usually do): use --port 1024 or above`);
    case 'EADDRNOTAVAIL':
      return new ListenError(err.code, `${host} is not an address of this machine: pass one that is with --host`);
    default:
      return new ListenError(err.code ?? 'ELISTEN', `cannot listen on ${host}:${port}: ${err.message}`);
  }
}

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.replace(/^::ffff:/, '');
  return a === '::1' || a.startsWith('127.');
}

export function splitHostPort(target: string, defaultPort: number): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(target) ?? /^([^:]+)(?::(\d+))?$/.exec(target);
  if (!m) return { host: target, port: defaultPort };
  return { host: m[1]!, port: m[2] ? Number(m[2]) : defaultPort };
}

/** A stream that yields `head` first, then the socket's bytes: for clients that send TLS data with the CONNECT. */
function prefixed(socket: net.Socket, head: Buffer): Duplex {
  const d = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk, _enc, cb) {
      socket.write(chunk, cb);
    },
    final(cb) {
      socket.end();
      cb();
    },
    destroy(err, cb) {
      socket.destroy(err ?? undefined);
      cb(err);
    },
  });
  d.push(head);
  socket.on('data', (c: Buffer) => {
    if (!d.push(c)) socket.pause();
  });
  socket.on('end', () => d.push(null));
  socket.on('close', () => d.destroy());
  return d;
}

export async function listen(options: TransportOptions, handlers: TransportHandlers): Promise<Transport> {
  const { host, ca, limits } = options;
  const issuer = new LeafIssuer(ca);
  const limitLog = new LimitLog();
  const connections = new WeakMap<object, ConnectionInfo>();
  const openSockets = new Set<net.Socket>();
  let clients = 0;
  const runServers = new Map<string, net.Server>();
  /** Each run's connections that the HTTP server reads requests from (not tunnels relayed as bytes). */
  const served = new Map<string, Set<Duplex>>();
  /** The request being answered on a connection, and how many are in flight (pipelining). */
  const current = new WeakMap<object, { req: http.IncomingMessage; res: http.ServerResponse; n: number }>();
  /** Runs whose listener is being removed: their connections are not kept alive. */
  const closing = new Set<string>();
  /** Connections whose request Node's parser or timeouts gave up on. */
  const refused = new WeakSet<object>();

  /** `socket` will carry HTTP requests of `runId` through the server. */
  function serve(socket: Duplex, runId: string | null): void {
    if (runId === null) return;
    let set = served.get(runId);
    if (!set) served.set(runId, (set = new Set()));
    set.add(socket);
    socket.once('close', () => set.delete(socket));
  }

  const proxy = new Proxy();
  const proxyInternals = proxy as unknown as {
    httpServer: http.Server;
    _onError(kind: string, ctx: unknown, err: Error): void;
  };
  let listening = false;
  let failListen: ((err: Error) => void) | null = null;
  // The library reports errors with console.error; ours go through pino. Before the server is
  // listening, its error is the listen's (a busy port): the library reports it only here.
  proxyInternals._onError = (kind, ctx, err) => {
    if (!listening && kind === 'HTTP_SERVER_ERROR' && failListen) failListen(err);
    else {
      // The library's context holds the request when there is one (its WebSocket relay): name it.
      const req = (ctx as { clientToProxyRequest?: { method?: string; url?: string } } | null)?.clientToProxyRequest;
      log.warn({ kind, err: err?.message, ...(req?.url ? { request: `${req.method ?? ''} ${redactQuery(req.url).value}` } : {}) }, 'proxy error');
    }
  };

  function own(socket: net.Socket) {
    openSockets.add(socket);
    socket.once('close', () => openSockets.delete(socket));
  }

  /** A request in flight on `socket` gave up: its responder records why (and answers, if it can). */
  function faultCurrent(socket: object, fault: ClientFault): boolean {
    const cur = current.get(socket);
    if (!cur || cur.req.listenerCount(CLIENT_FAULT) === 0) return false;
    cur.res.shouldKeepAlive = false;
    cur.req.emit(CLIENT_FAULT, fault);
    return true;
  }

  /** No byte either way for the idle timeout: close, and say so in the record of what was in flight. */
  function onIdle(socket: net.Socket | tls.TLSSocket, what: string): void {
    // A request in flight is not idle: a non-streaming request may wait minutes for its answer's
    // first byte. The timer re-arms with the next byte either way; a request's own deadline is the
    // body timeout's.
    if (current.has(socket) || awaitingResponse.has(socket)) return;
    const seconds = limits.idleTimeoutMs / 1000;
    limitLog.hit('idle', `closed ${what} idle for ${seconds} s (--idle-timeout)`, { seconds });
    faultCurrent(socket, new ClientFault(0, `no byte either way for ${seconds} s: the proxy closed the connection (idle timeout)`));
    socket.destroy();
  }

  function admit(socket: net.Socket, runId: string | null): boolean {
    if (!options.allowRemote && !isLoopback(socket.remoteAddress)) {
      log.warn({ remote: socket.remoteAddress }, 'refused a non-loopback client (use --allow-remote to accept it)');
      socket.destroy();
      return false;
    }
    if (clients >= limits.maxConnections) {
      limitLog.hit('connections', `refused a connection: ${limits.maxConnections} client connections are open (--max-connections)`, { max: limits.maxConnections });
      socket.destroy();
      return false;
    }
    clients += 1;
    socket.once('close', () => (clients -= 1));
    own(socket);
    socket.setNoDelay(true);
    socket.setTimeout(limits.idleTimeoutMs, () => onIdle(socket, 'a client connection'));
    socket.on('error', (err) => log.debug({ err: err.message }, 'client socket error'));
    connections.set(socket, { runId, clientAddress: socket.remoteAddress ?? '', clientPort: socket.remotePort ?? 0, tunnel: null });
    return true;
  }

  /** Forward route: take over the CONNECT tunnel and terminate TLS in this process with a leaf for the target. */
  function onConnect(req: http.IncomingMessage, clientSocket: Duplex, head: Buffer): void {
    const socket = clientSocket as net.Socket;
    const info = connections.get(socket);
    if (!info) {
      socket.destroy();
      return;
    }
    const target = req.url ?? '';
    const { host: targetHost, port: targetPort } = splitHostPort(target, 443);
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    // Port 80 tunnels carry plain HTTP (ws://, http:// through HTTPS_PROXY); everything else is TLS.
    // The TLS socket must wrap the connection before any byte is read: once Node hands the native
    // handle to TLS, bytes already read into JavaScript would be lost.
    const isTls = targetPort !== 80;
    const conn: ConnectionInfo = { ...info, tunnel: { target, host: targetHost, port: targetPort, tls: isTls } };
    const carrier: Duplex = head && head.length > 0 ? prefixed(socket, head) : socket;
    // The connection now carries a tunnel, not requests to us.
    if (info.runId !== null) served.get(info.runId)?.delete(socket);
    if (!isTls) {
      connections.set(carrier, conn);
      serve(carrier, conn.runId);
      server.emit('connection', carrier);
      return;
    }
    const tlsSocket = new tls.TLSSocket(carrier as net.Socket, {
      isServer: true,
      secureContext: issuer.secureContext(targetHost),
      SNICallback: (servername, cb) => {
        try {
          cb(null, issuer.secureContext(servername));
        } catch (err) {
          cb(err as Error);
        }
      },
      ALPNProtocols: ['http/1.1'],
    });
    // TLS reads the connection's handle natively from here on, so the raw socket no longer sees
    // activity: the idle timer moves to the TLS socket.
    socket.setTimeout(0);
    let secured = false;
    tlsSocket.once('secure', () => (secured = true));
    tlsSocket.setTimeout(limits.idleTimeoutMs, () => {
      if (secured) return onIdle(tlsSocket, 'a tunnel');
      const seconds = limits.idleTimeoutMs / 1000;
      limitLog.hit('idle-tunnel', `closed a tunnel whose client started no TLS handshake in ${seconds} s`, { target, seconds });
      const reason = `the client opened a tunnel to ${target} and completed no TLS handshake in ${seconds} s: the proxy closed it (idle timeout)`;
      handlers.rejected(conn, { method: 'CONNECT', url: target, httpVersion: req.httpVersion, status: 200, reason, stage: 'client', answer: '' }, () => socket.destroy());
    });
    tlsSocket.on('error', (err: NodeJS.ErrnoException) => {
      socket.destroy();
      // After the handshake, an error is only a client going away.
      if (secured) return void log.debug({ target, err: err.message }, 'client connection error');
      // A client that does not trust our CA says so with a TLS alert: the most common set-up
      // mistake, worth a warning. A client that just hangs up is not one.
      if (/alert|certificate/i.test(`${err.code ?? ''} ${err.message}`)) {
        log.warn({ target, err: err.message }, 'the client rejected the promptdiff certificate in the TLS handshake (does it trust the promptdiff CA?)');
      } else if (err.code === 'ECONNRESET' || /socket hang up|ECONNRESET|EPIPE/i.test(err.message)) {
        log.info({ target, err: err.message }, 'the client closed its tunnel before completing a TLS handshake');
      } else {
        log.warn({ target, err: err.message }, 'TLS handshake with the client failed');
      }
    });
    if (handlers.tunnel) {
      handlers.tunnel(tlsSocket, conn);
      return;
    }
    connections.set(tlsSocket, conn);
    serve(tlsSocket, conn.runId);
    server.emit('connection', tlsSocket);
  }

  /**
   * What Node's HTTP parser rejected (431, a malformed request line or chunk) and what its
   * timeouts gave up on. A request already handed to a responder is faulted there (it records and
   * answers); one that never became a request is answered here, and recorded.
   */
  function onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    // The parser reports again for every later read of a connection it gave up on: once is enough.
    if (refused.has(socket)) return;
    refused.add(socket);
    const conn = connections.get(socket);
    if (err.code === 'ECONNRESET' || !conn || !socket.writable) {
      socket.destroy();
      return;
    }
    const inFlight = current.get(socket);
    const { status, reason } = describeClientError(err, inFlight ? 'body' : 'head', { headerMs: limits.headerTimeoutMs, bodyMs: limits.bodyTimeoutMs });
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      const kind = inFlight ? 'body' : 'headers';
      limitLog.hit(kind, `answered 408 to a request whose ${kind === 'body' ? 'body' : 'headers'} took too long (--${kind === 'body' ? 'body' : 'header'}-timeout)`, {});
    } else {
      log.info({ status, reason, client: `${conn.clientAddress}:${conn.clientPort}`, target: conn.tunnel?.target }, 'refused a malformed request');
    }
    if (inFlight) {
      const fault = new ClientFault(inFlight.res.headersSent ? 0 : status, reason);
      if (!faultCurrent(socket, fault)) socket.destroy();
      // Whatever the responder answers, the connection goes.
      setTimeout(() => socket.destroy(), 5000).unref();
      return;
    }
    const line = requestLineOf((err as { rawPacket?: Buffer }).rawPacket);
    const answer = status > 0 ? rawAnswer(status, reason) : '';
    handlers.rejected(conn, { ...line, status, reason, stage: err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'client' : 'request', answer }, () => {
      if (answer && socket.writable) socket.end(answer);
      else socket.destroy();
      setTimeout(() => socket.destroy(), 5000).unref();
    });
  }

  proxy.onConnect((req, socket, head) => onConnect(req, socket, head));

  await new Promise<void>((resolve, reject) => {
    failListen = (err) => reject(listenError(err as NodeJS.ErrnoException, host, options.port));
    proxy.listen(
      { host, port: options.port, keepAlive: true, httpAgent: options.httpAgent, httpsAgent: options.httpsAgent, sslCaDir: ca.certsDir, timeout: 0 },
      (err?: Error | null) => (err ? reject(err) : resolve()),
    );
  });
  listening = true;
  const server = proxyInternals.httpServer;
  // HTTP requests take the proxy's own path; the library keeps CONNECT dispatch; upgrades go to the responder (below).
  server.removeAllListeners('request');
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const conn = connections.get(req.socket);
    if (!conn) {
      res.destroy();
      return;
    }
    const socket = req.socket;
    const cur = { req, res, n: (current.get(socket)?.n ?? 0) + 1 };
    current.set(socket, cur);
    res.once('close', () => {
      const now = current.get(socket);
      if (!now) return;
      if (now.n <= 1) current.delete(socket);
      else now.n -= 1;
    });
    if (conn.runId !== null && closing.has(conn.runId)) res.shouldKeepAlive = false;
    handlers.request(req, res, conn);
  });
  server.on('clientError', onClientError);
  // The idle timer is ours (onIdle decides). Without a listener here, Node's HTTP server destroys a
  // socket at its first timeout, even one whose request is waiting for a slow upstream.
  server.on('timeout', () => undefined);
  server.removeAllListeners('upgrade');
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => handlers.upgrade(req, socket, head, connections.get(req.socket)));
  // Marks the connection before http-mitm-proxy's own listeners see it.
  server.prependListener('connection', (socket: net.Socket) => {
    if (!connections.has(socket)) admit(socket, null);
  });
  server.keepAliveTimeout = 30_000;
  server.headersTimeout = limits.headerTimeoutMs;
  // Node's limit for the whole request, headers and body: a body trickling in (a byte every two
  // seconds) is never idle, so only a deadline ends it.
  server.requestTimeout = Math.max(limits.bodyTimeoutMs, limits.headerTimeoutMs);
  // Node checks both every connectionsCheckingInterval (30 s), set up when the server starts
  // listening, which the library did before we could set it: check as often as the shortest
  // timeout needs, by setting it up again.
  (server as http.Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.max(100, Math.min(30_000, Math.floor(Math.min(limits.headerTimeoutMs, limits.bodyTimeoutMs) / 4)));
  const setup = server.listeners('listening').find((l) => l.name === 'setupConnectionsTracking') as ((this: http.Server) => void) | undefined;
  setup?.call(server);

  const port = (server.address() as net.AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const urlFor = (p: number) => `http://${urlHost}:${p}`;

  return {
    host,
    port,
    url: urlFor(port),
    urlFor,
    connectionOf: (socket) => (typeof socket === 'object' && socket !== null ? connections.get(socket) : undefined),
    async addRunListener(runId) {
      const listener = net.createServer((socket) => {
        if (!admit(socket, runId)) return;
        serve(socket, runId);
        server.emit('connection', socket);
      });
      await new Promise<void>((resolve, reject) => {
        listener.once('error', reject);
        listener.listen(0, host, () => resolve());
      });
      runServers.set(runId, listener);
      return (listener.address() as net.AddressInfo).port;
    },
    async removeRunListener(runId) {
      const listener = runServers.get(runId);
      runServers.delete(runId);
      if (!listener) return;
      // The run is over: connections idle between requests are closed now instead of after the
      // keep-alive timeout (30 s), and the ones still answering close after their response.
      closing.add(runId);
      const closed = new Promise<void>((r) => listener.close(() => r()));
      for (const socket of served.get(runId) ?? []) if (!current.get(socket)) socket.destroy();
      await closed;
      closing.delete(runId);
      served.delete(runId);
    },
    own,
    limitsHit: () => limitLog.counts(),
    close() {
      proxy.close();
      for (const s of openSockets) s.destroy();
    },
  };
}
