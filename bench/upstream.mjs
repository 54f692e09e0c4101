// The benchmark's upstream: an HTTPS server on 127.0.0.1 with a leaf from our CA, in its own process
// so its CPU does not compete with the client's event loop. Started by bench/run.mjs over IPC.
//   POST /sse...  -> text/event-stream: the first event at once (carrying the monotonic clock at the
//                    moment it was written), the rest 20 ms later
//   anything else -> reads the whole body, answers a small Anthropic-style JSON message
import https from 'node:https';
import { ensureCA, LeafIssuer } from '../dist/ca/index.js';

const certsDir = process.argv[2];
const ca = await ensureCA(certsDir);
const issuer = new LeafIssuer(ca);

const reply = Buffer.from(
  JSON.stringify({
    id: 'msg_bench',
    type: 'message',
    role: 'assistant',
    model: 'claude-bench',
    content: [{ type: 'text', text: 'ok '.repeat(100) }],
    stop_reason: 'end_turn',
    usage: { input_tokens: 5000, output_tokens: 100 },
  }),
);

const server = https.createServer({ key: ca.leafKeyPem, cert: issuer.certificatePem('127.0.0.1'), noDelay: true }, (req, res) => {
  let size = 0;
  req.on('data', (c) => (size += c.length));
  req.on('end', () => {
    if (req.url.startsWith('/sse')) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(`event: message_start\ndata: {"type":"message_start","t":"${process.hrtime.bigint()}"}\n\n`);
      setTimeout(() => {
        res.end('event: message_stop\ndata: {"type":"message_stop"}\n\n');
      }, 20);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': reply.length, 'x-received': String(size) });
    res.end(reply);
  });
});
// Long enough that no pooled connection (client's or proxy's) is closed between benchmark phases.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 130_000;
server.requestTimeout = 0;
server.listen(0, '127.0.0.1', () => process.send({ ready: true, port: server.address().port }));
process.on('message', (m) => {
  if (m === 'stop') {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  }
});
// CPU time so far, so the bench can charge each phase its own cost.
process.on('message', (m) => {
  if (m && m.cpu) {
    const u = process.cpuUsage();
    process.send({ cpu: m.cpu, ms: (u.user + u.system) / 1000 });
  }
});
process.on('disconnect', () => process.exit(0));
