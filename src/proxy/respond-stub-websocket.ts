import { createHash } from 'node:crypto';
import { responseHead } from '../capture/headers.js';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { detectDialect, parseSse, type RequestHead } from '../dialects/index.js';
import type { Conversation } from '../dialects/tool-turns.js';
import { log } from '../log.js';
import { continued } from './stub-script.js';
import type { ConnectionInfo, ExchangeSink } from './exchange.js';
import { recordWebSocketLost, upgradeRequest, webSocketExchange } from './websocket-turns.js';
import { refuseUpgrade, replyTo, type StubOptions } from './respond-stub.js';
import { WebSocketTap, type WsMessage } from './websocket-tap.js';

/*
 * The stub as a WebSocket peer, for APIs that run over one (Responses WebSocket mode: Codex with
 * `supports_websockets`). Each client message is answered as the streamed HTTP request it stands
 * for, its events sent back as text messages, and recorded as one exchange (method WEBSOCKET), as
 * the tunnel records a relayed WebSocket. Stateless across connections like the HTTP stub; within
 * one, a turn that names the previous response carries only what is new, so the connection keeps
 * its last conversation for the stub script to count from.
 */

const ACCEPT_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const EMPTY = Buffer.alloc(0);
const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/** One unmasked, unfragmented server frame (RFC 6455 §5.2). */
export function serverFrame(opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  let head: Buffer;
  if (n < 126) {
    head = Buffer.from([0x80 | opcode, n]);
  } else if (n < 0x10000) {
    head = Buffer.alloc(4);
    head[0] = 0x80 | opcode;
    head[1] = 126;
    head.writeUInt16BE(n, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}

function headOf(req: http.IncomingMessage): RequestHead {
  return { method: 'POST', path: req.url ?? '/', headers: req.headers };
}

export function answerUpgradeWithStub(sink: ExchangeSink, stub: StubOptions, req: http.IncomingMessage, socket: Duplex, head: Buffer, conn: ConnectionInfo | undefined): void {
  // The stub can be the peer only of a WebSocket to an API whose dialect runs over one.
  const dialect = detectDialect(headOf(req));
  const turnOf = dialect?.websocketTurn;
  const isWebSocket = /^websocket$/i.test(String(req.headers.upgrade ?? '').trim()) && typeof req.headers['sec-websocket-key'] === 'string';
  if (!conn || !turnOf || !isWebSocket) return refuseUpgrade(sink, req, socket, conn);
  const accept = createHash('sha1')
    .update(`${String(req.headers['sec-websocket-key'])}${ACCEPT_GUID}`)
    .digest('base64');
  // No Sec-WebSocket-Extensions back: permessage-deflate declined, so every frame is plain.
  const handshake: [string, string][] = [
    ['upgrade', 'websocket'],
    ['connection', 'Upgrade'],
    ['sec-websocket-accept', accept],
  ];
  socket.write(responseHead(101, 'Switching Protocols', handshake));
  let last: Conversation | undefined;
  let open = true;
  const send = (frame: Buffer) => {
    if (open && !socket.destroyed) socket.write(frame);
  };
  const request = upgradeRequest(req);
  const onMessage = (m: WsMessage) => {
    const ex = webSocketExchange(sink, conn, request, m.at);
    ex.setRequestBody(m.data, false);
    const view = ex.readExact();
    const turn = m.opcode === OP_TEXT ? turnOf(view.json) : null;
    if (!turn) {
      // An acknowledgement (response.processed) or a binary message: recorded, not answered.
      ex.response = { source: 'stub', status: 101, headers: handshake, body: EMPTY, events: [] };
      ex.finish();
      return;
    }
    const prior = turn.continues ? last : undefined;
    last = continued(dialect.conversation(view.head, turn.body), prior) ?? undefined;
    const reply = replyTo(ex, stub, { body: turn.body, ...(prior ? { prior } : {}) });
    const datas =
      reply.status === 200
        ? parseSse(reply.chunks.join('')).map((e) => e.data)
        : [JSON.stringify({ type: 'error', status: reply.status, error: { type: 'invalid_request_error', message: reply.chunks.join('') } })];
    ex.response = {
      source: 'stub',
      status: 101,
      headers: handshake,
      body: Buffer.from(datas.join('\n'), 'utf8'),
      events: datas.map((data) => ({ data })),
    };
    // Durable before acknowledged: the turn's last event goes out once its record is written.
    const frames = datas.map((d) => serverFrame(OP_TEXT, Buffer.from(d, 'utf8')));
    const final = frames.pop();
    for (const f of frames) send(f);
    ex.finish(() => {
      if (final) send(final);
    });
  };
  const tap = new WebSocketTap(
    { enabled: false, clientNoContextTakeover: false, serverNoContextTakeover: false },
    onMessage,
    (message) => {
      log.warn({ url: req.url, err: message }, 'stub WebSocket: could not read the client\'s frames; closing');
      recordWebSocketLost(sink, conn, request, `WebSocket framing: ${message}`);
      send(serverFrame(OP_CLOSE, Buffer.from([0x03, 0xea]))); // 1002 protocol error
      open = false;
      socket.end();
    },
    (opcode, payload) => {
      if (opcode === OP_PING) send(serverFrame(OP_PONG, payload));
      else if (opcode === OP_CLOSE) {
        send(serverFrame(OP_CLOSE, payload.subarray(0, 2)));
        open = false;
        socket.end();
      }
    },
  );
  socket.on('data', (c: Buffer) => tap.fromClient(c));
  socket.on('error', () => undefined);
  socket.on('close', () => {
    open = false;
    sink.hold(conn.runId, tap.settled().then(() => tap.close()));
  });
  if (head.length > 0) tap.fromClient(head);
}
