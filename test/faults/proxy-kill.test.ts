import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http from 'node:http';
import { readExchanges } from '../../src/capture/store.js';
import { figure, removeAll, standInApi, startCliProxy, tempDir, TunnelAgent, type CliProxy, type StandInApi } from '../helpers/faults.js';

/*
 * Durable before acknowledged (issue 10 #3): the proxy is killed with SIGKILL in the middle of
 * steady load (50 concurrent clients, 50 KB bodies, both framings of the response), in every mode
 * and route; every exchange whose response a client received in full must be in the capture.
 * Before, up to 34 of them were missing per kill (the record was written after the response).
 */

const dirs: string[] = [];
let api: StandInApi;
const CONCURRENCY = 50;
const ROUNDS = 2;

const body = (id: number) =>
  Buffer.from(JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 16, stream: id % 2 === 1, messages: [{ role: 'user', content: `${id} ${'x'.repeat(50_000)}` }] }));

beforeAll(async () => {
  // Odd ids are answered chunked in two writes, even ones with a Content-Length.
  api = await standInApi(dirs, (req, res) => {
    req.resume();
    req.on('end', () => {
      const id = Number(/id=(\d+)/.exec(req.url ?? '')?.[1] ?? 0);
      if (id % 2 === 1) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('event: message_start\ndata: {}\n\n');
        res.end('event: message_stop\ndata: {}\n\n');
      } else res.end(JSON.stringify({ id, content: [{ type: 'text', text: 'ok' }] }));
    });
  });
}, 30_000);

afterAll(async () => {
  api?.close();
  await removeAll(dirs);
});

interface Mode {
  name: string;
  args: () => string[];
  agent: (p: CliProxy) => http.Agent;
  /** Where requests go, as the client addresses them. */
  origin: (p: CliProxy) => { host: string; port: number };
}

const MODES: Mode[] = [
  { name: 'stub, reverse', args: () => [], agent: () => new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY }), origin: (p) => ({ host: '127.0.0.1', port: p.port }) },
  {
    name: 'stub, CONNECT+TLS',
    args: () => [],
    agent: (p) => new TunnelAgent(p.port, 'api.anthropic.com:443', api.caPem, CONCURRENCY),
    origin: () => ({ host: 'api.anthropic.com', port: 443 }),
  },
  {
    name: 'passthrough, --upstream-url',
    args: () => ['--upstream', 'passthrough', '--upstream-url', `https://127.0.0.1:${api.port}`, '--upstream-ca', api.caPath],
    agent: () => new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY }),
    origin: (p) => ({ host: '127.0.0.1', port: p.port }),
  },
  {
    name: 'passthrough, tunnel',
    args: () => ['--upstream', 'passthrough', '--upstream-ca', api.caPath],
    agent: (p) => new TunnelAgent(p.port, `127.0.0.1:${api.port}`, api.caPem, CONCURRENCY),
    origin: () => ({ host: '127.0.0.1', port: api.port }),
  },
];

/** One request; resolves true only when the whole response arrived with status 200. */
function exchange(agent: http.Agent, origin: { host: string; port: number }, id: number): Promise<boolean> {
  const data = body(id);
  return new Promise((resolve) => {
    const req = http.request(
      { agent, host: origin.host, port: origin.port, method: 'POST', path: `/v1/messages?id=${id}`, headers: { host: `${origin.host}:${origin.port}`, 'content-type': 'application/json', 'content-length': data.length, 'anthropic-version': '2023-06-01' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200 && res.complete));
        res.on('error', () => resolve(false));
        res.on('aborted', () => resolve(false));
      },
    );
    req.on('error', () => resolve(false));
    req.end(data);
  });
}

describe('kill -9 under load', () => {
  it('every exchange a client received in full is in the capture, in every mode and route', async () => {
    let nextId = 1;
    const totals = { sent: 0, received: 0, recorded: 0, missing: 0 };
    let peak = 0;
    for (const mode of MODES) {
      for (let round = 0; round < ROUNDS; round++) {
        const p = await startCliProxy({ out: await tempDir('out', dirs), certsDir: api.certsDir, args: mode.args() });
        const agent = mode.agent(p);
        const origin = mode.origin(p);
        const received = new Set<number>();
        let sent = 0;
        let stop = false;
        const worker = async () => {
          while (!stop) {
            const id = nextId++;
            sent += 1;
            if (await exchange(agent, origin, id)) received.add(id);
            else if (!stop) await new Promise((r) => setTimeout(r, 20));
          }
        };
        const workers = Array.from({ length: CONCURRENCY }, worker);
        // Into steady load (connections up, exchanges completing), then a random moment later.
        for (const t0 = Date.now(); received.size < CONCURRENCY && Date.now() - t0 < 10_000; ) await new Promise((r) => setTimeout(r, 20));
        await new Promise((r) => setTimeout(r, 200 + Math.floor(Math.random() * 500)));
        peak = Math.max(peak, p.peakRssMb());
        await p.kill9();
        stop = true;
        await Promise.all(workers);
        agent.destroy();
        const { records } = await readExchanges(p.out);
        const recorded = new Set(records.map((r) => Number(/id=(\d+)/.exec(r.request.path)?.[1])));
        const missing = [...received].filter((id) => !recorded.has(id));
        figure(`kill -9, ${mode.name}, round ${round + 1}`, { sent, received: received.size, recorded: recorded.size, missing: missing.length });
        totals.sent += sent;
        totals.received += received.size;
        totals.recorded += recorded.size;
        totals.missing += missing.length;
        expect(received.size, `${mode.name}: no exchange completed before the kill`).toBeGreaterThan(0);
        expect(missing, `${mode.name}: received in full but not recorded`).toEqual([]);
      }
    }
    figure('kill -9, all modes', { kills: MODES.length * ROUNDS, ...totals, 'peak RSS MB': peak });
  }, 60_000);
});
