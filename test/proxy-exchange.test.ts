import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import { rm } from 'node:fs/promises';
import { startProxy, type RunningProxy } from '../src/proxy/server.js';
import { readExchanges } from '../src/capture/store.js';
import { ensureCA } from '../src/ca/index.js';
import { ERROR_STAGE } from '../src/proxy/error-kinds.js';
import { log } from '../src/log.js';
import { tmp } from './helpers/clients.js';

/*
 * The Exchange: one record per request whatever route and mode met it, and the same stage for the
 * same failure everywhere.
 */

let certsDir: string;
let upstream: http.Server;
let upstreamUrl: string;
const dirs: string[] = [];

async function dir(what: string): Promise<string> {
  const d = await tmp(what);
  dirs.push(d);
  return d;
}

/** Sends the head and part of a body (Content-Length says more is coming), then resets the connection. */
function abandonMidBody(port: number, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(`POST ${path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"model":"m",`);
      setTimeout(() => {
        s.resetAndDestroy();
        resolve();
      }, 150);
    });
    s.on('error', reject);
  });
}

/** Two pipelined requests; the second's chunked body breaks after its first chunk. */
function pipelinedBadChunk(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const h = `host: 127.0.0.1:${port}\r\ncontent-type: application/json\r\n`;
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(`POST /v1/messages?first HTTP/1.1\r\n${h}content-length: 2\r\n\r\n{}POST /v1/messages?second HTTP/1.1\r\n${h}transfer-encoding: chunked\r\n\r\n3\r\n{"a\r\nZZ\r\n`);
    });
    s.on('error', () => undefined);
    s.on('close', () => resolve());
    s.on('connect', () => setTimeout(() => s.destroy(), 1000));
    s.resume();
    void reject;
  });
}

async function waitForRecords(proxy: RunningProxy, out: string, n: number) {
  for (let i = 0; i < 100; i++) {
    await proxy.flush();
    const { records } = await readExchanges(out).catch(() => ({ records: [] }));
    if (records.length >= n) return records;
    await new Promise((r) => setTimeout(r, 20));
  }
  return (await readExchanges(out)).records;
}

beforeAll(async () => {
  log.level = 'silent';
  certsDir = await dir('certs');
  await ensureCA(certsDir);
  // An upstream that reads whatever arrives and never answers before the body is complete.
  upstream = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('{}'));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as net.AddressInfo).port}`;
});

afterAll(async () => {
  upstream.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('a client that goes away in the middle of its request', () => {
  for (const mode of ['stub', 'passthrough'] as const) {
    it(`is recorded once, on the client's side (${mode})`, async () => {
      const out = await dir(`abandon-${mode}`);
      const proxy = await startProxy({ outDir: out, certsDir, upstream: mode, ...(mode === 'passthrough' ? { upstreamUrl } : {}) });
      try {
        await abandonMidBody(proxy.port, '/v1/messages');
        const records = await waitForRecords(proxy, out, 1);
        await new Promise((r) => setTimeout(r, 100));
        await proxy.flush();
        expect((await readExchanges(out)).records).toHaveLength(1);
        const [rec] = records;
        expect(rec!.request.body.incomplete).toBe(true);
        // The cut-off JSON fails to parse too; every other error is about the client going away.
        const stages = rec!.errors.filter((e) => e.stage !== 'parse').map((e) => e.stage);
        expect(stages.length).toBeGreaterThan(0);
        // Before the error table, passthrough recorded the client's broken request as stage "response".
        expect(stages).toEqual(stages.map(() => 'client'));
      } finally {
        await proxy.close();
      }
    });
  }
});

describe('a request whose chunked body breaks behind another one on the same connection', () => {
  for (const mode of ['stub', 'passthrough'] as const) {
    it(`is recorded on the client's side (${mode})`, async () => {
      const out = await dir(`badchunk-${mode}`);
      const proxy = await startProxy({ outDir: out, certsDir, upstream: mode, ...(mode === 'passthrough' ? { upstreamUrl } : {}) });
      try {
        await pipelinedBadChunk(proxy.port);
        const records = await waitForRecords(proxy, out, 2);
        const second = records.filter((r) => r.request.path.endsWith('?second'));
        expect(second).toHaveLength(1);
        const stages = second[0]!.errors.filter((e) => e.stage !== 'parse').map((e) => e.stage);
        expect(stages.length).toBeGreaterThan(0);
        // Before the error table, passthrough recorded this one as stage "response" (CLIENT_TO_PROXY_REQUEST_ERROR: aborted).
        expect(stages).toEqual(stages.map(() => 'client'));
      } finally {
        await proxy.close();
      }
    });
  }
});

describe('the error table', () => {
  it('puts every failure of a client on the client side and every failure of an upstream on the upstream side', () => {
    for (const [kind, stage] of Object.entries(ERROR_STAGE)) {
      if (/^CLIENT_TO_PROXY|TO_CLIENT_/.test(kind)) expect(stage, kind).toBe('client');
      else expect(stage, kind).toBe('upstream');
    }
  });
});
