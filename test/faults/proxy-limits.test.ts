import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { readExchanges } from '../../src/capture/store.js';
import { ensureCA } from '../../src/ca/index.js';
import type { ExchangeRecord } from '../../src/capture/schema.js';
import { CLI, runCli } from '../helpers/cli.js';
import { connectTunnel } from '../helpers/clients.js';
import { figure, removeAll, send, standInApi, startCliProxy, tempDir, type CliProxy } from '../helpers/faults.js';

/*
 * What a careless or hostile client can do to the proxy's connections (issue 10 #8, #9, #11):
 * malformed and rejected requests are answered, recorded with what happened and logged at info;
 * idle connections, slow headers and slow bodies hit timeouts, too many connections hit the cap,
 * each logged once; a busy port is one line and exit 2.
 */

const dirs: string[] = [];
let certsDir: string;

beforeAll(async () => {
  certsDir = await tempDir('certs', dirs);
  await ensureCA(certsDir);
});
afterAll(() => removeAll(dirs));

/** Writes `parts` (waiting `gapMs` between them) on a fresh connection; resolves with what came back once it closes. */
function raw(port: number, parts: string[], o: { gapMs?: number; endAfter?: boolean; maxMs?: number } = {}): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const s = net.connect(port, '127.0.0.1', async () => {
      for (const p of parts) {
        if (s.destroyed) break;
        s.write(p);
        if (o.gapMs) await new Promise((r) => setTimeout(r, o.gapMs));
      }
      if (o.endAfter) s.end();
    });
    s.on('data', (d) => (got += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => resolve(got));
    setTimeout(() => s.destroy(), o.maxMs ?? 10_000).unref();
  });
}

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

function logLines(p: CliProxy): LogLine[] {
  return p
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

async function stopAndRead(p: CliProxy): Promise<ExchangeRecord[]> {
  expect(p.alive(), p.stderr()).toBe(true);
  expect(await p.stop()).toBe(0);
  return (await readExchanges(p.out)).records;
}

describe('rejected and malformed requests', () => {
  it('are answered, recorded with their status and reason, and logged at info without blaming the CA', async () => {
    process.env.PROMPTDIFF_LOG_LEVEL = 'info';
    const p = await startCliProxy({ out: await tempDir('out', dirs), certsDir, args: ['--idle-timeout', '1'] });
    delete process.env.PROMPTDIFF_LOG_LEVEL;
    const h = `host: 127.0.0.1:${p.port}\r\n`;
    const answers = {
      tooManyHeaders: await raw(p.port, [`GET /v1/models?big HTTP/1.1\r\n${h}${Array.from({ length: 3000 }, (_, i) => `x-header-${i}: value-${i}\r\n`).join('')}\r\n`]),
      nulInConnect: await raw(p.port, [`CONNECT api.example\u0000.com:443 HTTP/1.1\r\nhost: api.example.com\r\n\r\n`]),
      badChunk: await raw(p.port, [`POST /v1/messages?badchunk HTTP/1.1\r\n${h}content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{"a":\r\nZZ\r\n`]),
      halfClosed: await raw(p.port, [`POST /v1/messages?half HTTP/1.1\r\n${h}content-type: application/json\r\ncontent-length: 100\r\n\r\n{"a":`], { endAfter: true, gapMs: 50 }),
    };
    // A tunnel whose client never starts TLS: closed after the idle timeout, and recorded.
    const tunnel = await connectTunnel(p.port, 'api.anthropic.com:443');
    const closedAfter = await new Promise<number>((resolve) => {
      const t0 = Date.now();
      tunnel.on('close', () => resolve(Date.now() - t0));
      tunnel.on('error', () => undefined);
    });
    expect(answers.tooManyHeaders).toMatch(/^HTTP\/1\.1 431 /);
    expect(answers.nulInConnect).toMatch(/^HTTP\/1\.1 400 /);
    expect(answers.badChunk).toMatch(/^HTTP\/1\.1 400 /);
    expect(answers.badChunk).toMatch(/bad chunk size/);
    expect(closedAfter).toBeLessThan(5000);
    // Still serving.
    expect((await send(p.port, { route: { kind: 'reverse' }, method: 'GET', path: '/v1/models' })).status).toBe(200);
    const recs = await stopAndRead(p);
    const byPath = (s: string) => recs.find((r) => r.request.url.includes(s));
    expect(recs.filter((r) => r.response?.status === 431)).toHaveLength(1);
    expect(byPath('?big')).toMatchObject({ response: { status: 431 }, errors: [{ stage: 'request', message: expect.stringMatching(/headers larger/) }] });
    expect(recs.find((r) => r.request.method === 'CONNECT' && r.request.url.includes('\u0000'))).toMatchObject({ response: { status: 400 }, errors: [{ stage: 'request', message: expect.stringMatching(/malformed request/) }] });
    // Before: a bad chunk was recorded as "client disconnected"; a half-closed request was not recorded at all.
    expect(byPath('?badchunk')!.response!.status).toBe(400);
    expect(byPath('?badchunk')!.errors).toContainEqual({ stage: 'client', message: 'malformed chunked request body: bad chunk size' });
    expect(byPath('?half')!.errors.map((e) => e.message)).toContain('the client closed its side before the request was complete');
    const idle = recs.find((r) => r.request.method === 'CONNECT' && r.request.url === 'api.anthropic.com:443');
    expect(idle!.errors[0]!.message).toMatch(/completed no TLS handshake in 1 s/);
    const logs = logLines(p);
    const refused = logs.filter((l) => l.msg === 'refused a malformed request');
    expect(refused.length).toBeGreaterThanOrEqual(3);
    expect(refused.every((l) => l.level === 30)).toBe(true);
    expect(logs.some((l) => /trust the promptdiff CA/.test(l.msg))).toBe(false);
    figure('rejected and malformed requests', { sent: 5, answered: Object.values(answers).filter((a) => /^HTTP\/1\.1 4/.test(a)).length, recorded: recs.length - 1, 'peak RSS MB': p.peakRssMb() });
  }, 30_000);
});

describe('timeouts', () => {
  it('close idle connections, answer slow headers and slow bodies 408, record them, and log each kind once', async () => {
    process.env.PROMPTDIFF_LOG_LEVEL = 'info';
    // Node's header timeout runs for a connection that has sent nothing yet too: kept above the idle
    // timeout, so that silent connections are closed as idle, not answered 408 (a race at equal values).
    const p = await startCliProxy({ out: await tempDir('out', dirs), certsDir, args: ['--idle-timeout', '1', '--header-timeout', '2', '--body-timeout', '3'] });
    delete process.env.PROMPTDIFF_LOG_LEVEL;
    const h = `host: 127.0.0.1:${p.port}\r\n`;
    const t0 = Date.now();
    const [idle, slowHead, slowBody] = await Promise.all([
      Promise.all([1, 2, 3].map(() => raw(p.port, []))),
      Promise.all([1, 2, 3].map((i) => raw(p.port, [`GET /v1/models?slowhead=${i} HTTP/1.1\r\n`, ...Array.from({ length: 20 }, (_, k) => `x-${k}: v\r\n`)], { gapMs: 300 }))),
      // A byte every 300 ms: never idle, only the deadline ends it.
      Promise.all(
        [1, 2, 3].map((i) =>
          raw(p.port, [`POST /v1/messages?slowbody=${i} HTTP/1.1\r\n${h}content-type: application/json\r\ncontent-length: 100\r\n\r\n`, ...'{"model":"m","x":"yyyyyyyyyy'.split('')], { gapMs: 300 }),
        ),
      ),
    ]);
    const seconds = (Date.now() - t0) / 1000;
    expect(idle).toEqual(['', '', '']);
    for (const a of slowHead) expect(a).toMatch(/^HTTP\/1\.1 408 /);
    for (const a of slowBody) expect(a).toMatch(/^HTTP\/1\.1 408 /);
    const recs = await stopAndRead(p);
    const slowBodyRecs = recs.filter((r) => r.request.path.includes('slowbody'));
    expect(slowBodyRecs).toHaveLength(3);
    for (const r of slowBodyRecs) {
      expect(r.response!.status).toBe(408);
      expect(r.errors).toContainEqual({ stage: 'client', message: 'request not complete after 3 s (body too slow)' });
    }
    expect(recs.filter((r) => r.response?.status === 408 && r.errors.some((e) => /headers not complete after 2 s/.test(e.message)))).toHaveLength(3);
    const limitLogs = logLines(p).filter((l) => typeof l.limit === 'string');
    expect(limitLogs.map((l) => l.limit).sort()).toEqual(['body', 'headers', 'idle']);
    figure('timeouts', { sent: 9, 'closed idle': idle.length, 'answered 408': slowHead.length + slowBody.length, recorded: recs.length, seconds: seconds.toFixed(1), 'peak RSS MB': p.peakRssMb() });
  }, 30_000);
});

describe('a request waiting for its answer', () => {
  it('is not idle: an upstream that thinks for longer than --idle-timeout still answers, on both passthrough paths', async () => {
    // A non-streaming request: nothing either way until the whole answer, 2.5 s later.
    const api = await standInApi(dirs, (req, res) => {
      req.resume();
      req.on('end', () => setTimeout(() => res.end(JSON.stringify({ content: [{ type: 'text', text: 'late' }] })), 2500));
    });
    try {
      const viaUrl = await startCliProxy({ out: await tempDir('out', dirs), certsDir: api.certsDir, args: ['--idle-timeout', '1', '--upstream', 'passthrough', '--upstream-url', `https://127.0.0.1:${api.port}`, '--upstream-ca', api.caPath] });
      const viaTunnel = await startCliProxy({ out: await tempDir('out', dirs), certsDir: api.certsDir, args: ['--idle-timeout', '1', '--upstream', 'passthrough', '--upstream-ca', api.caPath] });
      const json = { 'content-type': 'application/json' };
      const [a, b] = await Promise.all([
        send(viaUrl.port, { route: { kind: 'reverse' }, path: '/v1/messages', headers: json, body: Buffer.from('{}') }).catch((e: Error) => ({ status: `--upstream-url: ${e.message}`, body: null })),
        send(viaTunnel.port, { route: { kind: 'forward', target: `127.0.0.1:${api.port}`, ca: api.caPem }, path: '/v1/messages', headers: json, body: Buffer.from('{}') }).catch((e: Error) => ({ status: `tunnel: ${e.message}`, body: null })),
      ]);
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(JSON.parse(b.body!.toString()).content[0].text).toBe('late');
      for (const p of [viaUrl, viaTunnel]) expect((await stopAndRead(p)).map((r) => r.response?.status)).toEqual([200]);
    } finally {
      api.close();
    }
  }, 30_000);
});

describe('fd pressure from idle connections', () => {
  it('refuses connections past the cap (logged once), closes idle ones, and serves again once they are gone', async () => {
    process.env.PROMPTDIFF_LOG_LEVEL = 'info';
    // Idle for 5 s: every one of the 2000 is accepted (and admitted or refused) before the first idle close frees a slot.
    const p = await startCliProxy({ out: await tempDir('out', dirs), certsDir, args: ['--max-connections', '500', '--idle-timeout', '5'] });
    delete process.env.PROMPTDIFF_LOG_LEVEL;
    const N = 2000;
    let closedEarly = 0;
    const sockets = await Promise.all(
      Array.from(
        { length: N },
        () =>
          new Promise<net.Socket>((resolve) => {
            const s = net.connect(p.port, '127.0.0.1', () => resolve(s));
            s.on('error', () => resolve(s));
            s.on('close', () => void (closedEarly += 1));
          }),
      ),
    );
    await new Promise((r) => setTimeout(r, 500));
    const refused = closedEarly;
    const fds = Number((await import('node:fs')).readdirSync(`/proc/${p.pid}/fd`).length);
    // Once the idle ones are closed, a normal CONNECT is answered and recorded.
    const t0 = Date.now();
    let served = 0;
    while (Date.now() - t0 < 15_000) {
      const r = await send(p.port, { route: { kind: 'forward', target: 'api.anthropic.com:443', ca: p.caPem }, method: 'GET', path: '/v1/models' }).catch(() => null);
      if (r?.status === 200) {
        served += 1;
        break;
      }
      await new Promise((res) => setTimeout(res, 200));
    }
    const closedByIdle = sockets.filter((s) => s.destroyed).length - refused;
    for (const s of sockets) s.destroy();
    const rss = p.peakRssMb();
    const recs = await stopAndRead(p);
    figure('fd pressure', { opened: N, refused, 'closed when idle': closedByIdle, 'proxy fds at peak': fds, served, recorded: recs.length, 'peak RSS MB': rss });
    // Connections still in the kernel's backlog are refused as they are accepted: count most, not all.
    expect(refused).toBeGreaterThanOrEqual(N / 2);
    // The cap holds the descriptors: 500 clients, the listener, the capture and a few of Node's own.
    expect(fds).toBeLessThan(560);
    expect(served).toBe(1);
    expect(recs).toHaveLength(1);
    const capLogs = logLines(p).filter((l) => l.limit === 'connections');
    expect(capLogs).toHaveLength(1);
  }, 30_000);
});

describe('the port', () => {
  it('busy: one line naming it, exit 2', async () => {
    const blocker = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await runCli(['proxy', '--port', String(port), '--out', await tempDir('out', dirs), '--certs', certsDir], {}, 15_000);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([`promptdiff: proxy: port ${port} on 127.0.0.1 is already in use (another proxy?): pick another with --port, or --port 0 for a free one`]);
    } finally {
      blocker.close();
    }
  });

  // As root every port is allowed: the CLI then runs as nobody (setpriv), as a user would.
  const asRoot = process.getuid?.() === 0;
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((f) => existsSync(f));
  it.skipIf(asRoot && !setpriv)('privileged (not root): one line naming it, exit 2', async () => {
    // Straight under /tmp: nobody cannot enter the tests' own (0700) temporary directories.
    const home = await mkdtemp(path.join(asRoot ? '/tmp' : tmpdir(), 'pd-fault-nobody-'));
    dirs.push(home);
    await chmod(home, 0o777);
    const args = ['proxy', '--port', '80', '--out', path.join(home, 'out'), '--certs', path.join(home, 'certs')];
    const r = asRoot
      ? spawnSync(setpriv!, ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, ...args], { env: { ...process.env, HOME: home, PROMPTDIFF_LOG_LEVEL: 'warn' }, encoding: 'utf8', timeout: 15_000 })
      : spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, PROMPTDIFF_LOG_LEVEL: 'warn' }, encoding: 'utf8', timeout: 15_000 });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual(['promptdiff: proxy: port 80 on 127.0.0.1 needs privileges this user does not have (ports below 1024 usually do): use --port 1024 or above']);
  });
});

describe('honest logs', () => {
  it('an upstream failure names the request it belongs to (query redacted as in the record), on both passthrough paths', async () => {
    // A port nobody listens on: every request fails upstream.
    const closed = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => closed.once('listening', r));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((r) => closed.close(r));
    process.env.PROMPTDIFF_LOG_LEVEL = 'info';
    const viaUrl = await startCliProxy({ out: await tempDir('out', dirs), certsDir, args: ['--upstream', 'passthrough', '--upstream-url', `http://127.0.0.1:${port}`] });
    const viaTunnel = await startCliProxy({ out: await tempDir('out', dirs), certsDir, args: ['--upstream', 'passthrough'] });
    delete process.env.PROMPTDIFF_LOG_LEVEL;
    const path = '/v1/messages?key=sk-secret-in-query&beta=true';
    const json = { 'content-type': 'application/json' };
    expect((await send(viaUrl.port, { route: { kind: 'reverse' }, path, headers: json, body: Buffer.from('{}') })).status).toBe(502);
    expect((await send(viaTunnel.port, { route: { kind: 'forward', target: `127.0.0.1:${port}`, ca: viaTunnel.caPem }, path, headers: json, body: Buffer.from('{}') })).status).toBe(502);
    for (const p of [viaUrl, viaTunnel]) {
      const errors = logLines(p).filter((l) => l.msg === 'proxy error');
      expect(errors.length, p.stderr()).toBeGreaterThanOrEqual(1);
      expect(errors[0]!.request).toBe('POST /v1/messages?key=%5Bredacted%5D&beta=true');
      expect(p.stderr()).not.toContain('sk-secret-in-query');
      const recs = await stopAndRead(p);
      expect(recs).toHaveLength(1);
      expect(recs[0]!.errors[0]!.stage).toBe('upstream');
    }
  }, 30_000);
});
