import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import https from 'node:https';
import net from 'node:net';
import zlib from 'node:zlib';
import path from 'node:path';
import { readFile, appendFile, writeFile } from 'node:fs/promises';
import { startProxy, type RunningProxy } from '../src/proxy/server.js';
import { readExchanges, CaptureFileError } from '../src/capture/store.js';
import { ensureCA, LeafIssuer } from '../src/ca/index.js';
import { parseSse } from '../src/dialects/index.js';
import type { ExchangeRecord } from '../src/capture/schema.js';
import { forwardRequest, reverseRequest, tmp, connectTunnel } from './helpers/clients.js';

let certsDir: string;
let caPem: string;

const claudeLikeBody = (stream: boolean) =>
  JSON.stringify({
    model: 'claude-sonnet-4-5',
    max_tokens: 1024,
    stream,
    system: [
      { type: 'text', text: "You are Claude Code, Anthropic\u2019s official CLI." },
      { type: 'text', text: 'Today\u200B is 2026/07/01.', cache_control: { type: 'ephemeral' } },
    ],
    messages: [{ role: 'user', content: [{ type: 'text', text: 'say hi' }] }],
    tools: [{ name: 'Bash', description: 'Run a command', input_schema: { type: 'object' } }],
  });

async function records(dir: string): Promise<ExchangeRecord[]> {
  return (await readExchanges(dir)).records;
}

beforeAll(async () => {
  certsDir = await tmp('certs');
  caPem = (await ensureCA(certsDir)).certPem;
});

describe('stub upstream', () => {
  let proxy: RunningProxy;
  let out: string;
  beforeAll(async () => {
    out = await tmp('out');
    proxy = await startProxy({ outDir: out, certsDir });
  });
  afterAll(() => proxy.close());

  it('intercepts CONNECT to an unresolvable host and records the exact system prompt (forward route)', async () => {
    const res = await forwardRequest({
      proxyPort: proxy.port,
      target: 'llm-gateway.example.cn:443',
      path: '/v1/messages?beta=true',
      headers: { 'content-type': 'application/json', 'x-api-key': 'sk-ant-secret', 'anthropic-version': '2023-06-01' },
      body: claudeLikeBody(true),
      ca: caPem,
    });
    expect(res.status).toBe(200);
    const events = parseSse(res.body);
    expect(events.map((e) => e.event)).toContain('message_stop');
    await proxy.flush();
    const [rec] = (await records(out)).filter((r) => r.request.host.startsWith('llm-gateway'));
    expect(rec).toBeDefined();
    expect(rec!.route).toBe('forward');
    expect(rec!.tunnel).toEqual({ target: 'llm-gateway.example.cn:443', sni: 'llm-gateway.example.cn', tls: true });
    expect(rec!.request.url).toBe('https://llm-gateway.example.cn/v1/messages?beta=true');
    expect(rec!.dialect).toBe('anthropic-messages');
    expect(rec!.parsed!.system).toEqual(["You are Claude Code, Anthropic\u2019s official CLI.", 'Today\u200B is 2026/07/01.']);
    expect(rec!.parsed!.tools.map((t) => t.name)).toEqual(['Bash']);
    expect(rec!.request.headers).toContainEqual(['x-api-key', '[redacted]']);
    expect(JSON.stringify(rec)).not.toContain('sk-ant-secret');
    expect(rec!.redacted).toContain('x-api-key');
    expect(rec!.response!.source).toBe('stub');
    expect(rec!.response!.assembledText!.length).toBeGreaterThan(0);
  });

  it('records origin-form requests to its own address (reverse route)', async () => {
    const res = await reverseRequest(proxy.port, { path: '/v1/messages', headers: { 'content-type': 'application/json' }, body: claudeLikeBody(false) });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).content[0].type).toBe('text');
    await proxy.flush();
    const rec = (await records(out)).find((r) => r.route === 'reverse' && r.request.path === '/v1/messages');
    expect(rec!.parsed!.stream).toBe(false);
    expect(rec!.request.url).toBe(`http://127.0.0.1:${proxy.port}/v1/messages`);
  });

  it('decodes gzip and br request bodies, and keeps a wrongly compressed one raw with an error', async () => {
    const body = claudeLikeBody(false);
    for (const [enc, data] of [
      ['gzip', zlib.gzipSync(body)],
      ['br', zlib.brotliCompressSync(body)],
      ['gzip', Buffer.from('definitely not gzip')],
    ] as const) {
      const res = await reverseRequest(proxy.port, { path: `/v1/messages?enc=${enc}${data.length}`, headers: { 'content-type': 'application/json', 'content-encoding': enc }, body: data });
      expect(res.status).toBe(200);
    }
    await proxy.flush();
    const recs = (await records(out)).filter((r) => r.request.path.includes('?enc='));
    expect(recs).toHaveLength(3);
    expect(recs[0]!.request.body).toMatchObject({ encoding: 'utf8', text: body, contentEncoding: 'gzip' });
    expect(recs[1]!.request.body).toMatchObject({ encoding: 'utf8', text: body, contentEncoding: 'br' });
    expect(recs[2]!.request.body.encoding).toBe('base64');
    expect(Buffer.from(recs[2]!.request.body.text, 'base64').toString()).toBe('definitely not gzip');
    expect(recs[2]!.errors.map((e) => e.stage)).toContain('decode');
  });

  it('captures a non-JSON body with a parse error and still answers', async () => {
    const res = await reverseRequest(proxy.port, { path: '/v1/messages?nonjson', headers: { 'content-type': 'application/json' }, body: '{"model": "x", oops' });
    expect(res.status).toBe(200);
    await proxy.flush();
    const rec = (await records(out)).find((r) => r.request.path === '/v1/messages?nonjson')!;
    expect(rec.request.body.text).toBe('{"model": "x", oops');
    expect(rec.errors.find((e) => e.stage === 'parse')!.message).toMatch(/not JSON/);
  });

  it('captures a 20 MB body exactly', async () => {
    const big = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(20 * 1024 * 1024) }] });
    const res = await reverseRequest(proxy.port, { path: '/v1/messages?big', headers: { 'content-type': 'application/json' }, body: big });
    expect(res.status).toBe(200);
    await proxy.flush();
    const rec = (await records(out)).find((r) => r.request.path === '/v1/messages?big')!;
    expect(rec.request.body.size).toBe(Buffer.byteLength(big));
    expect(rec.parsed!.messages[0]!.text.length).toBe(20 * 1024 * 1024);
  });

  it('serves 100 concurrent exchanges and records each once', async () => {
    const before = proxy.exchangeCount();
    const all = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        i % 2
          ? reverseRequest(proxy.port, { path: `/v1/messages?c=${i}`, headers: { 'content-type': 'application/json' }, body: claudeLikeBody(true) })
          : forwardRequest({ proxyPort: proxy.port, target: `host${i % 7}.example:443`, path: `/v1/messages?c=${i}`, headers: { 'content-type': 'application/json' }, body: claudeLikeBody(true), ca: caPem }),
      ),
    );
    expect(all.every((r) => r.status === 200)).toBe(true);
    await proxy.flush();
    expect(proxy.exchangeCount() - before).toBe(100);
    const recs = (await records(out)).filter((r) => /\?c=\d+$/.test(r.request.path));
    expect(new Set(recs.map((r) => r.request.path)).size).toBe(100);
    expect(new Set(recs.map((r) => r.id)).size).toBe(100);
  });

  it('records a client that disconnects mid-request and keeps serving', async () => {
    await new Promise<void>((resolve) => {
      const s = net.connect(proxy.port, '127.0.0.1', () => {
        s.write('POST /v1/messages?cut HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model":"half');
        setTimeout(() => {
          s.destroy();
          resolve();
        }, 50);
      });
    });
    const ok = await reverseRequest(proxy.port, { path: '/v1/messages?after-cut', headers: { 'content-type': 'application/json' }, body: claudeLikeBody(false) });
    expect(ok.status).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    await proxy.flush();
    const recs = await records(out);
    const cut = recs.find((r) => r.request.path === '/v1/messages?cut')!;
    expect(cut.request.body).toMatchObject({ incomplete: true, text: '{"model":"half' });
    expect(cut.response).toBeNull();
    expect(cut.errors[0]!.stage).toBe('client');
    expect(recs.some((r) => r.request.path === '/v1/messages?after-cut')).toBe(true);
  });

  it('answers HEAD / and unknown paths, recording them raw', async () => {
    const head = await reverseRequest(proxy.port, { method: 'HEAD', path: '/' });
    expect(head.status).toBe(200);
    const other = await reverseRequest(proxy.port, { path: '/telemetry', headers: { 'content-type': 'text/plain' }, body: 'ping' });
    expect(other.status).toBe(200);
    await proxy.flush();
    const rec = (await records(out)).find((r) => r.request.path === '/telemetry')!;
    expect(rec.dialect).toBe('unknown');
    expect(rec.request.body.text).toBe('ping');
  });

  it('tags exchanges on a run listener with the run and writes them to the run directory only', async () => {
    const runDir = await tmp('run');
    const { port } = await proxy.addRunListener('c001-r1', runDir);
    await forwardRequest({ proxyPort: port, target: 'api.anthropic.com:443', path: '/v1/messages', headers: { 'content-type': 'application/json' }, body: claudeLikeBody(true), ca: caPem });
    await reverseRequest(port, { path: '/v1/messages', headers: { 'content-type': 'application/json' }, body: claudeLikeBody(false) });
    expect(proxy.exchangeCount('c001-r1')).toBe(2);
    await proxy.removeRunListener('c001-r1');
    const recs = await records(runDir);
    expect(recs.map((r) => [r.run, r.route])).toEqual([
      ['c001-r1', 'forward'],
      ['c001-r1', 'reverse'],
    ]);
    expect((await records(out)).some((r) => r.run === 'c001-r1')).toBe(false);
  });

  it('rejects a client that does not trust the CA, and the proxy keeps serving', async () => {
    await expect(
      forwardRequest({ proxyPort: proxy.port, target: 'api.anthropic.com:443', path: '/v1/messages', body: '{}', ca: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' }).catch((e) => {
        throw e;
      }),
    ).rejects.toThrow();
    const ok = await reverseRequest(proxy.port, { method: 'GET', path: '/v1/models' });
    expect(ok.status).toBe(200);
  });
});

describe('capture file', () => {
  it('tolerates a torn last line and names the line of damage elsewhere', async () => {
    const dir = await tmp('torn');
    const proxy = await startProxy({ outDir: dir, certsDir });
    await reverseRequest(proxy.port, { path: '/v1/messages', headers: { 'content-type': 'application/json' }, body: claudeLikeBody(false) });
    await proxy.close();
    const file = path.join(dir, 'exchanges.jsonl');
    const good = await readFile(file, 'utf8');
    await appendFile(file, '{"v":1,"id":"000002-ab');
    const torn = await readExchanges(dir);
    expect(torn.records).toHaveLength(1);
    expect(torn.tornTail).toBe(true);
    await writeFile(file, `{broken\n${good}`);
    await expect(readExchanges(dir)).rejects.toThrow(CaptureFileError);
    await expect(readExchanges(dir)).rejects.toThrow(/exchanges\.jsonl:1:/);
  });

  it('keeps secrets only when asked', async () => {
    const dir = await tmp('keep');
    const proxy = await startProxy({ outDir: dir, certsDir, keepSecrets: true });
    await reverseRequest(proxy.port, { path: '/v1beta/models/gemini-2.5-pro:generateContent?key=AIzaSECRET', headers: { 'content-type': 'application/json', authorization: 'Bearer tok' }, body: '{}' });
    await proxy.close();
    const [rec] = await records(dir);
    expect(rec!.request.headers).toContainEqual(['authorization', 'Bearer tok']);
    expect(rec!.request.url).toContain('key=AIzaSECRET');
  });
});

describe('passthrough upstream', () => {
  let upstream: https.Server;
  let upstreamPort: number;
  let out: string;
  let proxy: RunningProxy;
  let caPath: string;
  const sent: number[] = [];

  beforeAll(async () => {
    const ca = await ensureCA(certsDir);
    caPath = ca.certPath;
    const issuer = new LeafIssuer(ca);
    upstream = https.createServer({ key: ca.leafKeyPem, cert: issuer.certificatePem('127.0.0.1') }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        if (req.url!.includes('/slow-sse')) {
          res.writeHead(200, { 'content-type': 'text/event-stream', 'x-upstream': 'yes' });
          res.write('event: message_start\ndata: {"type":"message_start"}\n\n');
          sent.push(performance.now());
          setTimeout(() => {
            sent.push(performance.now());
            res.end('event: message_stop\ndata: {"type":"message_stop"}\n\n');
          }, 300);
          return;
        }
        const gz = zlib.gzipSync(JSON.stringify({ echo: Buffer.concat(chunks).length, path: req.url, host: req.headers.host }));
        res.writeHead(201, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
        res.end(gz);
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamPort = (upstream.address() as net.AddressInfo).port;
    out = await tmp('pass');
    proxy = await startProxy({ outDir: out, certsDir, upstream: 'passthrough', upstreamUrl: `https://127.0.0.1:${upstreamPort}/base`, upstreamCa: caPath });
  });
  afterAll(async () => {
    await proxy.close();
    upstream.close();
  });

  it('forwards the request, returns the upstream bytes, and records both sides decoded', async () => {
    const res = await reverseRequest(proxy.port, { path: '/v1/messages', headers: { 'content-type': 'application/json', 'accept-encoding': 'gzip' }, body: claudeLikeBody(false) });
    expect(res.status).toBe(201);
    expect(res.headers['content-encoding']).toBe('gzip');
    await proxy.flush();
    const rec = (await records(out)).at(-1)!;
    expect(rec.response!.source).toBe('upstream');
    const echoed = JSON.parse(rec.response!.body.text);
    expect(echoed).toMatchObject({ echo: Buffer.byteLength(claudeLikeBody(false)), path: '/base/v1/messages', host: `127.0.0.1:${upstreamPort}` });
    expect(rec.parsed!.system[0]).toContain('\u2019');
  });

  it('streams server-sent events through as they are sent', async () => {
    const res = await reverseRequest(proxy.port, { path: '/slow-sse', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(200);
    // The first event reached the client long before the upstream sent the last one (300 ms later).
    expect(res.firstChunkMs).toBeLessThan(250);
    await proxy.flush();
    const rec = (await records(out)).at(-1)!;
    expect(rec.response!.sse!.map((e) => e.event)).toEqual(['message_start', 'message_stop']);
  });

  it('answers 502 and records the error when the upstream is down, then keeps serving', async () => {
    const dead = await tmp('dead');
    const closedPort = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const p2 = await startProxy({ outDir: dead, certsDir, upstream: 'passthrough', upstreamUrl: `https://127.0.0.1:${closedPort}` });
    const res = await reverseRequest(p2.port, { path: '/v1/messages', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(502);
    await p2.flush();
    const [rec] = await records(dead);
    expect(rec!.errors.some((e) => e.stage === 'upstream' && /ECONNREFUSED/.test(e.message))).toBe(true);
    const again = await reverseRequest(p2.port, { path: '/v1/messages', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(again.status).toBe(502);
    await p2.close();
  });

  it('passes CONNECT tunnels to the target host when no upstream URL is set', async () => {
    const dir = await tmp('pass-fwd');
    const p3 = await startProxy({ outDir: dir, certsDir, upstream: 'passthrough', upstreamCa: caPath });
    const res = await forwardRequest({ proxyPort: p3.port, target: `127.0.0.1:${upstreamPort}`, path: '/direct', body: 'abc', ca: caPem });
    expect(res.status).toBe(201);
    await p3.close();
    const [rec] = await records(dir);
    expect(rec!.route).toBe('forward');
    expect(JSON.parse(rec!.response!.body.text)).toMatchObject({ path: '/direct', echo: 3 });
  });
});

void connectTunnel;

describe('who may connect', () => {
  it('treats only loopback addresses (v4, v6, v4-mapped) as local', async () => {
    const { isLoopback } = await import('../src/proxy/server.js');
    for (const a of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) expect(isLoopback(a), a).toBe(true);
    for (const a of ['10.0.0.1', '192.168.1.2', '::ffff:10.0.0.1', 'fe80::1', '0.0.0.0', '', undefined]) expect(isLoopback(a), String(a)).toBe(false);
  });
});

describe('WebSocket in stub mode', () => {
  it('refuses the upgrade with 501 and records the attempt instead of relaying it to the real host', async () => {
    const out = await tmp('ws');
    const proxy = await startProxy({ outDir: out, certsDir });
    const reply = await new Promise<string>((resolve, reject) => {
      const s = net.connect(proxy.port, '127.0.0.1', () => {
        s.write('GET /v1/realtime HTTP/1.1\r\nHost: api.openai.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
      });
      let data = '';
      s.on('data', (d) => (data += d));
      s.on('close', () => resolve(data));
      s.on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 501 /);
    await proxy.close();
    const [rec] = await records(out);
    expect(rec!.request.path).toBe('/v1/realtime');
    expect(rec!.response!.status).toBe(501);
    expect(rec!.errors[0]!.message).toMatch(/WebSocket upgrade refused/);
  });
});

describe('plain HTTP through HTTP_PROXY (absolute-form)', () => {
  it('records the absolute URL as the forward route', async () => {
    const out = await tmp('abs');
    const proxy = await startProxy({ outDir: out, certsDir });
    const res = await reverseRequest(proxy.port, { path: 'http://llm.example.cn/v1/messages?x=1', headers: { host: 'llm.example.cn', 'content-type': 'application/json' }, body: claudeLikeBody(false) });
    expect(res.status).toBe(200);
    await proxy.close();
    const [rec] = await records(out);
    expect(rec!.route).toBe('forward');
    expect(rec!.request.url).toBe('http://llm.example.cn/v1/messages?x=1');
    expect(rec!.request.path).toBe('/v1/messages?x=1');
    expect(rec!.dialect).toBe('anthropic-messages');
  });
});
