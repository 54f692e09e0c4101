import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readExchanges } from '../../src/capture/store.js';
import { figure, removeAll, standInApi, send, startCliProxy, tempDir, type SendOptions, type StandInApi } from '../helpers/faults.js';

/*
 * 500 exchanges at once, each on a connection of its own (issue 10: "100 and 500 concurrent
 * exchanges with 0 lost", keep it so): every one answered, every one recorded exactly once.
 */

const N = 500;
const dirs: string[] = [];
let api: StandInApi;

beforeAll(async () => {
  api = await standInApi(dirs, (req, res) => {
    req.resume();
    req.on('end', () => res.end(JSON.stringify({ path: req.url })));
  }, { backlog: 2 * N });
});

afterAll(async () => {
  api?.close();
  await removeAll(dirs);
});

describe(`${N} concurrent exchanges`, () => {
  const cases: Array<{ name: string; args: () => string[]; route: () => SendOptions['route'] }> = [
    { name: 'stub, reverse', args: () => [], route: () => ({ kind: 'reverse' }) },
    { name: 'stub, CONNECT+TLS', args: () => [], route: () => ({ kind: 'forward', target: 'api.anthropic.com:443', ca: api.caPem }) },
    { name: 'passthrough, tunnel', args: () => ['--upstream', 'passthrough', '--upstream-ca', api.caPath], route: () => ({ kind: 'forward', target: `127.0.0.1:${api.port}`, ca: api.caPem }) },
  ];
  for (const c of cases) {
    it(`are all answered and each recorded once (${c.name})`, async () => {
      const p = await startCliProxy({ out: await tempDir('out', dirs), certsDir: api.certsDir, args: c.args() });
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
