import { generateKeyPairSync, randomBytes, sign as nodeSign, createPrivateKey } from 'node:crypto';
import { statSync } from 'node:fs';
import { readFile, writeFile, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import tls from 'node:tls';
import forge from 'node-forge';
import { mkdirPrivate, secureCaDir } from './permissions.js';
import { writeAtomic } from '../artifact.js';

export { CaDirError } from './permissions.js';

const { pki, asn1 } = forge;

/**
 * Wide validity windows on purpose: scenario runs pin the agent's clock to other dates, and a
 * certificate that is "not yet valid" for a pinned clock makes agents retry silently. 2049 keeps
 * the dates in UTCTime, which every X.509 parser accepts.
 */
const NOT_BEFORE = new Date(Date.UTC(2000, 0, 1));
const NOT_AFTER = new Date(Date.UTC(2049, 11, 31, 23, 59, 59));

const CA_SUBJECT = [
  { name: 'commonName', value: 'promptdiff interception CA' },
  { name: 'organizationName', value: 'promptdiff (local, not trusted by default)' },
];

/** Paths inside a certs directory; the layout is http-mitm-proxy's so the library loads our CA instead of minting one. */
export function caPaths(certsDir: string) {
  return {
    certsDir,
    certPath: path.join(certsDir, 'certs', 'ca.pem'),
    keyPath: path.join(certsDir, 'keys', 'ca.private.key'),
    publicKeyPath: path.join(certsDir, 'keys', 'ca.public.key'),
    leafKeyPath: path.join(certsDir, 'keys', 'leaf.private.key'),
  };
}

/** Where the CA directory came from, for `ca path` and the proxy banner. */
export type CertsDirSource = '--certs' | 'PROMPTDIFF_CERTS_DIR' | 'package' | 'user';

/** The per-user default, like mitmproxy's ~/.mitmproxy: $XDG_DATA_HOME/promptdiff/certs. */
export function userCertsDir(): string {
  const xdg = process.env.XDG_DATA_HOME;
  const data = xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.local', 'share');
  return path.join(data, 'promptdiff', 'certs');
}

/** certs/ at the top of the package (a checkout, or an install from before the per-user default). */
export function packageCertsDir(): string {
  // src/ca/index.ts and dist/ca/index.js both sit two levels below the package root.
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'certs');
}

/**
 * Which CA directory to use when none is given: $PROMPTDIFF_CERTS_DIR; else the package's certs/
 * if it already holds a CA of this user's (a checkout that made one before keeps it, so clients
 * told to trust it keep working); else the per-user directory. A fresh install never writes keys
 * into the package folder, which other users share and an upgrade replaces.
 */
export function resolveCertsDir(given?: string, packaged: string = packageCertsDir()): { dir: string; source: CertsDirSource } {
  if (given) return { dir: path.resolve(given), source: '--certs' };
  if (process.env.PROMPTDIFF_CERTS_DIR) return { dir: path.resolve(process.env.PROMPTDIFF_CERTS_DIR), source: 'PROMPTDIFF_CERTS_DIR' };
  try {
    const info = statSync(caPaths(packaged).certPath);
    if (info.uid === process.getuid?.() || process.getuid === undefined) return { dir: packaged, source: 'package' };
  } catch {
    // No CA there: the per-user directory.
  }
  return { dir: userCertsDir(), source: 'user' };
}

export function defaultCertsDir(): string {
  return resolveCertsDir().dir;
}

/** "…/certs (per-user default)": where the CA is and why, in one phrase. */
export function describeCertsDir(given?: string): string {
  const { dir, source } = resolveCertsDir(given);
  const why = { '--certs': 'from --certs', PROMPTDIFF_CERTS_DIR: 'from $PROMPTDIFF_CERTS_DIR', package: "the package's certs/, which already held a CA", user: 'the per-user default' }[source];
  return `${dir} (${why})`;
}

export interface CertificateAuthority {
  certsDir: string;
  certPath: string;
  certPem: string;
  /** Kept in memory only; never logged, never written outside certsDir. */
  readonly keyPem: string;
  /** The one key pair every leaf certificate shares. */
  readonly leafKeyPem: string;
  created: boolean;
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

function newRsaKeyPem(): string {
  // Node's native generator: ~50 ms, against seconds for node-forge's pure-JS one.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
}

function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f; // positive INTEGER
  return bytes.toString('hex');
}

/** Signs with Node's native RSA (sub-millisecond) instead of node-forge's JavaScript bignums. */
function signCertificate(cert: forge.pki.Certificate, signerKeyPem: string): void {
  cert.siginfo.algorithmOid = pki.oids.sha256WithRSAEncryption!;
  cert.signatureOid = pki.oids.sha256WithRSAEncryption!;
  // getTBSCertificate exists in node-forge but is missing from its typings.
  const getTbs = (pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate;
  const tbs = asn1.toDer(getTbs(cert)).getBytes();
  const signature = nodeSign('sha256', Buffer.from(tbs, 'binary'), createPrivateKey(signerKeyPem));
  cert.signature = signature.toString('binary');
}

async function writePrivate(file: string, content: string): Promise<void> {
  // 0600 from the first byte, then renamed into place: no window where the key is readable.
  await writeAtomic(file, content, { mode: 0o600 });
}

async function createCA(certsDir: string): Promise<void> {
  const p = caPaths(certsDir);
  // Every directory 0700 whatever the umask: under umask 000 certs/ came out 0777 and another
  // local user could swap ca.pem.
  await mkdirPrivate(certsDir);
  await mkdirPrivate(path.dirname(p.certPath));
  await mkdirPrivate(path.dirname(p.keyPath));

  const keyPem = newRsaKeyPem();
  const privateKey = pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  const publicKey = pki.setRsaPublicKey(privateKey.n, privateKey.e);
  const cert = pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = randomSerial();
  cert.validity.notBefore = NOT_BEFORE;
  cert.validity.notAfter = NOT_AFTER;
  cert.setSubject(CA_SUBJECT);
  cert.setIssuer(CA_SUBJECT);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  signCertificate(cert, keyPem);

  await writePrivate(p.keyPath, keyPem);
  await writePrivate(p.leafKeyPath, newRsaKeyPem());
  await writeFile(p.publicKeyPath, pki.publicKeyToPem(publicKey), { mode: 0o644 });
  // The certificate last: its presence is what marks the CA as complete.
  await writeFile(p.certPath, pki.certificateToPem(cert), { mode: 0o644 });
}

/** Loads the CA from certsDir, creating it on first use. */
export async function ensureCA(certsDir: string = defaultCertsDir()): Promise<CertificateAuthority> {
  const p = caPaths(path.resolve(certsDir));
  let created = false;
  // Refuse a directory others could have written to before a byte of it is trusted; tighten read bits.
  await secureCaDir(p);
  if (!(await exists(p.certPath))) {
    await createCA(p.certsDir);
    created = true;
  }
  if (!(await exists(p.leafKeyPath))) await writePrivate(p.leafKeyPath, newRsaKeyPem());
  await secureCaDir(p);
  const [certPem, keyPem, leafKeyPem] = await Promise.all([
    readFile(p.certPath, 'utf8'),
    readFile(p.keyPath, 'utf8'),
    readFile(p.leafKeyPath, 'utf8'),
  ]);
  const ca: CertificateAuthority = { certsDir: p.certsDir, certPath: p.certPath, certPem, keyPem, leafKeyPem, created };
  // Keep the key material out of JSON.stringify / util.inspect (and so out of any log line).
  Object.defineProperty(ca, 'keyPem', { value: keyPem, enumerable: false });
  Object.defineProperty(ca, 'leafKeyPem', { value: leafKeyPem, enumerable: false });
  return ca;
}

/** Issues (and caches) leaf certificates for any hostname or IP, all sharing one key pair. */
export class LeafIssuer {
  private readonly caCert: forge.pki.Certificate;
  private readonly leafPublicKey: forge.pki.rsa.PublicKey;
  private readonly pemCache = new Map<string, string>();
  private readonly contextCache = new Map<string, tls.SecureContext>();

  constructor(private readonly ca: CertificateAuthority) {
    this.caCert = pki.certificateFromPem(ca.certPem);
    const leafKey = pki.privateKeyFromPem(ca.leafKeyPem) as forge.pki.rsa.PrivateKey;
    this.leafPublicKey = pki.setRsaPublicKey(leafKey.n, leafKey.e);
  }

  certificatePem(name: string): string {
    const host = normaliseName(name);
    let pem = this.pemCache.get(host);
    if (!pem) {
      pem = this.issue(host);
      this.pemCache.set(host, pem);
    }
    return pem;
  }

  secureContext(name: string): tls.SecureContext {
    const host = normaliseName(name);
    let context = this.contextCache.get(host);
    if (!context) {
      context = tls.createSecureContext({
        key: this.ca.leafKeyPem,
        cert: this.certificatePem(host) + this.ca.certPem,
        ALPNProtocols: ['http/1.1'],
      } as tls.SecureContextOptions);
      this.contextCache.set(host, context);
    }
    return context;
  }

  get cachedCount(): number {
    return this.pemCache.size;
  }

  private issue(host: string): string {
    const cert = pki.createCertificate();
    cert.publicKey = this.leafPublicKey;
    cert.serialNumber = randomSerial();
    cert.validity.notBefore = NOT_BEFORE;
    cert.validity.notAfter = NOT_AFTER;
    // CN is limited to 64 characters; the SAN carries the full name and is what clients check.
    cert.setSubject([{ name: 'commonName', value: host.slice(0, 64) }]);
    cert.setIssuer(this.caCert.subject.attributes);
    const altName = isIP(host) ? { type: 7, ip: host } : { type: 2, value: host };
    cert.setExtensions([
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [altName] },
      { name: 'subjectKeyIdentifier' },
      {
        name: 'authorityKeyIdentifier',
        keyIdentifier: this.caCert.generateSubjectKeyIdentifier().getBytes(),
      },
    ]);
    signCertificate(cert, this.ca.keyPem);
    return pki.certificateToPem(cert);
  }
}

function normaliseName(name: string): string {
  // IPv6 literals arrive bracketed from CONNECT targets; hostnames are case-insensitive.
  return name.replace(/^\[(.*)\]$/, '$1').toLowerCase();
}
