import type http from 'node:http';
import type https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { Duplex } from 'node:stream';
import { Proxy } from 'http-mitm-proxy';
import { LeafIssuer, type CertificateAuthority } from '../ca/index.js';
import { log } from '../log.js';
import type { ConnectionInfo } from './exchange.js';

/*
 * The transport: the listening sockets, CONNECT, TLS termination and the per-run listeners. It
 * decides nothing about answers; it tags every connection with where it came from (ConnectionInfo)
 * and hands requests, tunnels and upgrades to the handlers.
 *
 * http-mitm-proxy provides the listening HTTP server, CONNECT dispatch and, in passthrough mode,
 * WebSocket relaying on the request path. CONNECT tunnels are taken over and TLS is terminated in
 * this process instead of through the library's per-host loopback HTTPS servers.
 */

export interface TransportOptions {
  host: string;
  port: number;
  allowRemote: boolean;
  ca: CertificateAuthority;
  /** Used by the library's WebSocket relay. */
  httpAgent: http.Agent;
  httpsAgent: https.Agent;
}

export interface TransportHandlers {
  request(req: http.IncomingMessage, res: http.ServerResponse, conn: ConnectionInfo): void;
  /** A decrypted TLS tunnel to relay as bytes. Absent: tunnels are served through request() too. */
  tunnel?(client: tls.TLSSocket, conn: ConnectionInfo): void;
  /** An HTTP upgrade; `relay` hands it to the library's WebSocket relay. Absent: the library relays every one. */
  upgrade?(req: http.IncomingMessage, socket: Duplex, head: Buffer, conn: ConnectionInfo | undefined, relay: () => void): void;
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
  close(): void;
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
  const { host, ca } = options;
  const issuer = new LeafIssuer(ca);
  const connections = new WeakMap<object, ConnectionInfo>();
  const openSockets = new Set<net.Socket>();
  const runServers = new Map<string, net.Server>();

  const proxy = new Proxy();
  const proxyInternals = proxy as unknown as {
    httpServer: http.Server;
    _onError(kind: string, ctx: unknown, err: Error): void;
  };
  // The library reports errors with console.error; ours go through pino.
  proxyInternals._onError = (kind, _ctx, err) => log.warn({ kind, err: err?.message }, 'proxy error');

  function own(socket: net.Socket) {
    openSockets.add(socket);
    socket.once('close', () => openSockets.delete(socket));
  }

  function admit(socket: net.Socket, runId: string | null): boolean {
    if (!options.allowRemote && !isLoopback(socket.remoteAddress)) {
      log.warn({ remote: socket.remoteAddress }, 'refused a non-loopback client (use --allow-remote to accept it)');
      socket.destroy();
      return false;
    }
    own(socket);
    socket.setNoDelay(true);
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
    if (!isTls) {
      connections.set(carrier, conn);
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
    let secured = false;
    tlsSocket.once('secure', () => (secured = true));
    tlsSocket.on('error', (err) => {
      // A client that does not trust our CA shows up here: say so, it is the most common set-up
      // mistake. A connection reset after the handshake is only a client going away.
      if (secured) log.debug({ target, err: err.message }, 'client connection error');
      else log.warn({ target, err: err.message }, 'TLS handshake with client failed (does the client trust the promptdiff CA?)');
      socket.destroy();
    });
    if (handlers.tunnel) {
      handlers.tunnel(tlsSocket, conn);
      return;
    }
    connections.set(tlsSocket, conn);
    server.emit('connection', tlsSocket);
  }

  proxy.onConnect((req, socket, head) => onConnect(req, socket, head));

  await new Promise<void>((resolve, reject) => {
    proxy.listen(
      { host, port: options.port, keepAlive: true, httpAgent: options.httpAgent, httpsAgent: options.httpsAgent, sslCaDir: ca.certsDir, timeout: 0 },
      (err?: Error | null) => (err ? reject(err) : resolve()),
    );
    // listen() reports a busy port through the server's error event, not its callback.
    setImmediate(() => proxyInternals.httpServer?.once('error', reject));
  });
  const server = proxyInternals.httpServer;
  // HTTP requests take the proxy's own path; the library keeps CONNECT and WebSockets.
  server.removeAllListeners('request');
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const conn = connections.get(req.socket);
    if (!conn) {
      res.destroy();
      return;
    }
    handlers.request(req, res, conn);
  });
  if (handlers.upgrade) {
    const upgrade = handlers.upgrade;
    const libraryUpgrade = server.listeners('upgrade') as Array<(req: http.IncomingMessage, socket: Duplex, head: Buffer) => void>;
    server.removeAllListeners('upgrade');
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      upgrade(req, socket, head, connections.get(req.socket), () => {
        for (const l of libraryUpgrade) l.call(server, req, socket, head);
      });
    });
  }
  // Marks the connection before http-mitm-proxy's own listeners see it.
  server.prependListener('connection', (socket: net.Socket) => {
    if (!connections.has(socket)) admit(socket, null);
  });
  server.keepAliveTimeout = 30_000;
  server.headersTimeout = 60_000;
  server.requestTimeout = 0;

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
        if (admit(socket, runId)) server.emit('connection', socket);
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
      if (listener) await new Promise<void>((r) => listener.close(() => r()));
    },
    own,
    close() {
      proxy.close();
      for (const s of openSockets) s.destroy();
    },
  };
}
