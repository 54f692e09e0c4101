import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface SimpleResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Milliseconds from request start to the first body chunk. */
  firstChunkMs: number;
}

export function tmp(prefix: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `pd-${prefix}-`));
}

function collect(res: http.IncomingMessage, t0: number): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let firstChunkMs = -1;
    res.on('data', (c: Buffer) => {
      if (firstChunkMs < 0) firstChunkMs = performance.now() - t0;
      chunks.push(c);
    });
    res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), firstChunkMs }));
    res.on('error', reject);
  });
}

/** Opens a CONNECT tunnel through the proxy and returns the raw socket. */
export function connectTunnel(proxyPort: number, target: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxyPort, method: 'CONNECT', path: target, headers: { host: target } });
    req.on('connect', (res, socket) => {
      if (res.statusCode !== 200) reject(new Error(`CONNECT answered ${res.statusCode}`));
      else resolve(socket);
    });
    req.on('error', reject);
    req.end();
  });
}

export interface ForwardOptions {
  proxyPort: number;
  /** hostname[:port] the client believes it talks to */
  target: string;
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  ca: string;
}

/** HTTPS through the proxy the way HTTPS_PROXY clients do it: CONNECT, then TLS to the target name. */
export async function forwardRequest(o: ForwardOptions): Promise<SimpleResponse> {
  const t0 = performance.now();
  const socket = await connectTunnel(o.proxyPort, o.target);
  const servername = o.target.split(':')[0]!;
  const tlsSocket = tls.connect({ socket, host: servername, servername: net.isIP(servername) ? undefined : servername, ca: o.ca });
  return new Promise((resolve, reject) => {
    // Plain http.request over the already-encrypted socket: no agent, no DNS, exactly one connection.
    const req = http.request(
      {
        method: o.method ?? 'POST',
        path: o.path,
        headers: { host: o.target, ...o.headers },
        createConnection: () => tlsSocket,
      },
      (res) => collect(res, t0).then(resolve, reject),
    );
    req.on('error', reject);
    req.end(o.body);
  });
}

/** Plain HTTP to the proxy as a base URL (reverse route). */
export function reverseRequest(port: number, opts: { method?: string; path: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<SimpleResponse> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: opts.method ?? 'POST', path: opts.path, headers: opts.headers, agent: false }, (res) =>
      collect(res, t0).then(resolve, reject),
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}
