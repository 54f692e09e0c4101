import { stat } from 'node:fs/promises';
import path from 'node:path';
import { ensureCA, defaultCertsDir, describeCertsDir } from '../ca/index.js';
import { readExchanges, readStored } from '../capture/store.js';
import { viewOf } from '../capture/view.js';
import { toHar } from '../capture/har.js';
import { startProxy, ListenError, type Limits, type UpstreamMode } from '../proxy/server.js';
import { clientEnv, formatExports, SHELLS } from '../proxy/client-env.js';
import { FlowLines, flowLineWriter } from '../proxy/flow-lines.js';
import { UsageError, commaList, parse, intOption, oneOf, toolVersion } from '../cli-support.js';
import { log } from '../log.js';

const PROXY_HELP = `Usage: promptdiff proxy --out DIR [options]

  --port P              port to listen on (default 8080; 0 picks a free one)
  --host ADDR           address to bind (default 127.0.0.1)
  --out DIR             where exchanges.jsonl is written (required)
  --upstream MODE       stub (default: answer locally, offline) | passthrough (forward to the real host)
  --upstream-url URL    passthrough: send every request here instead of the host the client asked for
  --upstream-ca FILE    passthrough: also trust this CA (PEM) for the upstream
  --passthrough-only H  passthrough: forward only to these hosts (HOST or HOST:PORT, comma-separated);
                        requests for any other host are answered 502 and recorded, and never sent
  --stub-text TEXT      the assistant text of stub replies
  --keep-secrets        store API keys, auth headers, cookies and JSON body fields named like a key,
                        token, secret or password as sent (default: redacted; body values become
                        a keyed hash, so equal values still compare equal)
  --body-limit MB       the most of one body a record keeps (default 32); past it the record keeps
                        the first bytes, the size and a SHA-256, and says truncated; bytes are relayed whole
  --allow-remote        accept clients from non-loopback addresses
  --quiet               no line per exchange on stderr
  --max-connections N   client connections open at once; more are refused (default 1024 or what the
                        open-files limit allows)
  --idle-timeout S      close a connection with no byte either way for S seconds and no request
                        waiting for its answer (default 300)
  --header-timeout S    answer 408 to a request whose headers take longer (default 60)
  --body-timeout S      answer 408 to a request not complete after S seconds (default 300)
  --certs DIR           CA directory (default $PROMPTDIFF_CERTS_DIR, else ${defaultCertsDir()})

Runs until SIGINT/SIGTERM. Both routes work on the same port:
  forward  HTTPS_PROXY=http://127.0.0.1:P + trust the CA (any hostname, no DNS needed in stub mode)
  reverse  base URL http://127.0.0.1:P (e.g. ANTHROPIC_BASE_URL)
HTTP/1.1 only (clients negotiate it through ALPN).
Each exchange prints one line on stderr as it completes (unless --quiet):
  time route method host+path dialect model status request>response sizes [truncated] [system changed] [! error]
`;

export async function cmdCa(args: string[]): Promise<number> {
  const { values, positionals } = parse('ca', args, { certs: { type: 'string' }, help: { type: 'boolean' } });
  const sub = positionals[0];
  if (values.help || !sub) {
    process.stdout.write(
      'Usage: promptdiff ca init|path [--certs DIR]\n  init creates the CA if missing; path prints its certificate (stdout) and its directory (stderr)\n' +
        '  directory: --certs DIR, else $PROMPTDIFF_CERTS_DIR, else the package\'s certs/ if it already holds your CA, else $XDG_DATA_HOME/promptdiff/certs (~/.local/share/promptdiff/certs)\n',
    );
    return values.help ? 0 : 2;
  }
  const certsDir = values.certs ? path.resolve(values.certs) : defaultCertsDir();
  if (sub === 'init') {
    const ca = await ensureCA(certsDir);
    process.stdout.write(`${ca.created ? 'created' : 'already present'}: ${ca.certPath}\n`);
    process.stdout.write(`CA directory: ${describeCertsDir(values.certs)}\n`);
    process.stdout.write(`Trust it in a client with NODE_EXTRA_CA_CERTS=${ca.certPath} (Node), SSL_CERT_FILE (OpenSSL, Rust, Go), REQUESTS_CA_BUNDLE (Python).\n`);
    return 0;
  }
  if (sub === 'path') {
    // Creating on first use keeps "ca path" usable in scripts: the path it prints always exists.
    const ca = await ensureCA(certsDir);
    process.stdout.write(`${ca.certPath}\n`);
    // stdout stays the one path scripts read; where it came from goes beside it.
    process.stderr.write(`CA directory: ${describeCertsDir(values.certs)}\n`);
    return 0;
  }
  throw new UsageError(`promptdiff ca: unknown subcommand "${sub}" (init or path)`);
}

export async function cmdProxy(args: string[]): Promise<number> {
  const { values } = parse(
    'proxy',
    args,
    {
      port: { type: 'string' },
      host: { type: 'string' },
      out: { type: 'string' },
      upstream: { type: 'string' },
      'upstream-url': { type: 'string' },
      'upstream-ca': { type: 'string' },
      'passthrough-only': { type: 'string' },
      'stub-text': { type: 'string' },
      'keep-secrets': { type: 'boolean' },
      'body-limit': { type: 'string' },
      'allow-remote': { type: 'boolean' },
      quiet: { type: 'boolean' },
      'max-connections': { type: 'string' },
      'idle-timeout': { type: 'string' },
      'header-timeout': { type: 'string' },
      'body-timeout': { type: 'string' },
      certs: { type: 'string' },
      help: { type: 'boolean' },
    },
    false,
  );
  if (values.help) {
    process.stdout.write(PROXY_HELP);
    return 0;
  }
  if (!values.out) throw new UsageError('promptdiff proxy: --out DIR is required (where exchanges.jsonl goes)');
  const upstream = oneOf<UpstreamMode>('upstream', values.upstream, ['stub', 'passthrough'], 'stub');
  if (values['upstream-url']) {
    try {
      new URL(values['upstream-url']);
    } catch {
      throw new UsageError(`--upstream-url: not a URL: "${values['upstream-url']}"`);
    }
    if (upstream !== 'passthrough') throw new UsageError('--upstream-url only makes sense with --upstream passthrough');
  }
  if (values['upstream-ca']) await stat(values['upstream-ca']).catch(() => {
    throw new UsageError(`--upstream-ca: no such file: ${values['upstream-ca']}`);
  });
  let passthroughOnly: string[] | undefined;
  if (values['passthrough-only'] !== undefined) {
    if (upstream !== 'passthrough') throw new UsageError('--passthrough-only only makes sense with --upstream passthrough');
    passthroughOnly = commaList(values['passthrough-only']);
    const bad = passthroughOnly.find((h) => !/^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+)(:\d{1,5})?$/.test(h));
    if (bad !== undefined || passthroughOnly.length === 0) throw new UsageError(`--passthrough-only: expected HOST or HOST:PORT, comma-separated${bad !== undefined ? ` (got "${bad}")` : ''}`);
  }
  const host = values.host ?? '127.0.0.1';
  if (!['127.0.0.1', '::1', 'localhost'].includes(host) && !values['allow-remote']) {
    log.warn({ host }, 'binding beyond loopback, but non-loopback clients are refused unless --allow-remote');
  }
  const limits: Partial<Limits> = {};
  const seconds = (name: string) => (values[name as 'idle-timeout'] === undefined ? undefined : intOption(name, values[name as 'idle-timeout'], 0, 1, 86_400) * 1000);
  if (values['max-connections'] !== undefined) limits.maxConnections = intOption('max-connections', values['max-connections'], 1024, 1, 1_000_000);
  const idle = seconds('idle-timeout');
  const header = seconds('header-timeout');
  const body = seconds('body-timeout');
  if (idle !== undefined) limits.idleTimeoutMs = idle;
  if (header !== undefined) limits.headerTimeoutMs = header;
  if (body !== undefined) limits.bodyTimeoutMs = body;
  const proxy = await startProxy({
    host,
    port: intOption('port', values.port, 8080),
    outDir: path.resolve(values.out),
    upstream,
    upstreamUrl: values['upstream-url'],
    upstreamCa: values['upstream-ca'],
    passthroughOnly,
    keepSecrets: values['keep-secrets'] ?? false,
    ...(values['body-limit'] !== undefined ? { bodyLimit: intOption('body-limit', values['body-limit'], 32, 1, 4096) * 1024 * 1024 } : {}),
    allowRemote: values['allow-remote'] ?? false,
    certsDir: values.certs ? path.resolve(values.certs) : undefined,
    stubText: values['stub-text'],
    ...(values.quiet ? {} : { flowLine: flowLineWriter((text) => process.stderr.write(text)) }),
    limits,
  }).catch((err: unknown) => {
    // A busy or privileged port is the user's to fix: one line, exit 2.
    if (err instanceof ListenError) throw new UsageError(`proxy: ${err.message}`);
    throw err;
  });
  process.stdout.write(
    `promptdiff proxy on ${proxy.url} (upstream: ${upstream}${passthroughOnly ? `, only to ${passthroughOnly.join(', ')}` : ''}), recording to ${path.resolve(values.out, 'exchanges.jsonl')}\n` +
      `CA: ${proxy.caCertPath} in ${describeCertsDir(values.certs)}\n\n` +
      `Forward route — export these in the agent's shell:\n${formatExports(clientEnv(proxy.url, proxy.caCertPath), 'bash')}\n\n` +
      `Reverse route — point the agent's base URL here instead, e.g.:\nexport ANTHROPIC_BASE_URL=${proxy.url}\n\nCtrl-C to stop.\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await proxy.close();
  process.stderr.write(`stopped; ${proxy.exchangeCount()} exchange(s) recorded\n`);
  return 0;
}

export async function cmdEnv(args: string[]): Promise<number> {
  const { values } = parse('env', args, { port: { type: 'string' }, host: { type: 'string' }, shell: { type: 'string' }, certs: { type: 'string' }, help: { type: 'boolean' } }, false);
  if (values.help) {
    process.stdout.write(`Usage: promptdiff env --port P [--host H] [--shell ${SHELLS.join('|')}] [--certs DIR]\n`);
    return 0;
  }
  if (!values.port) throw new UsageError('promptdiff env: --port P is required (the port promptdiff proxy listens on)');
  const port = intOption('port', values.port, 8080, 1);
  const shell = oneOf('shell', values.shell, SHELLS, 'bash');
  const ca = await ensureCA(values.certs ? path.resolve(values.certs) : defaultCertsDir());
  const host = values.host ?? '127.0.0.1';
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  process.stdout.write(`${formatExports(clientEnv(url, ca.certPath), shell)}\n`);
  return 0;
}

export async function cmdHar(args: string[]): Promise<number> {
  const { positionals, values } = parse('har', args, { help: { type: 'boolean' } });
  if (values.help || positionals.length !== 1) {
    process.stdout.write('Usage: promptdiff har DIR > out.har   (DIR holds exchanges.jsonl)\n');
    return values.help ? 0 : 2;
  }
  const { records, tornTail } = await readExchanges(path.resolve(positionals[0]!));
  if (tornTail) log.warn('the last line of the capture was cut off (killed proxy?): exported every complete exchange');
  process.stdout.write(`${JSON.stringify(toHar(records, toolVersion()), null, 2)}\n`);
  return 0;
}


const SHOW_HELP = `Usage: promptdiff show DIR [--json]   (DIR holds exchanges.jsonl, or give the .jsonl file)

  One line per exchange, as the proxy prints them while it records. A capture stores each body's
  bytes (base64) and what the proxy saw; what the exchange says is derived when it is read:
  --json                every exchange as readers see it, one JSON line each: bodies as text where
                        they are UTF-8, the dialect, the parsed request (system, messages, tools,
                        model), a stream's events and its assembled reply (for jq and scripts)
`;

export async function cmdShow(args: string[]): Promise<number> {
  const { positionals, values } = parse('show', args, { json: { type: 'boolean' }, help: { type: 'boolean' } });
  if (values.help || positionals.length !== 1) {
    process.stdout.write(SHOW_HELP);
    return values.help ? 0 : 2;
  }
  const { records, tornTail } = await readStored(path.resolve(positionals[0]!));
  const lines = new FlowLines();
  const out = records.map((r) => (values.json ? JSON.stringify(viewOf(r)) : lines.line(r)));
  if (out.length > 0) process.stdout.write(`${out.join('\n')}\n`);
  if (tornTail) log.warn('the last line of the capture was cut off (killed proxy?): showed every complete exchange');
  return 0;
}
