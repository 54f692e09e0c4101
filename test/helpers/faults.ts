import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { Duplex } from 'node:stream';
import { ensureCA, LeafIssuer } from '../../src/ca/index.js';
import { CLI, own } from './cli.js';
import { connectTunnel } from './clients.js';

/*
 * What the proxy fault tests share: the proxy as a user runs it (the built CLI, a process of its
 * own, so a crash is an exit and its peak RSS is its own), clients that stream large bodies, and
 * the figures each test prints.
 */

export interface CliProxy {
  port: number;
  pid: number;
  out: string;
  certsDir: string;
  caPem: string;
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  alive(): boolean;
  /** Peak resident memory of the proxy process so far (or until it stopped), in MB (VmHWM). */
  peakRssMb(): number;
  /** SIGTERM and wait; resolves with the exit code. */
  stop(): Promise<number | null>;
  kill9(): Promise<void>;
}

export async function tempDir(what: string, cleanup: string[]): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), `pd-fault-${what}-`));
  cleanup.push(d);
  return d;
}

export async function removeAll(dirs: string[]): Promise<void> {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
}

/** A test CA and a stand-in API over HTTPS on 127.0.0.1, its certificate a leaf of that CA. */
export interface StandInApi {
  certsDir: string;
  caPath: string;
  caPem: string;
  server: https.Server;
  port: number;
  /** Closes the server and its connections. */
  close(): void;
}

export async function standInApi(dirs: string[], handler: http.RequestListener, o: { backlog?: number } = {}): Promise<StandInApi> {
  const certsDir = await tempDir('certs', dirs);
  const ca = await ensureCA(certsDir);
  const server = https.createServer({ key: ca.leafKeyPem, cert: new LeafIssuer(ca).certificatePem('127.0.0.1') }, handler);
  if (o.backlog) server.maxConnections = o.backlog;
  await new Promise<void>((r) => server.listen({ port: 0, host: '127.0.0.1', ...(o.backlog ? { backlog: o.backlog } : {}) }, r));
  return {
    certsDir,
    caPath: ca.certPath,
    caPem: ca.certPem,
    server,
    port: (server.address() as net.AddressInfo).port,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

export async function startCliProxy(o: { out: string; certsDir: string; args?: string[]; port?: number }): Promise<CliProxy> {
  const child = own(
    spawn(process.execPath, [CLI, 'proxy', '--port', String(o.port ?? 0), '--out', o.out, '--certs', o.certsDir, ...(o.args ?? [])], {
      env: { ...process.env, PROMPTDIFF_LOG_LEVEL: process.env.PROMPTDIFF_LOG_LEVEL ?? 'error' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`proxy did not start: ${stderr}`)), 20_000);
    const look = () => {
      const m = /promptdiff proxy on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', look);
    void exited.then((code) => reject(new Error(`proxy exited with ${code} before listening: ${stderr}`)));
  });
  const caPem = readFileSync(path.join(o.certsDir, 'certs', 'ca.pem'), 'utf8');
  let peak = 0;
  const alive = () => child.exitCode === null && child.signalCode === null;
  const peakRssMb = () => {
    if (alive()) {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peak = Math.max(peak, Number(m[1]) / 1024);
      } catch {
        // gone
      }
    }
    return Math.round(peak);
  };
  return {
    port,
    pid: child.pid!,
    out: o.out,
    certsDir: o.certsDir,
    caPem,
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    alive,
    peakRssMb,
    async stop() {
      peakRssMb();
      if (alive()) child.kill('SIGTERM');
      return exited;
    },
    async kill9() {
      peakRssMb();
      if (alive()) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A body to send: chunks, or one chunk repeated (so that 600 MB need not be in memory). */
export type BodySpec = Buffer | { repeat: Buffer; times: number };

export function bodyLength(b: BodySpec): number {
  return Buffer.isBuffer(b) ? b.length : b.repeat.length * b.times;
}

export function sha256(...parts: Buffer[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

export function bodySha256(b: BodySpec): string {
  if (Buffer.isBuffer(b)) return sha256(b);
  const h = createHash('sha256');
  for (let i = 0; i < b.times; i++) h.update(b.repeat);
  return h.digest('hex');
}

export interface Received {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Every byte of the body as it arrived (no decoding). */
  size: number;
  sha256: string;
  /** The body when it is small (≤ 1 MB), for assertions. */
  body: Buffer | null;
}

export interface SendOptions {
  method?: string;
  path: string;
  headers?: Record<string, string | number>;
  body?: BodySpec;
  /** forward: CONNECT to `target` and TLS inside (CA `ca`); reverse: plain HTTP to the proxy. */
  route: { kind: 'reverse' } | { kind: 'forward'; target: string; ca: string };
  timeoutMs?: number;
}

/** One request through the proxy; resolves once the whole response has been read. */
export async function send(proxyPort: number, o: SendOptions): Promise<Received> {
  const body = o.body ?? Buffer.alloc(0);
  let createConnection: (() => net.Socket) | undefined;
  if (o.route.kind === 'forward') {
    const socket = await connectTunnel(proxyPort, o.route.target);
    const servername = o.route.target.replace(/:\d+$/, '');
    const t = tls.connect({ socket, host: servername, servername: net.isIP(servername) ? undefined : servername, ca: o.route.ca });
    createConnection = () => t;
  }
  return new Promise<Received>((resolve, reject) => {
    const req = http.request(
      {
        ...(createConnection ? { createConnection } : { host: '127.0.0.1', port: proxyPort, agent: false }),
        method: o.method ?? 'POST',
        path: o.path,
        headers: { host: o.route.kind === 'forward' ? o.route.target : `127.0.0.1:${proxyPort}`, 'content-length': bodyLength(body), ...o.headers },
      },
      (res) => {
        const h = createHash('sha256');
        const small: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          h.update(c);
          size += c.length;
          if (size <= 1 << 20) small.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, size, sha256: h.digest('hex'), body: size <= 1 << 20 ? Buffer.concat(small) : null }));
        res.on('error', reject);
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`no complete response to ${o.path} in ${o.timeoutMs ?? 30_000} ms`)), o.timeoutMs ?? 30_000);
    req.on('close', () => clearTimeout(timer));
    req.on('error', reject);
    if (Buffer.isBuffer(body)) {
      req.end(body);
      return;
    }
    let i = 0;
    const pump = () => {
      while (i < body.times) {
        i += 1;
        if (!req.write(body.repeat)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

/** The figure line every fault test prints. */
export function figure(name: string, f: Record<string, string | number>): void {
  process.stdout.write(`[fault] ${name}: ${Object.entries(f).map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
}

/** Keep-alive connections that are CONNECT tunnels through the proxy, TLS to `target` inside: how HTTPS_PROXY clients connect. */
export class TunnelAgent extends http.Agent {
  constructor(
    private readonly proxyPort: number,
    private readonly target: string,
    private readonly ca: string,
    sockets: number,
  ) {
    super({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  }

  override createConnection(_options: http.ClientRequestArgs, cb?: (err: Error | null, stream: Duplex) => void): undefined {
    connectTunnel(this.proxyPort, this.target).then(
      (socket) => {
        const servername = this.target.replace(/:\d+$/, '');
        const t = tls.connect({ socket, host: servername, servername: net.isIP(servername) ? undefined : servername, ca: this.ca });
        t.once('secureConnect', () => cb?.(null, t));
        t.once('error', (err) => cb?.(err, t));
      },
      (err: Error) => cb?.(err, new Duplex()),
    );
    return undefined;
  }
}
