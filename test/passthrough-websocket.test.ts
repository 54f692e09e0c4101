import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { startProxy } from '../src/proxy/server.js';
import { readExchanges } from '../src/capture/store.js';
import { ensureCA } from '../src/ca/index.js';
import { serverFrame } from '../src/proxy/respond-stub-websocket.js';
import { WebSocketTap } from '../src/proxy/websocket-tap.js';
import { tmp } from './helpers/clients.js';
import { wsFrame } from './helpers/websocket-frames.js';

/*
 * Passthrough of a WebSocket on the proxy's own request path (reverse route with --upstream-url):
 * relayed to the upstream as sent and recorded turn by turn. http-mitm-proxy used to relay these
 * with nothing reaching the capture.
 */

const OFF = { enabled: false, clientNoContextTakeover: false, serverNoContextTakeover: false };
let certsDir: string;
let upstream: http.Server;
let upstreamPort: number;
const seenPaths: string[] = [];
/** Upgraded sockets the upstream still has open (an http.Server no longer tracks them). */
const upgraded = new Set<Duplex>();

beforeAll(async () => {
  certsDir = await tmp('certs');
  await ensureCA(certsDir);
  // A Responses-like WebSocket server: each client message gets two text messages back.
  upstream = http.createServer((_req, res) => res.writeHead(426).end('upgrade required'));
  upstream.on('upgrade', (req: http.IncomingMessage, socket: Duplex) => {
    seenPaths.push(req.url ?? '');
    upgraded.add(socket);
    socket.on('close', () => upgraded.delete(socket));
    if (req.url?.includes('refuse')) {
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 7\r\n\r\nno way\n');
      return;
    }
    const accept = createHash('sha1').update(`${String(req.headers['sec-websocket-key'])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nX-Upstream: yes\r\n\r\n`);
    const tap = new WebSocketTap(OFF, (m) => {
      const model = (JSON.parse(m.data.toString('utf8')) as { model: string }).model;
      socket.write(serverFrame(1, Buffer.from(JSON.stringify({ type: 'response.created', model }))));
      socket.write(serverFrame(1, Buffer.from(JSON.stringify({ type: 'response.completed', model }))));
    }, () => socket.destroy());
    socket.on('data', (c: Buffer) => tap.fromClient(c));
    // As a WebSocket server does: the peer's end ends the connection.
    socket.on('end', () => socket.end());
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamPort = (upstream.address() as net.AddressInfo).port;
});
afterAll(() => {
  for (const s of upgraded) s.destroy();
  upstream.closeAllConnections();
  return new Promise<void>((r) => upstream.close(() => r()));
});

const upstreamConnections = async () => upgraded.size;

async function upgrade(port: number, path: string) {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  let data = Buffer.alloc(0);
  socket.on('data', (c: Buffer) => (data = Buffer.concat([data, c])));
  return { socket, received: () => data };
}

const waitFor = async (ok: () => boolean) => {
  for (let i = 0; i < 100 && !ok(); i++) await new Promise((r) => setTimeout(r, 20));
};

describe('passthrough on the request path: a WebSocket is relayed and recorded', () => {
  it('relays the 101 and the frames as sent both ways, and records each turn with the upstream messages', async () => {
    const out = await tmp('pws');
    const proxy = await startProxy({ outDir: out, certsDir, upstream: 'passthrough', upstreamUrl: `http://127.0.0.1:${upstreamPort}/base` });
    const c = await upgrade(proxy.port, '/v1/responses');
    await waitFor(() => c.received().includes('\r\n\r\n'));
    expect(c.received().toString('latin1')).toMatch(/^HTTP\/1\.1 101 [^\r]*\r\n[\s\S]*X-Upstream: yes/);
    // One turn at a time, as a Responses client does: a message sent before the last turn's answer
    // would take that answer into its own turn (turns are grouped by arrival).
    for (const [i, model] of ['gpt-a', 'gpt-b'].entries()) {
      c.socket.write(wsFrame(JSON.stringify({ type: 'response.create', model, input: `hello ${model}` }), { mask: true }));
      await waitFor(() => c.received().toString('latin1').split('response.completed').length === i + 2);
    }
    c.socket.destroy();
    // The client gone, the relayed connection to the upstream goes too.
    let open = await upstreamConnections();
    for (let i = 0; i < 50 && open > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      open = await upstreamConnections();
    }
    expect(open).toBe(0);
    await proxy.close();
    expect(seenPaths).toContain('/base/v1/responses');

    const { records } = await readExchanges(out);
    expect(records.map((r) => [r.request.method, r.parsed?.model, r.response?.status])).toEqual([
      ['WEBSOCKET', 'gpt-a', 101],
      ['WEBSOCKET', 'gpt-b', 101],
    ]);
    expect(records[0]!.dialect).toBe('openai-responses');
    expect(records[0]!.response!.source).toBe('upstream');
    expect(records[1]!.response!.sse!.map((e) => JSON.parse(e.data).type)).toEqual(['response.created', 'response.completed']);
  });

  it('an upgrade the upstream refuses reaches the client as sent and is recorded', async () => {
    const out = await tmp('pws-refused');
    const proxy = await startProxy({ outDir: out, certsDir, upstream: 'passthrough', upstreamUrl: `http://127.0.0.1:${upstreamPort}` });
    const c = await upgrade(proxy.port, '/v1/responses?refuse=1');
    await new Promise<void>((r) => c.socket.once('close', () => r()));
    expect(c.received().toString('latin1')).toMatch(/^HTTP\/1\.1 403 Forbidden[\s\S]*no way\n$/);
    await proxy.close();
    const { records } = await readExchanges(out);
    expect(records.map((r) => [r.request.method, r.response?.status, r.response?.body.text])).toEqual([['GET', 403, 'no way\n']]);
  });
});
