import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtemp, stat, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { ensureCA, LeafIssuer, type CertificateAuthority } from '../src/ca/index.js';
import { inspect } from 'node:util';

let ca: CertificateAuthority;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pd-ca-'));
  ca = await ensureCA(dir);
});

async function handshake(issuer: LeafIssuer, servername: string | undefined, host: string) {
  const server = tls.createServer({
    SNICallback: (name, cb) => cb(null, issuer.secureContext(name)),
    ...{ key: ca.leafKeyPem, cert: issuer.certificatePem(host) },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    return await new Promise<tls.PeerCertificate>((resolve, reject) => {
      const socket = tls.connect({ port, host: '127.0.0.1', servername, ca: ca.certPem, checkServerIdentity: (h, cert) => tls.checkServerIdentity(host, cert) }, () => {
        const cert = socket.getPeerCertificate();
        socket.end();
        resolve(cert);
      });
      socket.on('error', reject);
    });
  } finally {
    server.close();
  }
}

describe('CA', () => {
  it('creates the key with mode 0600 and reuses the CA on the next call', async () => {
    expect(ca.created).toBe(true);
    const keyStat = await stat(path.join(dir, 'keys', 'ca.private.key'));
    expect(keyStat.mode & 0o777).toBe(0o600);
    const leafStat = await stat(path.join(dir, 'keys', 'leaf.private.key'));
    expect(leafStat.mode & 0o777).toBe(0o600);
    const again = await ensureCA(dir);
    expect(again.created).toBe(false);
    expect(again.certPem).toBe(ca.certPem);
  });

  it('never shows key material when inspected or serialised', () => {
    const shown = inspect(ca) + JSON.stringify(ca);
    expect(shown).not.toContain('PRIVATE KEY');
    expect(ca.keyPem).toContain('PRIVATE KEY');
  });

  it('is a CA valid for pinned clocks years away', async () => {
    const x = new X509Certificate(await readFile(ca.certPath));
    expect(x.ca).toBe(true);
    expect(new Date(x.validFrom).getUTCFullYear()).toBeLessThanOrEqual(2000);
    expect(new Date(x.validTo).getUTCFullYear()).toBeGreaterThanOrEqual(2049);
  });
});

describe('LeafIssuer', () => {
  it('issues leaves that a client trusting only the CA accepts, for hostnames and IPs', async () => {
    const issuer = new LeafIssuer(ca);
    const cert = await handshake(issuer, 'llm-gateway.example.cn', 'llm-gateway.example.cn');
    expect(cert.subjectaltname).toBe('DNS:llm-gateway.example.cn');
    const ipCert = await handshake(issuer, undefined, '127.0.0.1');
    expect(ipCert.subjectaltname).toContain('IP Address:127.0.0.1');
  });

  it('shares one key pair and caches certificates per host', () => {
    const issuer = new LeafIssuer(ca);
    const a = new X509Certificate(issuer.certificatePem('a.example'));
    const b = new X509Certificate(issuer.certificatePem('B.example'));
    expect(a.publicKey.export({ type: 'spki', format: 'pem' })).toEqual(b.publicKey.export({ type: 'spki', format: 'pem' }));
    expect(issuer.certificatePem('A.EXAMPLE')).toBe(issuer.certificatePem('a.example'));
    expect(issuer.cachedCount).toBe(2);
    expect(a.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
    expect(a.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
  });

  it('rejects a leaf for another name (hostname check still applies)', async () => {
    const issuer = new LeafIssuer(ca);
    await expect(handshake(issuer, 'other.example', 'api.anthropic.com')).rejects.toThrow(/altnames|Hostname/i);
  });
});
