import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import https from 'node:https';
import type net from 'node:net';
import { readExchanges } from '../../src/capture/store.js';
import { ensureCA, LeafIssuer } from '../../src/ca/index.js';
import { figure, removeAll, send, startCliProxy, tempDir, type SendOptions } from '../helpers/faults.js';

/*
 * 500 exchanges at once, each on a connection of its own (issue 10: "100 and 500 concurrent
 * exchanges with 0 lost", keep it so): every one answered, every one recorded exactly once.
 */

const N = 500;
const dirs: string[] = [];
let certsDir: string;
let caPath: string;
let caPem: string;
let upstream: https.Server;
let upstreamPort: number;

beforeAll(async () => {
  certsDir = await tempDir('certs', dirs);
  const ca = await ensureCA(certsDir);
  caPath = ca.certPath;
  caPem = ca.certPem;
  upstream = https.createServer({ key: ca.leafKeyPem, cert: new LeafIssuer(ca).certificatePem('127.0.0.1') }, (req, res) => {
    req.resume();
    req.on('end', () => res.end(JSON.stringify({ path: req.url })));
  });
  upstream.maxConnections = 2 * N;
  await new Promise<void>((r) => upstream.listen({ port: 0, host: '127.0.0.1', backlog: 2 * N }, r));
  upstreamPort = (upstream.address() as net.AddressInfo).port;
});

afterAll(async () => {
  upstream?.closeAllConnections();
  upstream?.close();
  await removeAll(dirs);
});

describe(`${N} concurrent exchanges`, () => {
  const cases: Array<{ name: string; args: () => string[]; route: () => SendOptions['route'] }> = [
    { name: 'stub, reverse', args: () => [], route: () => ({ kind: 'reverse' }) },
    { name: 'stub, CONNECT+TLS', args: () => [], route: () => ({ kind: 'forward', target: 'api.anthropic.com:443', ca: caPem }) },
    { name: 'passthrough, tunnel', args: () => ['--upstream', 'passthrough', '--upstream-ca', caPath], route: () => ({ kind: 'forward', target: `127.0.0.1:${upstreamPort}`, ca: caPem }) },
  ];
  for (const c of cases) {
    it(`are all answered and each recorded once (${c.name})`, async () => {
      const p = await startCliProxy({ out: await tempDir('out', dirs), certsDir, args: c.args() });
      const payload = Buffer.from(JSON.stringify({ model: 'm', max_tokens: 8, messages: [{ role: 'user', content: 'y'.repeat(20_000) }] }));
      const t0 = Date.now();
      const results = await Promise.all(
        Array.from({ length: N }, (_, i) =>
          send(p.port, { route: c.route(), path: `/v1/messages?c=${i}`, headers: { 'content-type': 'application/json' }, body: payload, timeoutMs: 45_000 }).then(
            (r) => r.status,
            () => 0,
          ),
        ),
      );
      const seconds = (Date.now() - t0) / 1000;
      expect(p.alive()).toBe(true);
      expect(await p.stop()).toBe(0);
      const { records } = await readExchanges(p.out);
      const ids = records.map((r) => Number(/c=(\d+)/.exec(r.request.path)?.[1]));
      const received = results.filter((s) => s === 200).length;
      figure(`${N} concurrent, ${c.name}`, { sent: N, received, recorded: records.length, seconds: seconds.toFixed(1), 'peak RSS MB': p.peakRssMb() });
      expect(received).toBe(N);
      expect(new Set(ids).size).toBe(N);
      expect(records).toHaveLength(N);
    }, 60_000);
  }
});
