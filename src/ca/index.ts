import { generateKeyPairSync, randomBytes, sign as nodeSign, createPrivateKey } from 'node:crypto';
import { mkdir, readFile, writeFile, chmod, stat, rename } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import tls from 'node:tls';
import forge from 'node-forge';

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

export function defaultCertsDir(): string {
  if (process.env.PROMPTDIFF_CERTS_DIR) return path.resolve(process.env.PROMPTDIFF_CERTS_DIR);
  // src/ca/index.ts and dist/ca/index.js both sit two levels below the package root.
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.resolve(here, '..', '..', 'certs');
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
  // Write under a temporary name with 0600 from the first byte, then rename: no window where the key is readable.
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, content, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}

async function createCA(certsDir: string): Promise<void> {
  const p = caPaths(certsDir);
  await mkdir(path.dirname(p.certPath), { recursive: true });
  await mkdir(path.dirname(p.keyPath), { recursive: true, mode: 0o700 });
  await chmod(path.dirname(p.keyPath), 0o700);

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
  if (!(await exists(p.certPath))) {
    await createCA(p.certsDir);
    created = true;
  }
  if (!(await exists(p.leafKeyPath))) await writePrivate(p.leafKeyPath, newRsaKeyPem());
  const keyMode = (await stat(p.keyPath)).mode & 0o777;
  if (keyMode & 0o077) {
    // Someone loosened it (a copy, an unpack): tighten rather than refuse, the key is ours.
    await chmod(p.keyPath, 0o600);
  }
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
