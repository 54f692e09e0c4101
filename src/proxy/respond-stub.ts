import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { BodyBuffer } from '../capture/body.js';
import { pairsFromObject } from '../capture/headers.js';
import { unknownStub, type StubReply } from '../dialects/index.js';
import type { Conversation } from '../dialects/tool-turns.js';
import { CLIENT_FAULT, type ClientFault } from './client-faults.js';
import { Exchange, type ConnectionInfo, type ExchangeSink } from './exchange.js';
import type { ResponsePart } from './record.js';
import { answerFromScript, type StubScriptOptions } from './stub-script.js';

/** The stub upstream: answers every request itself, so nothing leaves the machine. */

export interface StubOptions {
  text: string;
  script?: StubScriptOptions;
  /** A run's working directory as the agent sees it, for a stub script's relative paths. */
  workDirOf(runId: string | null): string | undefined;
}

/**
 * Reads the request body, up to the limit for the record; `incomplete` when the client went away
 * first, `fault` when the transport gave up on the request (client-faults.ts).
 */
function readBody(req: http.IncomingMessage, limit: number, done: (body: BodyBuffer, incomplete: boolean, fault?: ClientFault) => void): void {
  const body = new BodyBuffer(limit);
  let finished = false;
  req.on('data', (c: Buffer) => body.push(c));
  req.on('end', () => {
    finished = true;
    done(body, false);
  });
  req.once(CLIENT_FAULT, (fault: ClientFault) => {
    if (finished) return;
    finished = true;
    done(body, true, fault);
  });
  req.on('close', () => {
    if (!finished && !req.complete) {
      finished = true;
      done(body, true);
    }
  });
  req.on('error', () => undefined);
  req.resume();
}

/**
 * The stub's reply to one request: a script turn, the dialect's ordinary reply, or a harmless 200.
 * `turn`: a WebSocket message's turn, which has a body of its own (streamed) and may continue the
 * connection's last conversation.
 */
export function replyTo(ex: Exchange, stub: StubOptions, turn?: { body: unknown; prior?: Conversation }): StubReply {
  const v = ex.readExact();
  const body = turn ? turn.body : v.json;
  try {
    const scripted = stub.script && v.dialect ? answerFromScript(v.dialect, v.head, body, stub.script, stub.workDirOf(ex.conn.runId), turn?.prior) : null;
    ex.stubTurn = scripted?.turn ?? (stub.script ? { index: null, reason: 'not a model API request' } : undefined);
    if (ex.stubTurn?.error) ex.note('upstream', ex.stubTurn.error);
    return scripted?.reply ?? (v.dialect ? v.dialect.stub(v.head, body, { text: stub.text }) : unknownStub(v.head));
  } catch (err) {
    return { status: 500, headers: { 'content-type': 'text/plain' }, chunks: [`promptdiff stub failed: ${(err as Error).message}`] };
  }
}

export function answerWithStub(sink: ExchangeSink, stub: StubOptions, req: http.IncomingMessage, res: http.ServerResponse, conn: ConnectionInfo): void {
  const ex = new Exchange(sink, conn, req);
  readBody(req, sink.bodyLimit, (body, incomplete, fault) => {
    ex.setRequestBody(body.bytes(), incomplete, body.overflow());
    if (incomplete) {
      ex.readExact();
      ex.note('client', fault?.message ?? 'client disconnected before the request body was complete');
      if (!fault || fault.status === 0 || res.headersSent || res.destroyed) {
        ex.finish();
        return;
      }
      const text = Buffer.from(`promptdiff: ${fault.message}\n`);
      ex.response = { source: 'stub', status: fault.status, headers: [['content-type', 'text/plain']], body: text };
      res.writeHead(fault.status, { 'content-type': 'text/plain', 'content-length': String(text.length), connection: 'close' });
      ex.finish(() => res.end(text));
      return;
    }
    const reply = replyTo(ex, stub);
    const bodyOut = Buffer.from(reply.chunks.join(''), 'utf8');
    const response: ResponsePart = { source: 'stub', status: reply.status, headers: pairsFromObject(reply.headers), body: bodyOut };
    ex.response = response;
    res.on('close', () => {
      if (!res.writableFinished) {
        ex.note('client', 'client disconnected before the response was complete');
        response.incomplete = true;
      }
      ex.finish();
    });
    // Durable before acknowledged: the end of the reply (all of a short one, the last chunk of a
    // stream) goes out once the record has been written, so a client that has the whole reply
    // finds its exchange in the capture even if the proxy is killed the next moment.
    const end = (last?: Buffer) => () => {
      if (!res.destroyed) res.end(last);
    };
    const streaming = reply.chunks.length > 1;
    res.writeHead(reply.status, streaming ? reply.headers : { ...reply.headers, 'content-length': String(bodyOut.length) });
    if (req.method === 'HEAD') {
      ex.finish(end());
      return;
    }
    if (!streaming) {
      ex.finish(end(bodyOut));
      return;
    }
    for (const chunk of reply.chunks) res.write(chunk);
    ex.finish(end());
  });
}

export const STUB_UPGRADE_REFUSAL = 'WebSocket upgrade refused: the stub upstream does not speak WebSocket (use --upstream passthrough)';

/**
 * An upgrade that may not go anywhere (stub mode has no WebSocket peer; --passthrough-only):
 * answered and recorded, so the attempt shows in the capture.
 */
export function refuseUpgrade(sink: ExchangeSink, req: http.IncomingMessage, socket: Duplex, conn: ConnectionInfo | undefined, status = 501, message = STUB_UPGRADE_REFUSAL): void {
  const reason = status === 501 ? 'Not Implemented' : 'Bad Gateway';
  const answer = () => socket.end(`HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(message) + 1}\r\n\r\n${message}\n`);
  if (!conn) return void answer();
  const ex = new Exchange(sink, conn, req);
  ex.response = { source: 'stub', status, headers: [['content-type', 'text/plain']], body: Buffer.from(`${message}\n`) };
  ex.note('request', message);
  ex.finish(answer);
}
