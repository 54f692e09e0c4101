import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { Duplex } from 'node:stream';
import { Proxy } from 'http-mitm-proxy';
import { ensureCA, LeafIssuer, defaultCertsDir } from '../ca/index.js';
import { CaptureWriter } from '../capture/store.js';
import type { CaptureError, RecordDraft, StubTurn } from '../capture/schema.js';
import { unknownStub, type StubReply } from '../dialects/index.js';
import { log } from '../log.js';
import {
  buildRecord,
  nextSeq,
  readExact,
  readForRecord,
  pairsFromObject,
  pairsFromRaw,
  type ParsedView,
  type RequestPart,
  type ResponsePart,
} from './record.js';
import { defaultUpstreamFor } from './upstream.js';
import { headersObject, type TapRequest } from './tap.js';
import { relayToTarget } from './tunnel-relay.js';
import { answerFromScript, type StubScriptOptions } from './stub-script.js';

export type UpstreamMode = 'stub' | 'passthrough';

export interface ProxyOptions {
  /** Interface to bind; loopback unless the user says otherwise. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** The main listener's captures go to outDir/exchanges.jsonl. */
  outDir: string;
  upstream?: UpstreamMode;
  /** Passthrough: send everything here instead of the host the client asked for. */
  upstreamUrl?: string;
  /** Passthrough: extra CA (PEM) to trust for the upstream, on top of the system store. */
  upstreamCa?: string;
  /**
   * Passthrough: the only hosts ("host" or "host:port") requests may be forwarded to; any other is
   * answered 502 and recorded, and nothing is sent to it. Unset: every host.
   */
  passthroughOnly?: string[];
  /** Store credentials (API keys, auth headers, cookies) as sent instead of redacting them. */
  keepSecrets?: boolean;
  /** Accept clients from non-loopback addresses. */
  allowRemote?: boolean;
  certsDir?: string;
  /** The assistant text of every stub reply. */
  stubText?: string;
  /** Stub only: answer model turns from this script (tool calls, then text); other requests get stubText. */
  stubScript?: StubScriptOptions;
}

export interface RunningProxy {
  host: string;
  port: number;
  url: string;
  caCertPath: string;
  upstream: UpstreamMode;
  /**
   * A listener of its own for one run: its exchanges are tagged with runId and go to captureDir.
   * `workDir`: the run's working directory as the agent sees it, for a stub script's relative paths.
   */
  addRunListener(runId: string, captureDir: string, options?: { workDir?: string }): Promise<{ port: number; url: string }>;
  removeRunListener(runId: string): Promise<void>;
  exchangeCount(runId?: string): number;
  /** Resolves once every exchange completed so far has been written. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_STUB_TEXT = 'Hello from the promptdiff stub upstream.';

/** What the record needs of a request: an IncomingMessage, or one the tunnel tap reconstructed. */
interface RequestLike {
  url?: string;
  method?: string;
  httpVersion: string;
  rawHeaders: string[];
  headers: http.IncomingHttpHeaders;
  socket: unknown;
}

/** Where a connection came from and where its exchanges go (the run's capture). */
interface ConnectionInfo {
  runId: string | null;
  clientAddress: string;
  clientPort: number;
  tunnel: { target: string; host: string; port: number; tls: boolean } | null;
}

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.replace(/^::ffff:/, '');
  return a === '::1' || a.startsWith('127.');
}

function withoutDefaultPort(host: string, scheme: 'http' | 'https'): string {
  return host.replace(scheme === 'https' ? /:443$/ : /:80$/, '');
}

function splitHostPort(target: string, defaultPort: number): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(target) ?? /^([^:]+)(?::(\d+))?$/.exec(target);
  if (!m) return { host: target, port: defaultPort };
  return { host: m[1]!, port: m[2] ? Number(m[2]) : defaultPort };
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

/**
 * The upstream's response headers for the client, as sent (names, order, duplicates), as the flat
 * [name, value, ...] list writeHead takes. Public-Key-Pins would pin the upstream's key on a
 * connection that carries our leaf, so it is dropped, as http-mitm-proxy does.
 */
function responseHeadersOut(raw: string[]): string[] {
  let out: string[] | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    if (/^public-key-pins/i.test(raw[i]!)) out ??= raw.slice(0, i);
    else if (out) out.push(raw[i]!, raw[i + 1]!);
  }
  return out ?? raw;
}

const EMPTY = Buffer.alloc(0);

/** Buffer.concat without the copy when there is a single chunk (most bodies arrive in one or two). */
function concat(chunks: Buffer[]): Buffer {
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/**
 * The client's request headers for the upstream, as sent (names, order, duplicates), as the flat
 * [name, value, ...] list http.request takes: Proxy-* headers are for us and stay here, and
 * `host`, when given, replaces the client's Host (a reverse route or --upstream-url).
 */
function headersToUpstream(raw: string[], host: string | null): string[] {
  const out: string[] = [];
  let sawHost = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length > 6 && /^proxy-/i.test(name)) continue;
    if (host !== null && name.length === 4 && name.toLowerCase() === 'host') {
      if (!sawHost) out.push(name, host);
      sawHost = true;
      continue;
    }
    out.push(name, raw[i + 1]!);
  }
  if (host !== null && !sawHost) out.unshift('Host', host);
  return out;
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

/*
 * Upstream connections with Nagle's algorithm off. Node's client sockets keep it on, and the
 * library writes a request body chunk by chunk as the client's TLS records arrive: the second
 * small write waits for the ACK of the first, which the upstream delays by 40 ms. Every request
 * with a body larger than one record (an agent's prompt always is) paid those 40 ms.
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

interface AgentInternals {
  createConnection(this: http.Agent, opts: net.NetConnectOpts, cb?: (err: Error | null, socket: Duplex) => void): net.Socket;
}

export async function startProxy(options: ProxyOptions): Promise<RunningProxy> {
  const host = options.host ?? '127.0.0.1';
  const upstream: UpstreamMode = options.upstream ?? 'stub';
  const keepSecrets = options.keepSecrets ?? false;
  const stubText = options.stubText ?? DEFAULT_STUB_TEXT;
  const ca = await ensureCA(options.certsDir ?? defaultCertsDir());
  const issuer = new LeafIssuer(ca);

  const connections = new WeakMap<Duplex, ConnectionInfo>();
  const openSockets = new Set<net.Socket>();
  /** Each run's capture, and the proxy's own (null) for connections to its main port. */
  const writers = new Map<string | null, CaptureWriter>();
  const runServers = new Map<string, net.Server>();
  const runWorkDirs = new Map<string, string>();

  const upstreamBase = options.upstreamUrl ? new URL(options.upstreamUrl) : null;
  const mayPassTo = passthroughFilter(options.passthroughOnly);
  const notAllowed = (host: string, port: number) => `passthrough to ${host}:${port} is not allowed (--passthrough-only ${options.passthroughOnly!.join(',')})`;
  const onCaptureError = (err: Error, file: string) => log.error({ err: err.message, file }, 'could not write a capture record');
  const mainWriter = await CaptureWriter.open(options.outDir, onCaptureError);
  writers.set(null, mainWriter);

  // The extra trust goes in as one secure context built once, not as a `ca` option: https.Agent
  // concatenates `ca` (all ~140 system roots plus ours, ~200 KB) into its pool key on every
  // request, and builds a fresh context from it for every new connection.
  const upstreamTrust = options.upstreamCa
    ? tls.createSecureContext({ ca: [...tls.rootCertificates, readFileSync(options.upstreamCa, 'utf8')] })
    : undefined;
  // Keep-alive agents: reusing upstream connections is most of the gap between a proxy that adds
  // a millisecond and one that adds forty.
  const httpAgent = new NoDelayHttpAgent({ keepAlive: true, maxSockets: 64 });
  const httpsAgent = new NoDelayHttpsAgent({ keepAlive: true, maxSockets: 64, ...(upstreamTrust ? { secureContext: upstreamTrust } : {}) });

  const proxy = new Proxy();
  const proxyInternals = proxy as unknown as {
    httpServer: http.Server;
    _onError(kind: string, ctx: unknown, err: Error): void;
  };
  // The library reports errors with console.error; ours go through pino and into the capture.
  proxyInternals._onError = (kind, _ctx, err) => onLibraryError(kind, err);

  function track(socket: net.Socket) {
    openSockets.add(socket);
    socket.setNoDelay(true);
    socket.once('close', () => openSockets.delete(socket));
    socket.on('error', (err) => log.debug({ err: err.message }, 'client socket error'));
  }

  function admit(socket: net.Socket, runId: string | null): boolean {
    if (!options.allowRemote && !isLoopback(socket.remoteAddress)) {
      log.warn({ remote: socket.remoteAddress }, 'refused a non-loopback client (use --allow-remote to accept it)');
      socket.destroy();
      return false;
    }
    track(socket);
    connections.set(socket, {
      runId,
      clientAddress: socket.remoteAddress ?? '',
      clientPort: socket.remotePort ?? 0,
      tunnel: null,
    });
    return true;
  }

  function writerOf(runId: string | null): CaptureWriter {
    return writers.get(runId) ?? writers.get(null)!;
  }

  function persist(runId: string | null, record: RecordDraft): void {
    writerOf(runId).append(record);
  }

  /**
   * Builds and writes the record on the next turn of the event loop, after the bytes already
   * queued for the client have gone out: decoding, parsing and serialising a large prompt is most
   * of the proxy's work per exchange, and the client should not wait for it. Counted, and awaited
   * by flush(), from the moment it is scheduled.
   */
  function persistSoon(runId: string | null, build: () => RecordDraft): void {
    writerOf(runId).appendLater(build);
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
    const tunnel = { target, host: targetHost, port: targetPort, tls: isTls };
    const carrier: Duplex = head && head.length > 0 ? prefixed(socket, head) : socket;
    if (!isTls) {
      connections.set(carrier, { ...info, tunnel });
      proxyInternals.httpServer.emit('connection', carrier);
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
    if (upstream === 'passthrough' && !upstreamBase) {
      relayTunnel(tlsSocket, { ...info, tunnel });
      return;
    }
    connections.set(tlsSocket, { ...info, tunnel });
    proxyInternals.httpServer.emit('connection', tlsSocket);
  }

  /**
   * Forward-route passthrough without --upstream-url (see tunnel-relay.ts); the records are the
   * ones the request path would write for the same exchange.
   */
  function relayTunnel(client: tls.TLSSocket, info: ConnectionInfo): void {
    const tunnel = info.tunnel!;
    const requestLike = (r: TapRequest): RequestLike => ({
      url: r.url,
      method: r.method,
      httpVersion: r.httpVersion,
      rawHeaders: r.rawHeaders,
      headers: headersObject(r.rawHeaders),
      socket: client,
    });
    const nothing: RequestLike = { url: '/', method: '', httpVersion: '1.1', rawHeaders: [], headers: {}, socket: client };
    const refused = mayPassTo && !mayPassTo(tunnel.host, tunnel.port) ? new Error(notAllowed(tunnel.host, tunnel.port)) : null;
    const upstreamSocket = relayToTarget(client, { host: tunnel.host, port: tunnel.port, target: tunnel.target, refused }, upstreamTrust, {
      exchange(r, res, errors) {
        const ids = nextSeq();
        persistSoon(info.runId, () => {
          const req = requestLike(r);
          const response: ResponsePart | null = res
            ? { source: 'upstream', status: res.status, headers: pairsFromRaw(res.rawHeaders), body: res.body, ...(res.complete ? {} : { incomplete: true }) }
            : null;
          return buildRecord({ ...recordBase(req, info, ids, r.startedAt, requestPart(req, info, r.body, !r.complete)), response, errors });
        });
      },
      websocketTurn(handshake, turn) {
        const ids = nextSeq();
        persistSoon(info.runId, () => {
          // The dialect is found as for the HTTP request the message stands for (a POST to the
          // handshake's path); the record says what it was.
          const req = { ...requestLike(handshake.req), method: 'POST' };
          const body = turn.request?.data ?? EMPTY;
          const part = requestPart(req, info, body, false);
          const base = recordBase(req, info, ids, turn.request?.at ?? turn.responses[0]?.at ?? new Date(), part);
          part.method = 'WEBSOCKET';
          // Text messages as they are; binary ones (or ones that failed to inflate) as base64.
          const events = turn.responses.map((m) => (m.opcode === 1 && !m.error ? { data: m.data.toString('utf8') } : { event: 'binary', data: m.data.toString('base64') }));
          const response: ResponsePart = {
            source: 'upstream',
            status: handshake.res.status,
            headers: pairsFromRaw(handshake.res.rawHeaders),
            body: Buffer.from(events.map((e) => e.data).join('\n'), 'utf8'),
            events,
          };
          const errors: CaptureError[] = [...(turn.request ? [turn.request] : []), ...turn.responses]
            .filter((m) => m.error)
            .map((m) => ({ stage: 'decode' as const, message: `${m.fromClient ? 'client' : 'server'} message: ${m.error}` }));
          return buildRecord({ ...base, response, errors });
        });
      },
      hold(work) {
        writerOf(info.runId).hold(work);
      },
      framingLost(message) {
        persist(
          info.runId,
          buildRecord({
            ...recordBase(nothing, info, nextSeq(), new Date(), requestPart(nothing, info, EMPTY, true)),
            response: null,
            errors: [{ stage: 'request', message: `framing lost on this connection (${message}); what followed was relayed but not recorded` }],
          }),
        );
      },
    });
    if (!upstreamSocket) return;
    openSockets.add(upstreamSocket);
    upstreamSocket.once('close', () => openSockets.delete(upstreamSocket));
  }

  function requestPart(req: RequestLike, info: ConnectionInfo, body: Buffer, incomplete: boolean): RequestPart {
    const rawUrl = req.url ?? '/';
    const absolute = /^https?:\/\//i.test(rawUrl);
    let url: string;
    let hostHeader = req.headers.host ?? '';
    if (info.tunnel) {
      hostHeader ||= info.tunnel.target;
      const scheme = info.tunnel.tls ? 'https' : 'http';
      url = `${scheme}://${withoutDefaultPort(hostHeader, scheme)}${rawUrl}`;
    } else if (absolute) {
      url = rawUrl;
      hostHeader ||= new URL(rawUrl).host;
    } else {
      url = `http://${hostHeader}${rawUrl}`;
    }
    let path = rawUrl;
    if (absolute) {
      const u = new URL(rawUrl);
      path = u.pathname + u.search;
    }
    return {
      method: req.method ?? 'GET',
      url,
      host: hostHeader,
      path,
      httpVersion: req.httpVersion,
      headers: pairsFromRaw(req.rawHeaders),
      contentEncoding: req.headers['content-encoding'],
      body,
      incomplete,
    };
  }

  /**
   * The request's parsed view. `exact`: its json answers the request (the stub); otherwise it is
   * read for the record alone, the cheaper way (readForRecord).
   */
  function view(part: RequestPart, req: RequestLike, exact: boolean): ParsedView {
    const head = { method: part.method, path: part.path, headers: req.headers };
    return (exact ? readExact : readForRecord)(head, part, req.headers['content-type']);
  }

  function routeOf(req: RequestLike, info: ConnectionInfo): 'forward' | 'reverse' {
    return info.tunnel || /^https?:\/\//i.test(req.url ?? '') ? 'forward' : 'reverse';
  }

  /** Reads the whole request body; `incomplete` when the client went away first. */
  function readBody(req: http.IncomingMessage, done: (body: Buffer, incomplete: boolean) => void): void {
    const chunks: Buffer[] = [];
    let finished = false;
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      finished = true;
      done(Buffer.concat(chunks), false);
    });
    req.on('close', () => {
      if (!finished && !req.complete) {
        finished = true;
        done(Buffer.concat(chunks), true);
      }
    });
    req.on('error', () => undefined);
    req.resume();
  }

  /** What every record of a request shares, whichever way it was answered. */
  function recordBase(req: RequestLike, info: ConnectionInfo, ids: { seq: number; id: string }, startedAt: Date, part: RequestPart, exact = false) {
    return {
      seq: ids.seq,
      id: ids.id,
      run: info.runId,
      startedAt,
      route: routeOf(req, info),
      client: { address: info.clientAddress, port: info.clientPort },
      tunnel: info.tunnel ? { target: info.tunnel.target, sni: sniOf(req), tls: info.tunnel.tls } : null,
      request: part,
      view: view(part, req, exact),
      bytesText: !exact,
      keepSecrets,
    };
  }

  function answerWithStub(req: http.IncomingMessage, res: http.ServerResponse, info: ConnectionInfo): void {
    const startedAt = new Date();
    const ids = nextSeq();
    readBody(req, (body, incomplete) => {
      const base = recordBase(req, info, ids, startedAt, requestPart(req, info, body, incomplete), true);
      const v = base.view;
      if (incomplete) {
        persist(info.runId, buildRecord({ ...base, response: null, errors: [{ stage: 'client', message: 'client disconnected before the request body was complete' }] }));
        return;
      }
      let reply: StubReply;
      let stubTurn: StubTurn | undefined;
      const errors: CaptureError[] = [];
      try {
        const workDir = info.runId === null ? undefined : runWorkDirs.get(info.runId);
        const scripted = options.stubScript && v.dialect ? answerFromScript(v.dialect, v.head, v.json, options.stubScript, workDir) : null;
        stubTurn = scripted?.turn ?? (options.stubScript ? { index: null, reason: 'not a model API request' } : undefined);
        if (stubTurn?.error) errors.push({ stage: 'upstream', message: stubTurn.error });
        reply = scripted?.reply ?? (v.dialect ? v.dialect.stub(v.head, v.json, { text: stubText }) : unknownStub(v.head));
      } catch (err) {
        reply = { status: 500, headers: { 'content-type': 'text/plain' }, chunks: [`promptdiff stub failed: ${(err as Error).message}`] };
      }
      const bodyOut = Buffer.from(reply.chunks.join(''), 'utf8');
      const response: ResponsePart = { source: 'stub', status: reply.status, headers: pairsFromObject(reply.headers), body: bodyOut };
      const finish = () => persist(info.runId, buildRecord({ ...base, response, errors, ...(stubTurn ? { stubTurn } : {}) }));
      res.on('close', () => {
        if (!res.writableFinished) {
          errors.push({ stage: 'client', message: 'client disconnected before the response was complete' });
          response.incomplete = true;
        }
        finish();
      });
      const streaming = reply.chunks.length > 1;
      res.writeHead(reply.status, streaming ? reply.headers : { ...reply.headers, 'content-length': String(bodyOut.length) });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      if (!streaming) {
        res.end(bodyOut);
        return;
      }
      for (const chunk of reply.chunks) res.write(chunk);
      res.end();
    });
  }

  /**
   * An upgrade that may not go anywhere (stub mode has no WebSocket peer; --passthrough-only):
   * answered and recorded, so the attempt shows in the capture.
   */
  function refuseUpgrade(
    req: http.IncomingMessage,
    socket: Duplex,
    status = 501,
    message = 'WebSocket upgrade refused: the stub upstream does not speak WebSocket (use --upstream passthrough)',
  ): void {
    const info = connections.get(req.socket);
    const startedAt = new Date();
    const reason = status === 501 ? 'Not Implemented' : 'Bad Gateway';
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(message) + 1}\r\n\r\n${message}\n`);
    if (!info) return;
    persist(
      info.runId,
      buildRecord({
        ...recordBase(req, info, nextSeq(), startedAt, requestPart(req, info, Buffer.alloc(0), false)),
        response: { source: 'stub', status, headers: [['content-type', 'text/plain']], body: Buffer.from(`${message}\n`) },
        errors: [{ stage: 'request', message }],
      }),
    );
  }

  interface PassthroughState {
    req: http.IncomingMessage;
    res: http.ServerResponse;
    info: ConnectionInfo;
    startedAt: Date;
    seq: number;
    id: string;
    requestChunks: Buffer[];
    responseChunks: Buffer[];
    response: ResponsePart | null;
    errors: CaptureError[];
    done: boolean;
    upstreamRequest: http.ClientRequest | null;
  }

  /** `soon`: the record is built after the response has gone out (see persistSoon). */
  function finishPassthrough(state: PassthroughState, soon = false): void {
    if (state.done) return;
    state.done = true;
    const req = state.req;
    const incomplete = !req.complete;
    const build = (): RecordDraft => {
      if (state.response) state.response.body = concat(state.responseChunks);
      return buildRecord({
        ...recordBase(req, state.info, state, state.startedAt, requestPart(req, state.info, concat(state.requestChunks), incomplete)),
        response: state.response,
        errors: state.errors,
      });
    };
    if (soon) persistSoon(state.info.runId, build);
    else persist(state.info.runId, build());
  }

  /**
   * Passthrough, on the proxy's own request path rather than http-mitm-proxy's per-request one
   * (a context with a dozen closures, a UUID, async.js handler chains for every hook and every
   * body chunk, and the response re-encoded as chunked through a filter chain): one upstream
   * request with the client's headers as sent, body chunks forwarded as they arrive, the
   * upstream's response written back as it arrives with its own framing.
   */
  function passThrough(req: http.IncomingMessage, res: http.ServerResponse, info: ConnectionInfo): void {
    const { seq, id } = nextSeq();
    const state: PassthroughState = {
      req,
      res,
      info,
      startedAt: new Date(),
      seq,
      id,
      requestChunks: [],
      responseChunks: [],
      response: null,
      errors: [],
      done: false,
      upstreamRequest: null,
    };
    req.on('error', (err) => upstreamFailed(state, 'CLIENT_TO_PROXY_REQUEST_ERROR', err));
    res.on('error', (err) => upstreamFailed(state, 'PROXY_TO_CLIENT_RESPONSE_ERROR', err));
    res.on('close', () => {
      if (state.done) return;
      state.errors.push({ stage: 'client', message: 'client disconnected before the response was complete' });
      if (state.response) state.response.incomplete = true;
      state.upstreamRequest?.destroy();
      finishPassthrough(state);
    });

    const rawUrl = req.url ?? '/';
    const absolute = /^https?:\/\//i.test(rawUrl);
    const requested = absolute ? new URL(rawUrl) : null;
    const path = requested ? requested.pathname + requested.search : rawUrl;

    let target: URL | null = null;
    if (upstreamBase) target = upstreamBase;
    else if (requested) target = requested;
    else if (!info.tunnel) {
      // Reverse route: the client's base URL is us, so the real host must come from the dialect.
      const guess = defaultUpstreamFor(path, req.headers);
      if (!guess) {
        refuse(state, `no upstream for ${path}: pass --upstream-url`, `reverse-route passthrough needs --upstream-url to know where ${path} goes`);
        return;
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
      const tunnel = info.tunnel!;
      isSSL = tunnel.tls;
      hostname = tunnel.host;
      port = tunnel.port;
      upstreamPath = rawUrl;
    }
    if (mayPassTo && !mayPassTo(hostname, port)) {
      const why = notAllowed(hostname, port);
      refuse(state, why, why);
      return;
    }
    // Node adds no Host of its own to a raw header list; an HTTP/1.0 client may not have sent one.
    if (hostHeader === null && req.headers.host === undefined) hostHeader = target ? target.host : withoutDefaultPort(info.tunnel!.target, isSSL ? 'https' : 'http');

    const upstreamRequest = (isSSL ? https : http).request({
      method: req.method,
      host: hostname,
      hostname,
      port,
      path: upstreamPath,
      servername: net.isIP(hostname) ? '' : hostname,
      headers: headersToUpstream(req.rawHeaders, hostHeader),
      agent: isSSL ? httpsAgent : httpAgent,
    } as https.RequestOptions);
    state.upstreamRequest = upstreamRequest;
    upstreamRequest.on('error', (err) => upstreamFailed(state, 'PROXY_TO_SERVER_REQUEST_ERROR', err));
    upstreamRequest.on('response', (r: http.IncomingMessage) => relayResponse(state, r));

    // Chunks that arrive together (a TLS read yields one per 16 KB record) go upstream as one write.
    let corked = false;
    const uncork = () => {
      corked = false;
      upstreamRequest.uncork();
    };
    req.on('data', (chunk: Buffer) => {
      state.requestChunks.push(chunk);
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
    });
  }

  /** Answers 502 without contacting any upstream, once the request body is in; records why. */
  function refuse(state: PassthroughState, error: string, answer: string): void {
    state.errors.push({ stage: 'upstream', message: error });
    state.req.on('data', (c: Buffer) => state.requestChunks.push(c));
    state.req.on('end', () => {
      state.res.writeHead(502, { 'content-type': 'text/plain' });
      state.res.end(`promptdiff: ${answer}\n`);
      finishPassthrough(state);
    });
  }

  /**
   * The upstream's status line and headers go to the client as sent (content-length kept, no
   * re-encoding), each body chunk as it arrives (server-sent events stream), nothing after the last.
   */
  function relayResponse(state: PassthroughState, r: http.IncomingMessage): void {
    const res = state.res;
    state.response = { source: 'upstream', status: r.statusCode ?? 0, headers: pairsFromRaw(r.rawHeaders), body: EMPTY };
    r.on('error', (err) => upstreamFailed(state, 'SERVER_TO_PROXY_RESPONSE_ERROR', err));
    if (state.done) {
      r.resume();
      return;
    }
    res.writeHead(r.statusCode ?? 502, r.statusMessage, responseHeadersOut(r.rawHeaders));
    r.on('data', (chunk: Buffer) => {
      state.responseChunks.push(chunk);
      if (!res.write(chunk)) {
        r.pause();
        res.once('drain', () => r.resume());
      }
    });
    r.on('end', () => {
      // Marks the exchange complete, ends the response to the client, and only then builds the record.
      finishPassthrough(state, true);
      res.end();
    });
  }

  /** An exchange that failed on either leg: recorded, answered 502 when nothing was sent yet, else cut. */
  function upstreamFailed(state: PassthroughState, kind: string, err: Error): void {
    log.warn({ kind, err: err?.message }, 'proxy error');
    if (!state.done) {
      state.errors.push({ stage: kind.startsWith('PROXY_TO_SERVER') || kind.startsWith('SERVER_TO_PROXY') ? 'upstream' : 'response', message: `${kind}: ${err?.message ?? err}` });
    }
    const res = state.res;
    if (res.destroyed) {
      // the client is gone: nothing to answer
    } else if (!res.headersSent) {
      res.writeHead(502, { 'content-type': 'text/plain', 'x-promptdiff-error': kind });
      res.end(`promptdiff: upstream failed (${kind}): ${err?.message ?? err}\n`);
    } else if (!res.writableEnded) {
      res.destroy();
    }
    state.upstreamRequest?.destroy();
    finishPassthrough(state);
  }

  /** Errors the library itself reports (WebSocket tunnels, its server): logged. */
  function onLibraryError(kind: string, err: Error): void {
    log.warn({ kind, err: err?.message }, 'proxy error');
  }

  function sniOf(req: RequestLike): string | null {
    const s = req.socket as tls.TLSSocket;
    return typeof s.servername === 'string' ? s.servername : null;
  }

  proxy.onConnect((req, socket, head) => onConnect(req, socket, head));

  function onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const info = connections.get(req.socket);
    if (!info) {
      res.destroy();
      return;
    }
    if (upstream === 'stub') answerWithStub(req, res, info);
    else passThrough(req, res, info);
  }

  await new Promise<void>((resolve, reject) => {
    proxy.listen(
      { host, port: options.port ?? 0, keepAlive: true, httpAgent, httpsAgent, sslCaDir: ca.certsDir, timeout: 0 },
      (err?: Error | null) => (err ? reject(err) : resolve()),
    );
    // listen() reports a busy port through the server's error event, not its callback.
    setImmediate(() => proxyInternals.httpServer?.once('error', reject));
  });
  const server = proxyInternals.httpServer;
  // HTTP requests take the proxy's own path (see passThrough); the library keeps CONNECT and WebSockets.
  server.removeAllListeners('request');
  server.on('request', onRequest);
  if (upstream === 'stub') {
    // The library would relay a WebSocket to the real host: in stub mode nothing may leave the machine.
    server.removeAllListeners('upgrade');
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex) => refuseUpgrade(req, socket));
  } else if (mayPassTo) {
    // The library relays a WebSocket to the host the request names; only to the allowed ones.
    const relayUpgrade = server.listeners('upgrade') as Array<(req: http.IncomingMessage, socket: Duplex, head: Buffer) => void>;
    server.removeAllListeners('upgrade');
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const info = connections.get(req.socket);
      const to = info?.tunnel ?? splitHostPort(req.headers.host ?? '', 80);
      if (mayPassTo(to.host, to.port)) for (const l of relayUpgrade) l.call(server, req, socket, head);
      else refuseUpgrade(req, socket, 502, notAllowed(to.host, to.port));
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

  const running: RunningProxy = {
    host,
    port,
    url: `http://${urlHost}:${port}`,
    caCertPath: ca.certPath,
    upstream,
    async addRunListener(runId, captureDir, listenerOptions = {}) {
      if (writers.has(runId)) throw new Error(`run ${runId} already has a listener`);
      writers.set(runId, await CaptureWriter.open(captureDir, onCaptureError));
      if (listenerOptions.workDir !== undefined) runWorkDirs.set(runId, listenerOptions.workDir);
      const listener = net.createServer((socket) => {
        if (admit(socket, runId)) server.emit('connection', socket);
      });
      await new Promise<void>((resolve, reject) => {
        listener.once('error', reject);
        listener.listen(0, host, () => resolve());
      });
      runServers.set(runId, listener);
      const runPort = (listener.address() as net.AddressInfo).port;
      return { port: runPort, url: `http://${urlHost}:${runPort}` };
    },
    async removeRunListener(runId) {
      const listener = runServers.get(runId);
      runServers.delete(runId);
      runWorkDirs.delete(runId);
      if (listener) await new Promise<void>((r) => listener.close(() => r()));
      await writers.get(runId)?.close();
    },
    exchangeCount(runId) {
      return writers.get(runId ?? null)?.written ?? 0;
    },
    async flush() {
      await Promise.all([...writers.values()].map((w) => w.flush()));
    },
    async close() {
      for (const id of [...runServers.keys()]) await running.removeRunListener(id);
      proxy.close();
      for (const s of openSockets) s.destroy();
      httpAgent.destroy();
      httpsAgent.destroy();
      await running.flush();
      await mainWriter.close();
    },
  };
  log.debug({ url: running.url, upstream, out: options.outDir }, 'proxy listening');
  return running;
}
