import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash } from 'node:crypto';
import zlib from 'node:zlib';
import { readExchanges } from '../../src/capture/store.js';
import type { ExchangeRecord } from '../../src/capture/schema.js';
import { figure, removeAll, standInApi, send, sha256, startCliProxy, tempDir, bodySha256, type BodySpec, type CliProxy, type SendOptions, type StandInApi } from '../helpers/faults.js';

/*
 * Bodies that once crashed the proxy or cost their record (issue 10 #1, #2): decompression bombs
 * in either direction and bodies far past the capture limit, in stub mode, with --upstream-url and
 * through a passthrough tunnel. Each must be relayed untouched and recorded truncated: its first
 * bytes, its size on the wire and the SHA-256 of its wire bytes.
 */

const LIMIT = 32 * 1024 * 1024;
const dirs: string[] = [];
let api: StandInApi;

/** 1 GiB of "x" as 1024 concatenated gzip members of 1 MiB each: about 1 MB on the wire. */
const gzipMember = zlib.gzipSync(Buffer.alloc(1 << 20, 'x'), { level: 9 });
const GZIP_BOMB = Buffer.concat(Array.from({ length: 1024 }, () => gzipMember));
/** 256 MiB of "x" as brotli: a few hundred bytes. */
const BR_BOMB = zlib.brotliCompressSync(Buffer.alloc(256 << 20, 'x'), { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } });
/** 1 GiB of "x" as a zstd frame of RLE blocks (128 KiB each, 4 bytes on the wire): 32 KB. */
const ZSTD_BOMB = (() => {
  const block = 128 * 1024;
  const parts = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x50])]; // magic, no content size, 1 MiB window
  for (let i = 0, n = (1 << 30) / block; i < n; i++) {
    const h = (i === n - 1 ? 1 : 0) | (1 << 1) | (block << 3);
    parts.push(Buffer.from([h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff, 0x78]));
  }
  return Buffer.concat(parts);
})();
/** 600 MB of JSON-ish text, sent as one 1 MB chunk 600 times. */
const BIG: BodySpec = { repeat: Buffer.alloc(1 << 20, 'y'), times: 600 };

async function recordsOf(p: CliProxy): Promise<ExchangeRecord[]> {
  return (await readExchanges(p.out)).records;
}

/** The proxy stopped cleanly (SIGTERM, exit 0) and wrote its records. */
async function stopped(p: CliProxy): Promise<ExchangeRecord[]> {
  expect(p.alive(), `the proxy died: ${p.stderr()}`).toBe(true);
  expect(await p.stop()).toBe(0);
  return recordsOf(p);
}

function expectTruncated(body: ExchangeRecord['request']['body'], wire: Buffer | BodySpec, first: string): void {
  const size = Buffer.isBuffer(wire) ? wire.length : wire.repeat.length * wire.times;
  expect(body.truncated).toBe(true);
  expect(body.wireSize).toBe(size);
  expect(body.sha256).toBe(bodySha256(wire));
  expect(body.size).toBeLessThanOrEqual(LIMIT);
  expect(body.size).toBeGreaterThan(LIMIT / 2);
  expect(body.encoding).toBe('utf8');
  expect(body.text.slice(0, 64)).toBe(first.repeat(64));
}

beforeAll(async () => {
  // The stand-in API: echoes what it received (size and hash of the raw bytes), or answers a bomb.
  api = await standInApi(dirs, (req, res) => {
    if (req.url?.startsWith('/bomb-gzip')) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': GZIP_BOMB.length });
      res.end(GZIP_BOMB);
      return;
    }
    if (req.url?.startsWith('/bomb-br')) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'content-encoding': 'br', 'content-length': BR_BOMB.length });
      res.end(BR_BOMB);
      return;
    }
    if (req.url?.startsWith('/big')) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': BIG.repeat.length * BIG.times });
      let i = 0;
      const pump = () => {
        while (i < BIG.times) {
          i += 1;
          if (!res.write(BIG.repeat)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
      return;
    }
    const h = createHash('sha256');
    let size = 0;
    req.on('data', (c: Buffer) => {
      h.update(c);
      size += c.length;
    });
    req.on('end', () => res.end(JSON.stringify({ size, sha256: h.digest('hex') })));
  });
}, 60_000);

afterAll(async () => {
  api?.close();
  await removeAll(dirs);
});

const forward = (target: string) => ({ kind: 'forward' as const, target, ca: api.caPem });
const reverse = { kind: 'reverse' as const };

/** Both passthrough paths to the stand-in API: --upstream-url (reverse route) and a CONNECT tunnel. */
async function passthroughProxies(): Promise<Array<readonly [CliProxy, SendOptions['route']]>> {
  const viaUrl = await startCliProxy({
    out: await tempDir('out', dirs),
    certsDir: api.certsDir,
    args: ['--upstream', 'passthrough', '--upstream-url', `https://127.0.0.1:${api.port}`, '--upstream-ca', api.caPath],
  });
  const viaTunnel = await startCliProxy({ out: await tempDir('out', dirs), certsDir: api.certsDir, args: ['--upstream', 'passthrough', '--upstream-ca', api.caPath] });
  return [
    [viaUrl, reverse],
    [viaTunnel, forward(`127.0.0.1:${api.port}`)],
  ];
}

describe('decompression bombs in requests', () => {
  it('stub mode: answered, the proxy lives, each recorded truncated (gzip and zstd 1 GiB, br 256 MiB; reverse and forward)', async () => {
    const p = await startCliProxy({ out: await tempDir('out', dirs), certsDir: api.certsDir });
    const cases = [
      { route: reverse, enc: 'gzip', bomb: GZIP_BOMB },
      { route: forward('api.anthropic.com:443'), enc: 'br', bomb: BR_BOMB },
      { route: reverse, enc: 'zstd', bomb: ZSTD_BOMB },
    ];
    let received = 0;
    for (const c of cases) {
      const r = await send(p.port, { route: c.route, path: `/v1/messages?bomb=${c.enc}`, headers: { 'content-type': 'application/json', 'content-encoding': c.enc }, body: c.bomb });
      expect(r.status).toBe(200);
      received += 1;
    }
    const recs = (await stopped(p)).filter((r) => r.request.path.includes('bomb='));
    const rss = p.peakRssMb();
    figure('request bombs, stub', { sent: cases.length, received, recorded: recs.length, 'peak RSS MB': rss });
    expect(recs).toHaveLength(cases.length);
    for (const c of cases) {
      // A bomb is decoded streaming, after the exchange: its line may follow later ones (seq keeps the order).
      const rec = recs.find((r) => r.request.path.endsWith(`bomb=${c.enc}`))!;
      expectTruncated(rec.request.body, c.bomb, 'x');
      expect(rec.request.body.contentEncoding).toBe(c.enc);
      expect(rec.errors.some((e) => e.stage === 'parse' && /capture limit/.test(e.message))).toBe(true);
    }
    expect(rss).toBeLessThan(600);
  });

  it('passthrough (--upstream-url and tunnel): the upstream gets the bytes untouched, the record is truncated', async () => {
    for (const [p, route] of await passthroughProxies()) {
      const r = await send(p.port, { route, path: '/echo?bomb=gzip', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: GZIP_BOMB });
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body!.toString())).toEqual({ size: GZIP_BOMB.length, sha256: sha256(GZIP_BOMB) });
      const recs = await stopped(p);
      const rss = p.peakRssMb();
      figure(`request bomb, passthrough ${route.kind}`, { sent: 1, received: 1, recorded: recs.length, 'peak RSS MB': rss });
      expect(recs).toHaveLength(1);
      expectTruncated(recs[0]!.request.body, GZIP_BOMB, 'x');
      expect(rss).toBeLessThan(600);
    }
  });
});

describe('decompression bombs in responses', () => {
  it('passthrough (--upstream-url and tunnel): the client gets the compressed bytes as sent, the record is truncated', async () => {
    for (const [p, route] of await passthroughProxies()) {
      let received = 0;
      for (const [path, bomb] of [
        ['/bomb-gzip', GZIP_BOMB],
        ['/bomb-br', BR_BOMB],
      ] as const) {
        const r = await send(p.port, { route, method: 'GET', path, headers: { 'accept-encoding': 'gzip, br' } });
        expect(r.status).toBe(200);
        expect({ size: r.size, sha256: r.sha256 }).toEqual({ size: bomb.length, sha256: sha256(bomb) });
        received += 1;
      }
      const recs = await stopped(p);
      const rss = p.peakRssMb();
      figure(`response bombs, passthrough ${route.kind}`, { sent: 2, received, recorded: recs.length, 'peak RSS MB': rss });
      expect(recs).toHaveLength(2);
      expectTruncated(recs.find((r) => r.request.path === '/bomb-gzip')!.response!.body, GZIP_BOMB, 'x');
      expectTruncated(recs.find((r) => r.request.path === '/bomb-br')!.response!.body, BR_BOMB, 'x');
      expect(rss).toBeLessThan(600);
    }
  });
});

describe('bodies far past the limit', () => {
  it('a 600 MB request (stub) and a 600 MB response (tunnel): relayed whole, recorded as their first 32 MiB, size and hash', async () => {
    const stub = await startCliProxy({ out: await tempDir('out', dirs), certsDir: api.certsDir });
    const r1 = await send(stub.port, { route: reverse, path: '/v1/messages?big', headers: { 'content-type': 'application/json' }, body: BIG, timeoutMs: 50_000 });
    expect(r1.status).toBe(200);
    const [rec1] = await stopped(stub);
    const rssStub = stub.peakRssMb();
    expectTruncated(rec1!.request.body, BIG, 'y');
    figure('600 MB request, stub', { sent: 1, received: 1, recorded: rec1 ? 1 : 0, 'peak RSS MB': rssStub });

    const tunnel = await startCliProxy({ out: await tempDir('out', dirs), certsDir: api.certsDir, args: ['--upstream', 'passthrough', '--upstream-ca', api.caPath] });
    const r2 = await send(tunnel.port, { route: forward(`127.0.0.1:${api.port}`), method: 'GET', path: '/big', timeoutMs: 50_000 });
    expect({ status: r2.status, size: r2.size, sha256: r2.sha256 }).toEqual({ status: 200, size: BIG.repeat.length * BIG.times, sha256: bodySha256(BIG) });
    const [rec2] = await stopped(tunnel);
    const rssTunnel = tunnel.peakRssMb();
    expectTruncated(rec2!.response!.body, BIG, 'y');
    figure('600 MB response, tunnel', { sent: 1, received: 1, recorded: rec2 ? 1 : 0, 'peak RSS MB': rssTunnel });
    expect(Math.max(rssStub, rssTunnel)).toBeLessThan(600);
  }, 120_000);
});
