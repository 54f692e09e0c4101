// promptdiff proxy benchmark: `npm run bench` (builds dist/ first), or `node bench/run.mjs` after a build.
//
// Proxy vs direct against the same local HTTPS upstream (127.0.0.1, leaf from our CA), in one run.
// Upstream, each proxy under test and this client are separate processes. Prints a table, the
// ratios, and each target with PASS/MISS. Every number is measured in this run.
//
// Environment knobs (all optional):
//   BENCH_SECONDS=3       length of each throughput phase
//   BENCH_PROF=DIR        write a V8 CPU profile of each proxy process to DIR (node --cpu-prof)
//   BENCH_ONLY=a,b        run only these proxy scenarios (ours-pass,ours-rev,ours-stub,relay,mitmproxy,library);
//                         mitmproxy runs when `mitmdump` is on PATH (Debian: apt-get install mitmproxy)
//   BENCH_PERF=1         start the proxies with --perf-basic-prof, for perf record -p PID
//   BENCH_NODE_ARGS=...  extra Node flags for the proxy processes (e.g. --trace-gc)
//   BENCH_AB=DIST_DIR     also run another build of promptdiff (its dist/ directory) as "ab-pass" and
//                         "ab-stub", interleaved with this one: an A/B comparison under the same load
import { fork } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { ensureCA } from '../dist/ca/index.js';

function hasMitmdump() {
  try {
    execFileSync('mitmdump', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const here = path.dirname(fileURLToPath(import.meta.url));
let upstreamHandle = null;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const SOCKETS = 8;
const BODY_BYTES = 20 * 1024;
const LATENCY_N = 400;
const SSE_N = 40;
const TLS_N = 30;
const LIBRARY_TLS_N = 4; // each costs it a fresh RSA key (0.1-0.6 s)
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : null;
const PROF = process.env.BENCH_PROF ? path.resolve(process.env.BENCH_PROF) : null;

const TARGETS = {
  throughput: 0.5, // × direct
  addedP50: 1, // ms
  sseFirst: 5, // ms
  tlsNewHost: 20, // ms
  vsLibrary: 10, // × http-mitm-proxy as shipped
};

// ---------------------------------------------------------------- payload

/**
 * A 20 KB Anthropic Messages request shaped like a coding agent's, exactly BODY_BYTES of UTF-8:
 * a system prompt of prose with newlines, quotes and a few non-ASCII characters, tool definitions
 * with JSON schemas, and a conversation with tool calls and results. Its JSON is full of quotes and
 * its strings of newlines, as real prompts are: that is what escaping costs on (a body that is one
 * long string without them flatters any JSON encoder).
 */
function makeBody() {
  const prose = (i) =>
    `Rule ${i}: You are an interactive CLI tool that helps users with software engineering tasks.\n` +
    `- Use the "Read" tool before editing; don\u2019t guess file contents \u2014 check them.\n` +
    `- Keep answers short: fewer than 4 lines unless asked (caf\u00e9 \u4e2d\u6587 \u{1F600}).\n\n`;
  const tool = (i) => ({
    name: `Tool${i}`,
    description: `Performs operation ${i} on the workspace.\nUsage:\n- The "path" parameter must be absolute.\n- Returns "ok" or an error.`,
    input_schema: {
      type: 'object',
      properties: { path: { type: 'string', description: 'The absolute path' }, limit: { type: 'number', description: 'How many lines to read' } },
      required: ['path'],
      additionalProperties: false,
    },
  });
  const head = {
    model: 'claude-bench',
    max_tokens: 16,
    stream: false,
    system: [
      { type: 'text', text: 'You are a benchmark \u2019 \u200b.' },
      { type: 'text', text: Array.from({ length: 30 }, (_, i) => prose(i)).join('') },
    ],
    tools: Array.from({ length: 12 }, (_, i) => tool(i)),
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'Fix the failing test in "src/app.ts".\n' }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'Tool1', input: { path: '/work/src/app.ts' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'export const x = "1";\n'.repeat(40) }] },
      { role: 'user', content: '' },
    ],
  };
  const base = Buffer.byteLength(JSON.stringify(head));
  const unit = 'line of "output" \u00e9\n';
  let text = '';
  while (Buffer.byteLength(JSON.stringify(text)) - 2 + base + Buffer.byteLength(JSON.stringify(unit)) - 2 <= BODY_BYTES) text += unit;
  while (Buffer.byteLength(JSON.stringify(text)) - 2 + base < BODY_BYTES) text += 'x';
  head.messages[3].content = text;
  const body = Buffer.from(JSON.stringify(head));
  if (body.length !== BODY_BYTES) throw new Error(`payload is ${body.length} bytes`);
  return body;
}
const BODY = makeBody();
const SSE_BODY = Buffer.from(JSON.stringify({ model: 'claude-bench', max_tokens: 16, stream: true, messages: [{ role: 'user', content: 'hi' }] }));

// ---------------------------------------------------------------- children

const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill();
});

const AB = process.env.BENCH_AB ? path.resolve(process.env.BENCH_AB) : null;

function start(script, args, { prof = null, env = {} } = {}) {
  const execArgv = prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : [];
  // BENCH_PERF=1: name JIT frames for `perf record -p <proxy pid>` (/tmp/perf-<pid>.map).
  if (process.env.BENCH_PERF) execArgv.push('--perf-basic-prof');
  // BENCH_NODE_ARGS="--trace-gc ...": extra Node flags for the proxy processes.
  if (process.env.BENCH_NODE_ARGS && script === 'proxy-child.mjs') execArgv.push(...process.env.BENCH_NODE_ARGS.split(' ').filter(Boolean));
  const child = fork(path.join(here, script), args, {
    execArgv,
    env: { ...process.env, PROMPTDIFF_LOG_LEVEL: process.env.PROMPTDIFF_LOG_LEVEL ?? 'warn', ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} ${args[0]} did not start in 30 s`)), 30_000);
    child.once('exit', (code) => reject(new Error(`${script} ${args[0]} exited with ${code}`)));
    child.once('message', (m) => {
      clearTimeout(timer);
      resolve({ ...m, child });
    });
  });
}

let cpuSeq = 0;
/** CPU milliseconds a child has used so far. */
function cpuOf(handle) {
  const id = ++cpuSeq;
  return new Promise((resolve) => {
    const on = (m) => {
      if (m && m.cpu === id) {
        handle.child.off('message', on);
        resolve(m.ms);
      }
    };
    handle.child.on('message', on);
    handle.child.send({ cpu: id });
  });
}
function ownCpu() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function stop(handle) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      handle.child.kill();
      resolve({});
    }, 10_000);
    handle.child.removeAllListeners('exit');
    handle.child.on('message', (m) => {
      if (m && m.stopped) {
        clearTimeout(timer);
        handle.child.once('exit', () => {
          children.delete(handle.child);
          resolve(m);
        });
      }
    });
    handle.child.send('stop');
  });
}

// ---------------------------------------------------------------- clients

/** An agent whose connections are CONNECT tunnels through the proxy, with TLS to `servername` inside. */
class TunnelAgent extends http.Agent {
  constructor({ proxyPort, target, ca, sockets = SOCKETS }) {
    super({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets, keepAliveMsecs: 60_000, timeout: 60_000 });
    this.proxyPort = proxyPort;
    this.target = target;
    this.ca = ca;
  }
  createConnection(_options, cb) {
    openTunnel(this.proxyPort, this.target, this.ca).then(
      ({ socket }) => cb(null, socket),
      (err) => cb(err),
    );
  }
}

/** CONNECT + TLS handshake; resolves once the TLS session is up. */
function openTunnel(proxyPort, target, ca) {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxyPort, method: 'CONNECT', path: target, headers: { host: target }, agent: false });
    req.on('connect', (res, raw) => {
      if (res.statusCode !== 200) {
        raw.destroy();
        reject(new Error(`CONNECT ${target} answered ${res.statusCode}`));
        return;
      }
      raw.setNoDelay(true);
      const host = target.replace(/:\d+$/, '');
      const socket = tls.connect({ socket: raw, host, ca, servername: /^[\d.]+$/.test(host) ? undefined : host, ALPNProtocols: ['http/1.1'] });
      socket.once('secureConnect', () => resolve({ socket, ms: performance.now() - t0 }));
      socket.once('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * A route is how a request reaches the upstream: { name, send(path, body) -> Promise<{ ms, firstChunk }> }.
 * send() resolves when the whole response has been read.
 */
function route({ name, agent, secure, host, port, headers = {} }) {
  const mod = secure ? https : http;
  const self = {
    name,
    agent,
    completed: 0,
    send(reqPath, body, onFirstChunk) {
      const t0 = performance.now();
      return new Promise((resolve, reject) => {
        const req = mod.request(
          {
            agent,
            host,
            port,
            method: 'POST',
            path: reqPath,
            headers: { 'content-type': 'application/json', 'content-length': body.length, 'anthropic-version': '2023-06-01', 'x-api-key': 'sk-bench', ...headers },
          },
          (res) => {
            let first = true;
            let size = 0;
            res.on('data', (c) => {
              if (first) {
                first = false;
                onFirstChunk?.(c, performance.now() - t0);
              }
              size += c.length;
            });
            res.on('end', () => {
              if (res.statusCode !== 200) reject(new Error(`${name}: ${reqPath} answered ${res.statusCode}`));
              else {
                self.completed += 1;
                resolve({ ms: performance.now() - t0, size });
              }
            });
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    },
  };
  return self;
}

// ---------------------------------------------------------------- measurements

function pct(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
function stats(values) {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, p50: pct(s, 0.5), p90: pct(s, 0.9), p99: pct(s, 0.99), max: s.at(-1) ?? NaN };
}

/*
 * The machine this runs on is shared, so background load comes and goes. Every measurement below
 * interleaves the routes (round-robin slices for throughput, alternating requests for latency)
 * so that direct and proxied numbers are taken under the same conditions and their ratio holds.
 */

/** SOCKETS workers per route, sending back to back; ROUNDS slices of SECONDS/ROUNDS per route. */
async function throughput(subjects) {
  const ROUNDS = 3;
  let seq = 0;
  const run = async (r, ms, lat) => {
    const end = performance.now() + ms;
    let done = 0;
    const loop = async () => {
      while (performance.now() < end) {
        const { ms: t } = await r.send(`/v1/messages?i=${seq++}`, BODY);
        lat?.push(t);
        done += 1;
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: SOCKETS }, loop));
    return { done, secs: (performance.now() - t0) / 1000 };
  };
  const acc = new Map(subjects.map((s) => [s.key, { done: 0, secs: 0, lat: [], cpu: { client: 0, upstream: 0, proxy: 0 } }]));
  for (const s of subjects) await run(s.r, 300, null); // warm-up: connections, JIT, certificates
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of subjects) {
      const a = acc.get(s.key);
      const before = { client: ownCpu(), upstream: await cpuOf(upstreamHandle), proxy: s.proxy ? await cpuOf(s.proxy) : 0 };
      const { done, secs } = await run(s.r, (SECONDS * 1000) / ROUNDS, a.lat);
      a.cpu.client += ownCpu() - before.client;
      a.cpu.upstream += (await cpuOf(upstreamHandle)) - before.upstream;
      if (s.proxy) a.cpu.proxy += (await cpuOf(s.proxy)) - before.proxy;
      a.done += done;
      a.secs += secs;
    }
  }
  for (const s of subjects) {
    const a = acc.get(s.key);
    const perReq = (ms) => (ms * 1000) / a.done; // µs of CPU per request
    s.res.tput = {
      rps: a.done / a.secs,
      mbps: (a.done * BODY_BYTES) / a.secs / 1e6,
      requests: a.done,
      loaded: stats(a.lat),
      cpuUs: { client: perReq(a.cpu.client), upstream: perReq(a.cpu.upstream), proxy: s.proxy ? perReq(a.cpu.proxy) : NaN },
    };
  }
}

/** One request at a time on one kept-alive connection per route, routes alternating: the latency one agent sees. */
async function latency(subjects) {
  for (const s of subjects) for (let i = 0; i < 30; i++) await s.one.send(`/v1/messages?lwarm=${i}`, BODY);
  const lat = new Map(subjects.map((s) => [s.key, []]));
  const spent = new Map(subjects.map((s) => [s.key, 0]));
  for (let i = 0; i < LATENCY_N; i++) {
    for (const s of subjects) {
      // A slow route gets fewer samples rather than a longer bench.
      if (spent.get(s.key) > 4000) continue;
      const { ms } = await s.one.send(`/v1/messages?l=${i}`, BODY);
      lat.get(s.key).push(ms);
      spent.set(s.key, spent.get(s.key) + ms);
    }
  }
  for (const s of subjects) s.res.lat = stats(lat.get(s.key));
}

/** Delay from the upstream writing the first SSE event to the client receiving it (same monotonic clock). */
async function sseFirstEvent(subjects) {
  const delays = new Map(subjects.map((s) => [s.key, []]));
  const end = performance.now() + 8000;
  for (let i = 0; i < SSE_N + 3 && performance.now() < end; i++) {
    for (const s of subjects) {
      let delay = NaN;
      await s.one.send(`/sse?i=${i}`, SSE_BODY, (chunk) => {
        const now = process.hrtime.bigint();
        const m = /"t":"(\d+)"/.exec(chunk.toString('utf8'));
        if (m) delay = Number(now - BigInt(m[1])) / 1e6;
      });
      if (Number.isNaN(delay)) throw new Error(`${s.key}: first SSE chunk carried no timestamp`);
      if (i >= 3) delays.get(s.key).push(delay);
    }
  }
  for (const s of subjects) s.res.sse = stats(delays.get(s.key));
}

/** CONNECT + TLS handshake through the proxy for one (fresh) hostname, in ms. */
async function tlsNewHost(proxyPort, ca, hostname) {
  const { socket, ms } = await openTunnel(proxyPort, `${hostname}:443`, ca);
  socket.end();
  return ms;
}

/** A fresh TCP + TLS handshake straight to the upstream, in ms. */
function tlsDirect(port, ca) {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, ALPNProtocols: ['http/1.1'] }, () => {
      s.end();
      resolve(performance.now() - t0);
    });
    s.once('error', reject);
  });
}

/** The capture must hold every exchange with the exact request bytes: check the count and the last line. */
async function checkCapture(outDir, expected) {
  const file = path.join(outDir, 'exchanges.jsonl');
  let lines = 0;
  let tail = Buffer.alloc(0);
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) lines += 1;
    tail = Buffer.concat([tail, chunk]).subarray(-256 * 1024);
  }
  let last;
  try {
    last = JSON.parse(tail.toString('utf8').trimEnd().split('\n').at(-1));
  } catch {
    return { lines, expected, exact: false, ok: false, bytes: 0 };
  }
  // Version 2 stores the bytes (base64); version 1 (a BENCH_AB build before raw-first) stored text.
  const body = last.request.body;
  const bytes = typeof body.base64 === 'string' ? Buffer.from(body.base64, 'base64') : body.encoding === 'utf8' ? Buffer.from(body.text, 'utf8') : null;
  const exact = bytes !== null && bytes.equals(last.request.path.startsWith('/sse') ? SSE_BODY : BODY);
  return { lines, expected, exact, ok: lines === expected && exact, bytes: (await stat(file)).size };
}

// ---------------------------------------------------------------- run

const fmt = (v, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : '  -');
const verdict = (ok) => (ok ? 'PASS' : 'MISS');

async function main() {
  const tStart = performance.now();
  const loadAtStart = os.loadavg()[0];
  const work = await mkdtemp(path.join(tmpdir(), 'promptdiff-bench-'));
  const certsDir = path.join(work, 'certs');
  const ca = await ensureCA(certsDir);
  if (PROF) console.log(`CPU profiles of the proxy processes go to ${PROF}`);
  if (AB) console.log(`B = the build in ${AB}`);
  const want = (name) => !ONLY || ONLY.has(name);
  const log = (msg) => process.stderr.write(`bench: ${msg}\n`);

  const up = await start('upstream.mjs', [certsDir]);
  upstreamHandle = up;
  const upstreamUrl = `https://127.0.0.1:${up.port}`;
  const upTarget = `127.0.0.1:${up.port}`;
  const subjects = [];
  const results = {};

  try {
    // Direct: the client talks HTTPS to the upstream itself.
    {
      const mk = (sockets) => route({ name: 'direct', agent: new https.Agent({ keepAlive: true, maxSockets: sockets, ca: ca.certPem }), secure: true, host: '127.0.0.1', port: up.port });
      subjects.push({ key: 'direct', r: mk(SOCKETS), one: mk(1), sse: true });
    }
    // Ours, passthrough, forward route: CONNECT to the upstream's address, TLS terminated by the proxy, forwarded there.
    if (want('ours-pass')) {
      const out = path.join(work, 'out-pass');
      const p = await start('proxy-child.mjs', ['ours', 'passthrough', certsDir, out], { prof: PROF });
      const mk = (sockets) => route({ name: 'ours-pass', agent: new TunnelAgent({ proxyPort: p.port, target: upTarget, ca: p.caPem, sockets }), host: '127.0.0.1', port: up.port });
      subjects.push({ key: 'ours-pass', r: mk(SOCKETS), one: mk(1), sse: true, proxy: p, out, tlsN: TLS_N });
    }
    // Ours, passthrough, reverse route: the client's base URL is the proxy; --upstream-url names the upstream.
    if (want('ours-rev')) {
      const out = path.join(work, 'out-rev');
      const p = await start('proxy-child.mjs', ['ours', 'passthrough', certsDir, out, upstreamUrl], { prof: PROF });
      const mk = (sockets) => route({ name: 'ours-rev', agent: new http.Agent({ keepAlive: true, maxSockets: sockets }), host: '127.0.0.1', port: p.port });
      subjects.push({ key: 'ours-rev', r: mk(SOCKETS), one: mk(1), sse: true, proxy: p, out });
    }
    // Ours, stub upstream (the proxy answers itself), forward route: for reference.
    if (want('ours-stub')) {
      const out = path.join(work, 'out-stub');
      const p = await start('proxy-child.mjs', ['ours', 'stub', certsDir, out], { prof: PROF });
      const target = 'api.anthropic.com:443';
      const mk = (sockets) => route({ name: 'ours-stub', agent: new TunnelAgent({ proxyPort: p.port, target, ca: p.caPem, sockets }), host: 'api.anthropic.com', port: 443 });
      subjects.push({ key: 'ours-stub', r: mk(SOCKETS), one: mk(1), sse: false, proxy: p, out });
    }
    // Another build, for A/B comparisons.
    if (AB) {
      const out = path.join(work, 'out-ab-pass');
      const p = await start('proxy-child.mjs', ['ours', 'passthrough', certsDir, out], { env: { BENCH_DIST: AB } });
      const mk = (sockets) => route({ name: 'ab-pass', agent: new TunnelAgent({ proxyPort: p.port, target: upTarget, ca: p.caPem, sockets }), host: '127.0.0.1', port: up.port });
      subjects.push({ key: 'ab-pass', r: mk(SOCKETS), one: mk(1), sse: true, proxy: p, out });
      const outStub = path.join(work, 'out-ab-stub');
      const ps = await start('proxy-child.mjs', ['ours', 'stub', certsDir, outStub], { env: { BENCH_DIST: AB } });
      const mks = (sockets) => route({ name: 'ab-stub', agent: new TunnelAgent({ proxyPort: ps.port, target: 'api.anthropic.com:443', ca: ps.caPem, sockets }), host: 'api.anthropic.com', port: 443 });
      subjects.push({ key: 'ab-stub', r: mks(SOCKETS), one: mks(1), sse: false, proxy: ps, out: outStub });
    }
    // The floor: a bare Node TLS relay through the same CONNECT tunnel (no HTTP, no capture).
    if (want('relay')) {
      const p = await start('proxy-child.mjs', ['relay', certsDir, ca.certPath]);
      const mk = (sockets) => route({ name: 'relay', agent: new TunnelAgent({ proxyPort: p.port, target: upTarget, ca: p.caPem, sockets }), host: '127.0.0.1', port: up.port });
      subjects.push({ key: 'relay', r: mk(SOCKETS), one: mk(1), sse: false, proxy: p });
    }
    // mitmproxy (Debian's package), when installed: a reference in the same harness.
    if (want('mitmproxy') && hasMitmdump()) {
      const p = await start('proxy-child.mjs', ['mitmproxy', certsDir, ca.certPath, path.join(work, 'mitm-flows')]);
      const mk = (sockets) => route({ name: 'mitmproxy', agent: new TunnelAgent({ proxyPort: p.port, target: upTarget, ca: p.caPem, sockets }), host: '127.0.0.1', port: up.port });
      subjects.push({ key: 'mitmproxy', r: mk(SOCKETS), one: mk(1), sse: true, proxy: p });
    }
    // http-mitm-proxy 1.1.0 as shipped, forward route, same harness.
    if (want('library')) {
      const p = await start('proxy-child.mjs', ['library', path.join(work, 'library-ca'), ca.certPath], { prof: PROF });
      const mk = (sockets) => route({ name: 'library', agent: new TunnelAgent({ proxyPort: p.port, target: upTarget, ca: p.caPem, sockets }), host: '127.0.0.1', port: up.port });
      subjects.push({ key: 'library', r: mk(SOCKETS), one: mk(1), sse: true, proxy: p, tlsN: LIBRARY_TLS_N });
    }
    for (const s of subjects) s.res = results[s.key] = {};

    log(`throughput: ${subjects.map((s) => s.key).join(', ')}`);
    await throughput(subjects);
    log('latency');
    await latency(subjects);
    log('server-sent events');
    await sseFirstEvent(subjects.filter((s) => s.sse));
    log('TLS set-up');
    const tlsSubjects = subjects.filter((s) => s.tlsN);
    const tlsTimes = new Map([['direct', []], ...tlsSubjects.map((s) => [s.key, []])]);
    const tag = Date.now().toString(36);
    for (let i = 0; i <= TLS_N; i++) {
      if (i > 0) tlsTimes.get('direct').push(await tlsDirect(up.port, ca.certPem));
      for (const s of tlsSubjects) if (i <= s.tlsN) tlsTimes.get(s.key).push(await tlsNewHost(s.proxy.port, s.proxy.caPem, `h${i}-${tag}.bench.test`));
    }
    results.direct.tls = stats(tlsTimes.get('direct'));
    for (const s of tlsSubjects) {
      const [first, ...rest] = tlsTimes.get(s.key);
      s.res.tls = { first, ...stats(rest) };
    }

    for (const s of subjects) {
      s.r.agent.destroy();
      s.one.agent.destroy();
      if (!s.proxy) continue;
      const stopped = await stop(s.proxy);
      if (stopped.errorLines) s.res.errorLines = stopped.errorLines;
      if (s.out) {
        s.res.capture = await checkCapture(s.out, s.r.completed + s.one.completed);
        await rm(s.out, { recursive: true, force: true });
      }
    }
  } finally {
    for (const s of subjects) if (s.proxy && s.proxy.child.exitCode === null) s.proxy.child.kill();
    await stop(up);
    await rm(work, { recursive: true, force: true });
  }

  report(results, (performance.now() - tStart) / 1000, loadAtStart);
  // A benchmark, not a test: a missed target is reported above, and the exit code stays 0 so the
  // benchmarks after this one in `npm run bench` still run. Harness failures exit 3.
}

// ---------------------------------------------------------------- output

const LABELS = {
  direct: 'direct (client -> upstream)',
  'ours-pass': 'promptdiff passthrough, CONNECT+TLS',
  'ours-rev': 'promptdiff passthrough, reverse',
  'ours-stub': 'promptdiff stub, CONNECT+TLS',
  library: 'http-mitm-proxy 1.1.0 as shipped',
  relay: 'floor: bare Node TLS relay (no HTTP)',
  mitmproxy: 'mitmproxy (Debian), recording flows',
  'ab-pass': 'B: passthrough, CONNECT+TLS',
  'ab-stub': 'B: stub, CONNECT+TLS',
};

function gates(results) {
  const d = results.direct;
  const o = results['ours-pass'];
  const lib = results.library;
  const out = [];
  if (o) {
    out.push({ name: 'keep-alive throughput, passthrough vs direct', value: `${fmt(o.tput.rps / d.tput.rps)}×`, target: `≥ ${TARGETS.throughput}×`, ok: o.tput.rps / d.tput.rps >= TARGETS.throughput });
    out.push({ name: 'added latency p50 (1 socket, 20 KB POST)', value: `${fmt(o.lat.p50 - d.lat.p50)} ms`, target: `≤ ${TARGETS.addedP50} ms`, ok: o.lat.p50 - d.lat.p50 <= TARGETS.addedP50 });
    out.push({ name: 'SSE first-event delay through proxy p50', value: `${fmt(o.sse.p50)} ms`, target: `≤ ${TARGETS.sseFirst} ms`, ok: o.sse.p50 <= TARGETS.sseFirst });
    out.push({ name: 'TLS set-up, new hostname after the first, p50', value: `${fmt(o.tls.p50)} ms`, target: `≤ ${TARGETS.tlsNewHost} ms`, ok: o.tls.p50 <= TARGETS.tlsNewHost });
    out.push({ name: 'capture: every exchange, exact request bytes', value: `${o.capture.lines} lines, ${o.capture.exact ? 'exact' : 'NOT exact'}`, target: `${o.capture.expected} lines`, ok: o.capture.ok });
    if (lib) out.push({ name: 'throughput vs http-mitm-proxy as shipped', value: `${fmt(o.tput.rps / lib.tput.rps, 1)}×`, target: `≥ ${TARGETS.vsLibrary}×`, ok: o.tput.rps / lib.tput.rps >= TARGETS.vsLibrary });
  }
  for (const k of ['ours-rev', 'ours-stub', 'ab-pass', 'ab-stub']) {
    const r = results[k];
    if (r) out.push({ name: `capture (${k}): every exchange, exact bytes`, value: `${r.capture.lines} lines, ${r.capture.exact ? 'exact' : 'NOT exact'}`, target: `${r.capture.expected} lines`, ok: r.capture.ok });
  }
  return out;
}

function report(results, seconds, loadAtStart) {
  const d = results.direct;
  const pad = (s, n) => String(s).padEnd(n);
  const lpad = (s, n) => String(s).padStart(n);
  console.log('');
  console.log(`promptdiff proxy benchmark — node ${process.version}, ${SOCKETS} keep-alive sockets, ${BODY_BYTES / 1024} KB POST bodies, ${SECONDS} s per throughput phase`);
  console.log(`machine: ${os.cpus().length} CPUs, load average ${fmt(loadAtStart, 1)} at start, ${fmt(os.loadavg()[0], 1)} at end (other work on the machine moves absolute numbers; routes are interleaved so ratios hold better)`);
  console.log('');
  const head = [pad('route', 38), lpad('req/s', 8), lpad('MB/s', 7), lpad('×direct', 8), lpad('p50@8', 8), lpad('p50@1', 8), lpad('p99@1', 8), lpad('+p50', 7), lpad('+p99', 7), lpad('SSE p50', 8), lpad('SSE p99', 8), lpad('TLS p50', 8), lpad('TLS max', 8), lpad('cpu prx', 8), lpad('cpu up', 7), lpad('cpu cli', 8)].join(' ');
  console.log(head);
  console.log('-'.repeat(head.length));
  for (const [k, r] of Object.entries(results)) {
    const isDirect = k === 'direct';
    console.log(
      [
        pad(LABELS[k], 38),
        lpad(fmt(r.tput.rps, 0), 8),
        lpad(fmt(r.tput.mbps, 1), 7),
        lpad(fmt(r.tput.rps / d.tput.rps, 3), 8),
        lpad(fmt(r.tput.loaded.p50), 8),
        lpad(fmt(r.lat.p50), 8),
        lpad(fmt(r.lat.p99), 8),
        lpad(isDirect ? '' : fmt(r.lat.p50 - d.lat.p50), 7),
        lpad(isDirect ? '' : fmt(r.lat.p99 - d.lat.p99), 7),
        lpad(r.sse ? fmt(r.sse.p50) : '', 8),
        lpad(r.sse ? fmt(r.sse.p99) : '', 8),
        lpad(r.tls ? fmt(r.tls.p50) : '', 8),
        lpad(r.tls ? fmt(r.tls.max) : '', 8),
        lpad(isDirect ? '' : fmt(r.tput.cpuUs.proxy, 0), 8),
        lpad(fmt(r.tput.cpuUs.upstream, 0), 7),
        lpad(fmt(r.tput.cpuUs.client, 0), 8),
      ].join(' '),
    );
  }
  console.log('');
  console.log('columns: p50@8 = latency under the 8-socket load; p50@1/p99@1 = one request at a time on one kept-alive connection;');
  console.log('  +p50/+p99 = added over direct; SSE = upstream writes first event -> client receives it; TLS = CONNECT + handshake');
  console.log('  for a fresh hostname after the first (direct: fresh TCP + TLS to the upstream); all times in ms.');
  console.log('  cpu prx/up/cli = CPU µs per request of the proxy, upstream and client processes during the throughput phase.');
  const o = results['ours-pass'];
  const lib = results.library;
  if (o?.tls) console.log(`  first hostname through promptdiff: ${fmt(o.tls.first)} ms${lib?.tls ? `; through http-mitm-proxy: first ${fmt(lib.tls.first)} ms, next p50 ${fmt(lib.tls.p50)} ms` : ''}`);
  console.log('');
  console.log('ratios:');
  for (const k of ['ours-pass', 'ours-rev', 'ours-stub', 'ab-pass', 'ab-stub', 'relay', 'mitmproxy', 'library']) {
    const r = results[k];
    if (!r) continue;
    let line = `  ${pad(LABELS[k], 38)} ${fmt(r.tput.rps / d.tput.rps, 3)}× direct throughput`;
    if (lib && k !== 'library') line += `, ${fmt(r.tput.rps / lib.tput.rps, 1)}× http-mitm-proxy as shipped`;
    const mitm = results.mitmproxy;
    if (mitm && k !== 'mitmproxy' && k !== 'library') line += `, ${fmt(r.tput.rps / mitm.tput.rps, 1)}× mitmproxy`;
    line += `, +${fmt(r.lat.p50 - d.lat.p50)} ms p50`;
    console.log(line);
  }
  if (results['ab-pass'] && o) {
    // The same harness, the same moment: what this build adds over B (e.g. writing each record
    // before the end of its response goes out) is the difference of the two, not either alone.
    const dp = o.lat.p50 - results['ab-pass'].lat.p50;
    const st = results['ours-stub'];
    const ds = st && results['ab-stub'] ? st.lat.p50 - results['ab-stub'].lat.p50 : NaN;
    console.log(`  A over B, p50@1: passthrough ${dp >= 0 ? '+' : ''}${fmt(dp)} ms, stub ${ds >= 0 ? '+' : ''}${fmt(ds)} ms; proxy CPU µs/request: passthrough ${fmt(o.tput.cpuUs.proxy, 0)} vs ${fmt(results['ab-pass'].tput.cpuUs.proxy, 0)}${st && results['ab-stub'] ? `, stub ${fmt(st.tput.cpuUs.proxy, 0)} vs ${fmt(results['ab-stub'].tput.cpuUs.proxy, 0)}` : ''}`);
  }
  console.log('');
  console.log('targets:');
  for (const g of gates(results)) console.log(`  ${verdict(g.ok)}  ${pad(g.name, 48)} ${pad(g.value, 24)} target ${g.target}`);
  console.log('');
  const missed = gates(results).filter((g) => !g.ok).length;
  console.log(`${missed ? `${missed} target(s) missed` : 'all targets met'}; total bench time ${fmt(seconds, 1)} s`);
}

main().catch((err) => {
  console.error(err);
  process.exit(3);
});
