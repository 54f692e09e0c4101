// One proxy under test, in its own process (as in real use: agent, proxy and API are separate
// processes). Started by bench/run.mjs over IPC:
//   node bench/proxy-child.mjs ours <stub|passthrough> <certsDir> <outDir> [upstreamUrl]
//   node bench/proxy-child.mjs library <sslCaDir> <upstreamCaFile>
//   node bench/proxy-child.mjs relay <certsDir> <upstreamCaFile>
//   node bench/proxy-child.mjs mitmproxy <certsDir> <upstreamCaFile> <flowFile>
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [kind, ...args] = process.argv.slice(2);
let stop;
/** CPU ms of processes this one started (a proxy that is not Node). */
let childCpuMs = () => 0;

if (kind === 'ours') {
  const [mode, certsDir, outDir, upstreamUrl] = args;
  // BENCH_DIST: another build of promptdiff (for A/B runs of two builds under the same load).
  const dist = process.env.BENCH_DIST ? pathToFileURL(path.resolve(process.env.BENCH_DIST)).href : new URL('../dist', import.meta.url).href;
  const { startProxy } = await import(`${dist}/proxy/server.js`);
  const { ensureCA } = await import(`${dist}/ca/index.js`);
  const ca = await ensureCA(certsDir);
  const proxy = await startProxy({
    outDir,
    certsDir,
    upstream: mode,
    upstreamCa: ca.certPath,
    ...(upstreamUrl ? { upstreamUrl } : {}),
  });
  process.send({ ready: true, port: proxy.port, caPem: ca.certPem });
  stop = async () => {
    await proxy.flush();
    const count = proxy.exchangeCount();
    await proxy.close();
    return { count };
  };
} else if (kind === 'library') {
  // http-mitm-proxy 1.1.0 as it comes: `new Proxy()`, default options, its own CA in sslCaDir.
  // The one addition is an onRequest hook telling it to trust our upstream's CA (otherwise every
  // request fails verification); it changes nothing about how connections are made or reused.
  const [sslCaDir, upstreamCaFile] = args;
  const upstreamCa = readFileSync(upstreamCaFile, 'utf8');
  // Its progress chatter ("starting server for ...") would drown the table; errors still print.
  // Its error lines (a client closing a tunnel shows up as ECONNRESET) are counted, not printed.
  let errorLines = 0;
  console.debug = () => undefined;
  console.info = () => undefined;
  console.error = () => void (errorLines += 1);
  const { Proxy } = await import('http-mitm-proxy');
  const proxy = new Proxy();
  proxy.onRequest((ctx, cb) => {
    ctx.proxyToServerRequestOptions.ca = upstreamCa;
    cb();
  });
  await new Promise((resolve, reject) => proxy.listen({ host: '127.0.0.1', port: 0, sslCaDir }, (err) => (err ? reject(err) : resolve())));
  const caPem = readFileSync(path.join(sslCaDir, 'certs', 'ca.pem'), 'utf8');
  process.send({ ready: true, port: proxy.httpPort, caPem });
  stop = async () => {
    proxy.close();
    return { errorLines };
  };
} else if (kind === 'relay') {
  // A floor for any decrypting proxy written in Node: CONNECT, TLS terminated with our leaf, a TLS
  // connection to the target, bytes piped both ways. No HTTP parsing, no capture, nothing recorded.
  const [certsDir, upstreamCaFile] = args;
  const http = await import('node:http');
  const tls = await import('node:tls');
  const dist = new URL('../dist', import.meta.url).href;
  const { ensureCA, LeafIssuer } = await import(`${dist}/ca/index.js`);
  const ca = await ensureCA(certsDir);
  const issuer = new LeafIssuer(ca);
  const upstreamCa = readFileSync(upstreamCaFile, 'utf8');
  const server = http.createServer();
  server.on('connect', (req, socket) => {
    const [host, port] = req.url.split(':');
    socket.setNoDelay(true);
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    const client = new tls.TLSSocket(socket, { isServer: true, secureContext: issuer.secureContext(host) });
    const up = tls.connect({ host, port: Number(port), ca: upstreamCa });
    up.setNoDelay(true);
    client.pipe(up).pipe(client);
    const end = () => {
      client.destroy();
      up.destroy();
    };
    client.on('error', end);
    up.on('error', end);
    client.on('close', end);
    up.on('close', end);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.send({ ready: true, port: server.address().port, caPem: ca.certPem });
  stop = async () => {
    server.close();
    return {};
  };
} else if (kind === 'mitmproxy') {
  // mitmproxy (Debian's mitmdump) as a reference in the same harness: recording every flow to a
  // file (-w), as promptdiff records every exchange, quiet on the console. It gets our CA as its
  // own, so the client trusts it as it trusts ours.
  const [certsDir, upstreamCaFile, flowFile] = args;
  const { spawn } = await import('node:child_process');
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const net = await import('node:net');
  const confdir = mkdtempSync(path.join(tmpdir(), 'promptdiff-bench-mitm-'));
  const caPem = readFileSync(path.join(certsDir, 'certs', 'ca.pem'), 'utf8');
  writeFileSync(path.join(confdir, 'mitmproxy-ca.pem'), readFileSync(path.join(certsDir, 'keys', 'ca.private.key'), 'utf8') + caPem, { mode: 0o600 });
  const port = await new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const child = spawn('mitmdump', ['-q', '--listen-host', '127.0.0.1', '--listen-port', String(port), '--set', `confdir=${confdir}`, '--set', `ssl_verify_upstream_trusted_ca=${upstreamCaFile}`, '-w', flowFile], { stdio: ['ignore', 'ignore', 'inherit'] });
  process.on('exit', () => child.kill('SIGKILL'));
  for (let i = 0; ; i++) {
    const up = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (up) break;
    if (i > 300 || child.exitCode !== null) throw new Error('mitmdump did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  const ticks = 100; // USER_HZ
  childCpuMs = () => {
    const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / ticks;
  };
  process.send({ ready: true, port, caPem });
  stop = async () => {
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
    return {};
  };
} else {
  console.error(`unknown proxy kind ${kind}`);
  process.exit(2);
}

process.on('message', async (m) => {
  if (m === 'stop') {
    const result = await stop();
    const cpu = process.cpuUsage();
    process.send({ stopped: true, cpuMs: (cpu.user + cpu.system) / 1000, ...result }, () => process.exit(0));
  }
});
// CPU time so far, so the bench can charge each phase its own cost.
process.on('message', (m) => {
  if (m && m.cpu) {
    const u = process.cpuUsage();
    process.send({ cpu: m.cpu, ms: (u.user + u.system) / 1000 + childCpuMs() });
  }
});
process.on('disconnect', () => process.exit(0));
