import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import zlib from 'node:zlib';
import { HttpTap, type TapRequest, type TapResponse } from '../src/proxy/tap.js';
import { headersObject } from '../src/capture/headers.js';
import { startProxy } from '../src/proxy/server.js';
import { readExchanges } from '../src/capture/store.js';
import { ensureCA, LeafIssuer } from '../src/ca/index.js';
import type { ExchangeRecord } from '../src/capture/schema.js';
import { tmp, connectTunnel, forwardRequest } from './helpers/clients.js';
import { wsDeflater, wsFrame } from './helpers/websocket-frames.js';

interface Seen {
  exchanges: Array<{ req: TapRequest; res: TapResponse }>;
  errors: string[];
  tap: HttpTap;
}

function newTap(): Seen {
  const seen: Seen = { exchanges: [], errors: [], tap: null as unknown as HttpTap };
  seen.tap = new HttpTap({ exchange: (req, res) => seen.exchanges.push({ req, res }), error: (m) => seen.errors.push(m) });
  return seen;
}

/** Feeds both directions in the given pieces (requests first, as on the wire), then ends the server side. */
function run(reqBytes: Buffer, resBytes: Buffer, pieces: (b: Buffer) => Buffer[], end = false): Seen {
  const s = newTap();
  for (const p of pieces(reqBytes)) s.tap.fromClient(p);
  for (const p of pieces(resBytes)) s.tap.fromServer(p);
  if (end) s.tap.serverEnded();
  return s;
}

const whole = (b: Buffer) => [b];
const bytewise = (b: Buffer) => Array.from({ length: b.length }, (_, i) => b.subarray(i, i + 1));
const splitAt = (i: number) => (b: Buffer) => [b.subarray(0, i), b.subarray(i)];

const summary = (s: Seen) =>
  s.exchanges.map(({ req, res }) => ({
    method: req.method,
    url: req.url,
    reqHeaders: req.rawHeaders,
    reqBody: req.body.toString('latin1'),
    status: res.status,
    resHeaders: res.rawHeaders,
    resBody: res.body.toString('latin1'),
  }));

const PIPELINED_REQ = Buffer.from(
  'POST /a?x=1 HTTP/1.1\r\nHost: api.example\r\nContent-Type: application/json\r\nX-Dup: 1\r\nx-dup:  2 \r\nContent-Length: 11\r\n\r\n{"hello":1}' +
    'POST /b HTTP/1.1\r\nHost: api.example\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1;q="x"\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n' +
    'HEAD /c HTTP/1.1\r\nHost: api.example\r\n\r\n' +
    'GET /d HTTP/1.1\r\nHost: api.example\r\n\r\n',
  'latin1',
);
const PIPELINED_RES = Buffer.from(
  'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{"a":1}' +
    'HTTP/1.1 100 Continue\r\n\r\n' +
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n3;foo=bar\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nServer-Timing: x\r\n\r\n' +
    'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n' +
    'HTTP/1.1 304 Not Modified\r\nETag: "e"\r\n\r\n',
  'latin1',
);
const PIPELINED_EXPECTED = [
  {
    method: 'POST',
    url: '/a?x=1',
    reqHeaders: ['Host', 'api.example', 'Content-Type', 'application/json', 'X-Dup', '1', 'x-dup', '2', 'Content-Length', '11'],
    reqBody: '{"hello":1}',
    status: 201,
    resHeaders: ['Content-Type', 'application/json', 'Content-Length', '7'],
    resBody: '{"a":1}',
  },
  {
    method: 'POST',
    url: '/b',
    reqHeaders: ['Host', 'api.example', 'Transfer-Encoding', 'chunked'],
    reqBody: 'hello world',
    status: 200,
    resHeaders: ['Transfer-Encoding', 'chunked', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'],
    resBody: 'abc0123456789abcdef',
  },
  { method: 'HEAD', url: '/c', reqHeaders: ['Host', 'api.example'], reqBody: '', status: 200, resHeaders: ['Content-Length', '1234'], resBody: '' },
  { method: 'GET', url: '/d', reqHeaders: ['Host', 'api.example'], reqBody: '', status: 304, resHeaders: ['ETag', '"e"'], resBody: '' },
];

describe('HTTP tap parser', () => {
  it('frames Content-Length, chunked (with extensions and trailers), HEAD, 1xx and 304 on pipelined requests', () => {
    const s = run(PIPELINED_REQ, PIPELINED_RES, whole);
    expect(s.errors).toEqual([]);
    expect(summary(s)).toEqual(PIPELINED_EXPECTED);
    expect(s.exchanges.every((e) => e.req.complete && e.res.complete && e.req.httpVersion === '1.1')).toBe(true);
  });

  it('gives the same result however the bytes are split (one byte at a time, and at every boundary)', () => {
    expect(summary(run(PIPELINED_REQ, PIPELINED_RES, bytewise))).toEqual(PIPELINED_EXPECTED);
    for (let i = 1; i < PIPELINED_REQ.length; i++) {
      const s = run(PIPELINED_REQ, PIPELINED_RES, splitAt(i));
      expect(s.errors).toEqual([]);
      expect(summary(s), `request split at ${i}`).toEqual(PIPELINED_EXPECTED);
    }
    for (let i = 1; i < PIPELINED_RES.length; i++) {
      const s = run(PIPELINED_REQ, PIPELINED_RES, splitAt(i));
      expect(summary(s), `response split at ${i}`).toEqual(PIPELINED_EXPECTED);
    }
  });

  it('interleaves: each exchange is emitted once both its request and response are complete', () => {
    const s = newTap();
    s.tap.fromClient(Buffer.from('POST /x HTTP/1.1\r\nContent-Length: 4\r\n\r\nab'));
    // The server answers before the request body is complete (an early 4xx does this).
    s.tap.fromServer(Buffer.from('HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n'));
    expect(s.exchanges).toHaveLength(0);
    s.tap.fromClient(Buffer.from('cd'));
    expect(summary(s)[0]).toMatchObject({ reqBody: 'abcd', status: 413 });
  });

  it('reads a response without length until the server closes', () => {
    const s = run(Buffer.from('GET / HTTP/1.1\r\nHost: h\r\n\r\n'), Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npart one, part two'), bytewise);
    expect(s.exchanges).toHaveLength(0);
    s.tap.serverEnded();
    expect(summary(s)[0]).toMatchObject({ status: 200, resBody: 'part one, part two' });
  });

  it('returns the unfinished exchanges on close, with what arrived', () => {
    const s = newTap();
    s.tap.fromClient(Buffer.from('POST /x HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd'));
    s.tap.fromServer(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234'));
    const left = s.tap.close();
    expect(left).toHaveLength(1);
    expect(left[0]!.req.complete).toBe(true);
    expect(left[0]!.res!.complete).toBe(false);
    expect(left[0]!.res!.body.toString()).toBe('01234');
  });

  it('stops at an upgrade, after recording the exchanges before it and the handshake', () => {
    const s = newTap();
    s.tap.fromClient(Buffer.from('GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello'));
    s.tap.fromServer(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA'));
    s.tap.fromServer(Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x02hi'));
    s.tap.fromServer(Buffer.from('garbage that is not HTTP'));
    expect(summary(s).map((e) => e.url)).toEqual(['/a', '/ws']);
    expect(s.exchanges[1]!.res.status).toBe(101);
    expect(s.exchanges[1]!.res.body.length).toBe(0);
    expect(s.errors).toEqual([]);
    expect(s.tap.active).toBe(false);
  });

  it('returns an upgrade that was never answered on close, and a refused one as incomplete', () => {
    const s = newTap();
    s.tap.fromClient(Buffer.from('GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'));
    const left = s.tap.close();
    expect(left.map((e) => [e.req.url, e.res])).toEqual([['/ws', null]]);
    const r = newTap();
    r.tap.fromClient(Buffer.from('GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'));
    r.tap.fromServer(Buffer.from('HTTP/1.1 426 Upgrade Required\r\nContent-Length: 3\r\n\r\nno!'));
    expect(r.exchanges.map((e) => [e.res.status, e.res.complete])).toEqual([[426, false]]);
  });

  it('reports a framing error once and stops parsing', () => {
    const s = newTap();
    s.tap.fromClient(Buffer.from('NOT HTTP AT ALL\r\n\r\n'));
    s.tap.fromClient(Buffer.from('more garbage\r\n\r\n'));
    s.tap.fromServer(Buffer.from('HTTP/1.1 200 OK\r\n\r\n'));
    expect(s.errors).toHaveLength(1);
    expect(s.exchanges).toHaveLength(0);
    const bad = newTap();
    bad.tap.fromClient(Buffer.from('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'));
    expect(bad.errors[0]).toMatch(/chunk size/);
  });

  it('builds the headers object Node would', () => {
    expect(headersObject(['Host', 'a', 'host', 'b', 'X-A', '1', 'x-a', '2', 'Set-Cookie', 'c=1', 'Cookie', 'a=1', 'cookie', 'b=2'])).toEqual({
      host: 'a',
      'x-a': '1, 2',
      'set-cookie': ['c=1'],
      cookie: 'a=1; b=2',
    });
  });
});

// ---------------------------------------------------------------- end to end

describe('forward passthrough over the tunnel tap', () => {
  let certsDir: string;
  let caPem: string;
  let caPath: string;
  let upstream: https.Server;
  let upstreamPort: number;
  let upstreamConnections = 0;
  const ssePause = 300;

  beforeAll(async () => {
    certsDir = await tmp('tap-certs');
    const ca = await ensureCA(certsDir);
    caPem = ca.certPem;
    caPath = ca.certPath;
    const issuer = new LeafIssuer(ca);
    upstream = https.createServer({ key: ca.leafKeyPem, cert: issuer.certificatePem('127.0.0.1') }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (req.url!.startsWith('/sse')) {
          res.writeHead(200, { 'content-type': 'text/event-stream', 'set-cookie': ['a=1', 'b=2'] });
          res.write('event: message_start\ndata: {"type":"message_start"}\n\n');
          setTimeout(() => res.end('event: message_stop\ndata: {"type":"message_stop"}\n\n'), ssePause);
          return;
        }
        if (req.method === 'HEAD') {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '42' });
          res.end();
          return;
        }
        if (req.url!.startsWith('/chunked')) {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"part":');
          res.end(`${body.length}}`);
          return;
        }
        const gz = zlib.gzipSync(JSON.stringify({ echo: body.length, path: req.url, host: req.headers.host }));
        res.writeHead(201, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'x-upstream': 'yes' });
        res.end(gz);
      });
    });
    upstream.on('secureConnection', () => (upstreamConnections += 1));
    // A WebSocket-like upgrade: 101, then an echo of whatever comes; on /v1/responses, a Responses
    // API in WebSocket mode (permessage-deflate): each client frame gets three events back.
    upstream.on('upgrade', (req, socket: net.Socket, head: Buffer) => {
      if (req.url!.startsWith('/v1/responses')) {
        const deflate = wsDeflater();
        socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n');
        let turn = 0;
        socket.on('data', () => {
          turn += 1;
          const n = turn;
          void (async () => {
            const events = [{ type: 'response.created' }, { type: 'response.output_text.delta', delta: `Hi ${n}` }, { type: 'response.completed' }];
            for (const e of events) socket.write(wsFrame(await deflate(JSON.stringify(e)), { rsv1: true }));
          })();
        });
        socket.on('error', () => undefined);
        return;
      }
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      if (head.length) socket.write(head);
      socket.on('data', (d: Buffer) => socket.write(d));
      socket.on('error', () => undefined);
    });
    upstream.keepAliveTimeout = 10_000;
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamPort = (upstream.address() as net.AddressInfo).port;
  });
  afterAll(() => {
    upstream.closeAllConnections();
    upstream.close();
  });

  const body = JSON.stringify({
    model: 'claude-sonnet-4-5',
    max_tokens: 64,
    stream: true,
    system: [{ type: 'text', text: 'You are a test \u2019 \u200b.' }],
    messages: [{ role: 'user', content: [{ type: 'text', text: 'x'.repeat(40_000) }] }],
  });

  /** Three requests and an SSE stream, all on one CONNECT tunnel (one TLS connection) through the proxy. */
  async function session(proxyPort: number): Promise<{ statuses: number[]; sseFirstMs: number; sseText: string; sseTotalMs: number }> {
    const target = `127.0.0.1:${upstreamPort}`;
    const raw = await connectTunnel(proxyPort, target);
    const sock = tls.connect({ socket: raw, ca: caPem, servername: undefined, host: '127.0.0.1' });
    class OneSocket extends http.Agent {
      override createConnection(): net.Socket {
        return sock;
      }
    }
    const agent = new OneSocket({ keepAlive: true, maxSockets: 1 });
    const send = (method: string, path: string, headers: Record<string, string>, data?: string | string[]) =>
      new Promise<{ status: number; body: string; firstMs: number; totalMs: number }>((resolve, reject) => {
        const t0 = performance.now();
        const req = http.request({ agent, host: '127.0.0.1', port: upstreamPort, method, path, headers: { host: target, ...headers } }, (res) => {
          let firstMs = -1;
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => {
            if (firstMs < 0) firstMs = performance.now() - t0;
            chunks.push(c);
          });
          res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString(), firstMs, totalMs: performance.now() - t0 }));
        });
        req.on('error', reject);
        if (Array.isArray(data)) {
          for (const d of data) req.write(d);
          req.end();
        } else req.end(data);
      });
    const a = await send('POST', '/v1/messages?beta=true', { 'content-type': 'application/json', 'x-api-key': 'sk-secret', 'X-Dup': '1', 'accept-encoding': 'gzip' }, body);
    const b = await send('POST', '/chunked-upload', { 'content-type': 'application/json' }, ['{"a":', '1}']);
    const d = await send('POST', '/sse/v1/messages', { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body);
    const c = await send('HEAD', '/v1/models', {});
    sock.destroy();
    agent.destroy();
    return { statuses: [a.status, b.status, d.status, c.status], sseFirstMs: d.firstMs, sseText: d.body, sseTotalMs: d.totalMs };
  }

  /** A TLS connection to the upstream through a CONNECT tunnel of the proxy, handshake done. */
  async function tlsTunnel(proxyPort: number, target: string): Promise<tls.TLSSocket> {
    const sock = tls.connect({ socket: await connectTunnel(proxyPort, target), ca: caPem, host: '127.0.0.1' });
    await new Promise<void>((r) => sock.once('secureConnect', () => r()));
    return sock;
  }

  function normalise(r: ExchangeRecord) {
    return {
      ...r,
      id: '',
      seq: 0,
      startedAt: '',
      completedAt: '',
      client: { ...r.client, port: 0 },
      response: r.response && { ...r.response, headers: r.response.headers.map(([n, v]) => [n, /^date$/i.test(n) ? '' : v]) },
    };
  }

  it('relays keep-alive requests and SSE unbuffered on one tunnel, and records what the request path records', async () => {
    const fastDir = await tmp('tap-fast');
    const fast = await startProxy({ outDir: fastDir, certsDir, upstream: 'passthrough', upstreamCa: caPath });
    // The request path (what --upstream-url takes) for the same exchanges, for comparison.
    const slowDir = await tmp('tap-slow');
    const slow = await startProxy({ outDir: slowDir, certsDir, upstream: 'passthrough', upstreamCa: caPath, upstreamUrl: `https://127.0.0.1:${upstreamPort}` });
    let fastRecs: ExchangeRecord[];
    let slowRecs: ExchangeRecord[];
    try {
      const before = upstreamConnections;
      const s = await session(fast.port);
      expect(s.statuses).toEqual([201, 200, 200, 200]);
      // One tunnel, one upstream connection for all four requests.
      expect(upstreamConnections - before).toBe(1);
      // The first event reached the client long before the upstream sent the last one.
      expect(s.sseFirstMs).toBeLessThan(ssePause - 100);
      expect(s.sseTotalMs).toBeGreaterThanOrEqual(ssePause - 20);
      expect(s.sseText).toContain('message_stop');
      await fast.flush();
      fastRecs = (await readExchanges(fastDir)).records;

      const t = await session(slow.port);
      expect(t.statuses).toEqual([201, 200, 200, 200]);
      await slow.flush();
      slowRecs = (await readExchanges(slowDir)).records;
    } finally {
      await fast.close();
      await slow.close();
    }
    expect(fastRecs).toHaveLength(4);
    expect(fastRecs.map((r) => r.request.path)).toEqual(['/v1/messages?beta=true', '/chunked-upload', '/sse/v1/messages', '/v1/models']);
    expect(fastRecs[0]!.route).toBe('forward');
    expect(fastRecs[0]!.tunnel).toEqual({ target: `127.0.0.1:${upstreamPort}`, sni: null, tls: true });
    expect(fastRecs[0]!.request.headers).toContainEqual(['x-api-key', '[redacted]']);
    expect(JSON.parse(fastRecs[0]!.response!.body.text)).toMatchObject({ echo: Buffer.byteLength(body), path: '/v1/messages?beta=true' });
    expect(fastRecs[1]!.request.body.text).toBe('{"a":1}');
    expect(fastRecs[1]!.response!.body.text).toBe('{"part":7}');
    expect(fastRecs[3]!.response!.body.size).toBe(0);
    expect(fastRecs[2]!.response!.sse!.map((e) => e.event)).toEqual(['message_start', 'message_stop']);
    expect(fastRecs[2]!.dialect).toBe('anthropic-messages');
    expect(fastRecs.map((r) => r.errors)).toEqual([[], [], [], []]);
    expect(fastRecs.map(normalise)).toEqual(slowRecs.map(normalise));
  });

  it('answers 502 over the tunnel and records the error when the target is down', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const dir = await tmp('tap-dead');
    const p = await startProxy({ outDir: dir, certsDir, upstream: 'passthrough', upstreamCa: caPath });
    try {
      const res = await forwardRequest({ proxyPort: p.port, target: `127.0.0.1:${closedPort}`, path: '/v1/messages', body: '{}', headers: { 'content-type': 'application/json' }, ca: caPem });
      expect(res.status).toBe(502);
      expect(res.headers['x-promptdiff-error']).toBe('PROXY_TO_SERVER_REQUEST_ERROR');
      await p.flush();
      const [rec] = (await readExchanges(dir)).records;
      expect(rec!.request.path).toBe('/v1/messages');
      expect(rec!.request.body.text).toBe('{}');
      expect(rec!.response).toBeNull();
      expect(rec!.errors.some((e) => e.stage === 'upstream' && /ECONNREFUSED/.test(e.message))).toBe(true);
    } finally {
      await p.close();
    }
  });

  it('records a request the upstream hung up on as cut off by the upstream, and closes the tunnel', async () => {
    // An upstream that reads the request and closes the connection without a word.
    const ca = await ensureCA(certsDir);
    const rude = tls.createServer({ key: ca.leafKeyPem, cert: new LeafIssuer(ca).certificatePem('127.0.0.1') }, (s) => {
      s.once('data', () => s.end());
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => rude.listen(0, '127.0.0.1', r));
    const rudePort = (rude.address() as net.AddressInfo).port;
    const dir = await tmp('tap-hangup');
    const p = await startProxy({ outDir: dir, certsDir, upstream: 'passthrough', upstreamCa: caPath });
    try {
      const outcome = await forwardRequest({ proxyPort: p.port, target: `127.0.0.1:${rudePort}`, path: '/v1/messages', body: '{"a":1}', headers: { 'content-type': 'application/json' }, ca: caPem }).then(
        (r) => `status ${r.status}`,
        (err: Error) => `error ${err.message}`,
      );
      expect(outcome).toMatch(/^error /);
      await p.flush();
      const [rec] = (await readExchanges(dir)).records;
      expect(rec!.request.body.text).toBe('{"a":1}');
      expect(rec!.response).toBeNull();
      expect(rec!.errors).toEqual([{ stage: 'upstream', message: 'the upstream closed the connection before the response was complete' }]);
    } finally {
      await p.close();
      rude.close();
    }
  });

  it('relays an upgraded connection both ways, bytes that are no WebSocket frames included, and records its handshake', async () => {
    const dir = await tmp('tap-upgrade');
    const p = await startProxy({ outDir: dir, certsDir, upstream: 'passthrough', upstreamCa: caPath });
    try {
      const target = `127.0.0.1:${upstreamPort}`;
      const sock = await tlsTunnel(p.port, target);
      let got = '';
      sock.on('data', (d: Buffer) => (got += d.toString('latin1')));
      sock.write(`GET /ws HTTP/1.1\r\nHost: ${target}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
      for (let i = 0; i < 100 && !got.includes('\r\n\r\n'); i++) await new Promise((r) => setTimeout(r, 10));
      sock.write(Buffer.from('ping \u00ff frames', 'latin1'));
      for (let i = 0; i < 100 && !got.endsWith('frames'); i++) await new Promise((r) => setTimeout(r, 10));
      sock.destroy();
      expect(got).toMatch(/^HTTP\/1\.1 101 /);
      expect(got.endsWith('ping \u00ff frames')).toBe(true);
      await p.flush();
      const recs = (await readExchanges(dir)).records;
      // The handshake, then (the bytes are no WebSocket frames) a note that the rest went unrecorded.
      expect(recs).toHaveLength(2);
      expect(recs[0]!.request.path).toBe('/ws');
      expect(recs[0]!.response!.status).toBe(101);
      expect(recs[0]!.errors).toEqual([]);
      expect(recs[1]!.errors[0]!.message).toMatch(/^framing lost on this connection \(WebSocket: client: an unmasked frame from the client\)/);
    } finally {
      await p.close();
    }
  });

  it('--passthrough-only: a tunnel to another host is answered 502 and recorded, and nothing connects to it', async () => {
    const dir = await tmp('tap-only');
    const p = await startProxy({ outDir: dir, certsDir, upstream: 'passthrough', upstreamCa: caPath, passthroughOnly: ['127.0.0.1:1'] });
    try {
      const before = upstreamConnections;
      const res = await forwardRequest({ proxyPort: p.port, target: `127.0.0.1:${upstreamPort}`, path: '/v1/messages', body: '{"a":1}', headers: { 'content-type': 'application/json' }, ca: caPem });
      expect(res.status).toBe(502);
      expect(res.headers['x-promptdiff-error']).toBe('PASSTHROUGH_NOT_ALLOWED');
      expect(upstreamConnections).toBe(before);
      await p.flush();
      const [rec] = (await readExchanges(dir)).records;
      expect(rec!.request.body.text).toBe('{"a":1}');
      expect(rec!.errors).toEqual([{ stage: 'upstream', message: `passthrough to 127.0.0.1:${upstreamPort} is not allowed (--passthrough-only 127.0.0.1:1)` }]);
    } finally {
      await p.close();
    }
    // A WebSocket upgrade through a refused tunnel is answered too, not left hanging.
    const wsDir = await tmp('tap-only-ws');
    const ws = await startProxy({ outDir: wsDir, certsDir, upstream: 'passthrough', upstreamCa: caPath, passthroughOnly: ['example.com'] });
    try {
      const sock = await tlsTunnel(ws.port, `127.0.0.1:${upstreamPort}`);
      let got = '';
      sock.on('data', (d: Buffer) => (got += d.toString('latin1')));
      const closed = new Promise<void>((r) => sock.on('close', () => r()));
      sock.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
      await closed;
      expect(got).toMatch(/^HTTP\/1\.1 502 /);
      await ws.flush();
      const [wsRec] = (await readExchanges(wsDir)).records;
      expect(wsRec!.request.path).toBe('/ws');
      expect(wsRec!.errors[0]!.message).toMatch(/is not allowed \(--passthrough-only example\.com\)/);
    } finally {
      await ws.close();
    }
    // The same host with its port allowed goes through.
    const open = await startProxy({ outDir: await tmp('tap-only-ok'), certsDir, upstream: 'passthrough', upstreamCa: caPath, passthroughOnly: [`127.0.0.1:${upstreamPort}`] });
    try {
      const ok = await forwardRequest({ proxyPort: open.port, target: `127.0.0.1:${upstreamPort}`, path: '/v1/messages', body: '{}', headers: { 'content-type': 'application/json' }, ca: caPem });
      expect(ok.status).toBe(201);
    } finally {
      await open.close();
    }
  });

  it('--passthrough-only: the request path (an upstream URL elsewhere) answers 502 without connecting', async () => {
    const dir = await tmp('rev-only');
    const p = await startProxy({ outDir: dir, certsDir, upstream: 'passthrough', upstreamCa: caPath, upstreamUrl: `https://127.0.0.1:${upstreamPort}`, passthroughOnly: ['api.anthropic.com'] });
    try {
      const before = upstreamConnections;
      const res = await fetch(`http://127.0.0.1:${p.port}/v1/messages`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
      expect(res.status).toBe(502);
      expect(await res.text()).toContain('is not allowed (--passthrough-only api.anthropic.com)');
      expect(upstreamConnections).toBe(before);
      await p.flush();
      const [rec] = (await readExchanges(dir)).records;
      expect(rec!.route).toBe('reverse');
      expect(rec!.errors[0]!.message).toBe(`passthrough to 127.0.0.1:${upstreamPort} is not allowed (--passthrough-only api.anthropic.com)`);
    } finally {
      await p.close();
    }
  });

  it('records each turn of a WebSocket (Responses API in WebSocket mode, compressed) as a parsed request with its events', async () => {
    const dir = await tmp('tap-ws-turns');
    const p = await startProxy({ outDir: dir, certsDir, upstream: 'passthrough', upstreamCa: caPath });
    try {
      const target = `127.0.0.1:${upstreamPort}`;
      const sock = await tlsTunnel(p.port, target);
      let got = Buffer.alloc(0);
      sock.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
      const waitFor = async (n: number) => {
        // n whole frames after the 101's head.
        for (let i = 0; i < 200; i++) {
          const head = got.indexOf('\r\n\r\n');
          if (head >= 0 && frames(got.subarray(head + 4)) >= n) return;
          await new Promise((r) => setTimeout(r, 10));
        }
        throw new Error(`only ${got.length} bytes`);
      };
      sock.write(`GET /v1/responses HTTP/1.1\r\nHost: ${target}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: x\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer sk-secret\r\n\r\n`);
      const create = (text: string) => JSON.stringify({ type: 'response.create', model: 'gpt-5-codex', instructions: 'You are Codex\u2019s test.', input: [{ role: 'user', content: [{ type: 'input_text', text }] }] });
      const clientDeflate = wsDeflater();
      await new Promise((r) => setTimeout(r, 50));
      sock.write(wsFrame(await clientDeflate(create('first')), { mask: true, rsv1: true }));
      await waitFor(3);
      sock.write(wsFrame(create('second'), { mask: true }));
      await waitFor(6);
      sock.destroy();
      await new Promise((r) => setTimeout(r, 50));
      await p.flush();
      const recs = (await readExchanges(dir)).records;
      expect(recs.map((r) => `${r.request.method} ${r.request.path} ${r.response?.status}`)).toEqual([
        'GET /v1/responses 101',
        'WEBSOCKET /v1/responses 101',
        'WEBSOCKET /v1/responses 101',
      ]);
      const [hs, t1, t2] = recs;
      expect(hs!.request.headers).toContainEqual(['Authorization', '[redacted]']);
      for (const [t, text, n] of [[t1!, 'first', 1], [t2!, 'second', 2]] as const) {
        expect(t.dialect).toBe('openai-responses');
        expect(t.parsed!.model).toBe('gpt-5-codex');
        expect(t.parsed!.system).toEqual(['You are Codex\u2019s test.']);
        expect(t.parsed!.messages.at(-1)!.text).toBe(text);
        expect(t.request.body.text).toBe(create(text));
        expect(t.request.headers).toContainEqual(['Authorization', '[redacted]']);
        expect(t.response!.sse!.map((e) => (JSON.parse(e.data) as { type: string }).type)).toEqual(['response.created', 'response.output_text.delta', 'response.completed']);
        expect(t.response!.assembledText).toBe(`Hi ${n}`);
        expect(t.errors).toEqual([]);
      }
    } finally {
      await p.close();
    }
  });
});

/** How many whole unmasked frames a buffer holds (test helper). */
function frames(b: Buffer): number {
  let n = 0;
  let at = 0;
  while (at + 2 <= b.length) {
    let len = b[at + 1]! & 0x7f;
    let head = 2;
    if (len === 126) {
      len = b.readUInt16BE(at + 2);
      head = 4;
    }
    if (at + head + len > b.length) break;
    at += head + len;
    n += 1;
  }
  return n;
}
