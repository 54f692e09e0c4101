import https from 'node:https';
import type net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensureCA, LeafIssuer } from '../../src/ca/index.js';
import { detectDialect, unknownStub, type StubReply } from '../../src/dialects/index.js';
import { DEFAULT_STUB_TEXT } from '../../src/proxy/server.js';

/**
 * A local HTTPS server on 127.0.0.1 that answers like promptdiff's stub, with a CA of its own: a
 * stand-in for the real API, so passthrough can be tested with real agents and no network.
 */
export interface HttpsUpstream {
  port: number;
  /** The CA that signed its certificate (what the proxy's --upstream-ca takes). */
  caPath: string;
  /** Requests it answered, as "METHOD path". */
  seen: string[];
  close(): Promise<void>;
}

export async function startHttpsUpstream(): Promise<HttpsUpstream> {
  const dir = await mkdtemp(path.join(tmpdir(), 'pd-https-upstream-'));
  const ca = await ensureCA(dir);
  const seen: string[] = [];
  const server = https.createServer({ key: ca.leafKeyPem, cert: new LeafIssuer(ca).certificatePem('127.0.0.1') }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push(`${req.method} ${req.url}`);
      const head = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers };
      let json: unknown = null;
      try {
        json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        // not JSON: the dialect's stub copes
      }
      const dialect = detectDialect(head);
      const reply: StubReply = dialect ? dialect.stub(head, json, { text: DEFAULT_STUB_TEXT }) : unknownStub(head);
      const body = reply.chunks.join('');
      const streaming = reply.chunks.length > 1;
      res.writeHead(reply.status, streaming ? reply.headers : { ...reply.headers, 'content-length': String(Buffer.byteLength(body)) });
      if (req.method === 'HEAD') res.end();
      else if (!streaming) res.end(body);
      else {
        for (const c of reply.chunks) res.write(c);
        res.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    caPath: ca.certPath,
    seen,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
