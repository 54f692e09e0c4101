import { BodyBuffer, DEFAULT_BODY_LIMIT, type Overflow } from '../capture/body.js';
import { headerValues } from '../capture/headers.js';

/**
 * A passive HTTP/1.1 framing parser for a relayed connection: it is fed copies of the bytes going
 * each way (the bytes themselves are relayed untouched elsewhere) and reconstructs the
 * request/response pairs in order. Header names and values are kept as sent (Node's rawHeaders
 * form: latin1, surrounding whitespace trimmed); bodies are the message bodies (chunked framing
 * removed, trailers left out).
 */

export interface TapRequest {
  method: string;
  /** The request target as sent (origin-form for a client inside a tunnel). */
  url: string;
  httpVersion: string;
  rawHeaders: string[];
  /** The body, or its first bytes when `overflow` is set (see capture/body.ts). */
  body: Buffer;
  overflow?: Overflow | undefined;
  /** The whole body arrived. */
  complete: boolean;
  startedAt: Date;
}

export interface TapResponse {
  status: number;
  statusMessage: string;
  httpVersion: string;
  rawHeaders: string[];
  /** The body, or its first bytes when `overflow` is set. */
  body: Buffer;
  overflow?: Overflow | undefined;
  complete: boolean;
}

export interface TapEvents {
  /** A request and its response, both complete, in the order the requests were sent. */
  exchange(req: TapRequest, res: TapResponse): void;
  /** A request whose body is complete (before its response). */
  request?(req: TapRequest): void;
  /** The first framing error on the connection; the tap stops parsing after it. */
  error?(message: string): void;
  /**
   * The connection switched protocols (101): the bytes each side sent after the handshake so far,
   * which the tap will not read. Called after the handshake's exchange.
   */
  upgraded?(req: TapRequest, res: TapResponse, clientRest: Buffer, serverRest: Buffer): void;
}

const MAX_HEAD = 256 * 1024;
const CRLFCRLF = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);

type BodyState = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'close' | 'stopped';

interface Head {
  line: string;
  rawHeaders: string[];
}

/** One direction's message framing. */
class Framer {
  state: BodyState = 'head';
  private pending: Buffer | null = null;
  private line = '';
  private remaining = 0;
  private buffer: BodyBuffer;
  /** The bytes after the head that stopped this framer (see 'head'). */
  rest: Buffer = EMPTY;

  constructor(
    private readonly onHead: (head: Head) => void,
    private readonly onComplete: () => void,
    private readonly fail: (message: string) => void,
    private readonly bodyLimit: number,
  ) {
    this.buffer = new BodyBuffer(bodyLimit);
  }

  /** Start a body of `length` bytes, chunked, until close, or none. */
  expect(kind: 'none' | 'chunked' | 'close' | number): void {
    this.buffer = new BodyBuffer(this.bodyLimit);
    if (kind === 'none' || kind === 0) {
      this.state = 'head';
      this.onComplete();
    } else if (kind === 'chunked') {
      this.state = 'chunk-size';
      this.line = '';
    } else if (kind === 'close') {
      this.state = 'close';
    } else {
      this.state = 'length';
      this.remaining = kind;
    }
  }

  /** The body so far, or its first bytes past the limit; `overflow` then says how long it was. */
  body(): { body: Buffer; overflow: Overflow | undefined } {
    return { body: this.buffer.bytes(), overflow: this.buffer.overflow() };
  }

  feed(chunk: Buffer): void {
    let data = chunk;
    let at = 0;
    while (at < data.length) {
      switch (this.state) {
        case 'stopped':
          return;
        case 'head': {
          let scanFrom = at;
          if (this.pending) {
            scanFrom = Math.max(0, this.pending.length - 3);
            data = Buffer.concat([this.pending, data.subarray(at)]);
            at = 0;
            this.pending = null;
          }
          // Empty lines before a message are ignored (RFC 9112 2.2).
          while (at + 1 < data.length && data[at] === 13 && data[at + 1] === 10) at += 2;
          if (at === data.length - 1 && data[at] === 13) {
            this.pending = data.subarray(at);
            return;
          }
          if (at >= data.length) return;
          const end = data.indexOf(CRLFCRLF, Math.max(at, scanFrom));
          if (end < 0) {
            if (data.length - at > MAX_HEAD) return this.fail('message head larger than 256 KB');
            this.pending = Buffer.from(data.subarray(at));
            return;
          }
          const text = data.toString('latin1', at, end);
          at = end + 4;
          const lines = text.split('\r\n');
          const rawHeaders: string[] = [];
          for (let i = 1; i < lines.length; i++) {
            const l = lines[i]!;
            const colon = l.indexOf(':');
            if (colon <= 0) return this.fail(`malformed header line: ${JSON.stringify(l.slice(0, 80))}`);
            rawHeaders.push(l.slice(0, colon), l.slice(colon + 1).trim());
          }
          this.onHead({ line: lines[0]!, rawHeaders });
          // A head that ends HTTP on this connection (an upgrade): what follows is another protocol.
          if ((this.state as BodyState) === 'stopped') {
            this.rest = Buffer.from(data.subarray(at));
            return;
          }
          break;
        }
        case 'length': {
          const n = Math.min(this.remaining, data.length - at);
          this.buffer.push(data.subarray(at, at + n));
          at += n;
          this.remaining -= n;
          if (this.remaining === 0) {
            this.state = 'head';
            this.onComplete();
          }
          break;
        }
        case 'close':
          this.buffer.push(at === 0 ? data : data.subarray(at));
          return;
        case 'chunk-size':
        case 'trailers': {
          const nl = data.indexOf(10, at);
          const end = nl < 0 ? data.length : nl + 1;
          this.line += data.toString('latin1', at, end);
          at = end;
          if (this.line.length > MAX_HEAD) return this.fail('chunk line larger than 256 KB');
          if (nl < 0) break;
          const l = this.line.replace(/\r?\n$/, '');
          this.line = '';
          if (this.state === 'trailers') {
            if (l === '') {
              this.state = 'head';
              this.onComplete();
            }
            break;
          }
          const sizeText = l.split(';', 1)[0]!.trim();
          if (!/^[0-9a-fA-F]+$/.test(sizeText)) return this.fail(`bad chunk size: ${JSON.stringify(l.slice(0, 80))}`);
          const size = parseInt(sizeText, 16);
          if (size === 0) this.state = 'trailers';
          else {
            this.remaining = size;
            this.state = 'chunk-data';
          }
          break;
        }
        case 'chunk-data': {
          const n = Math.min(this.remaining, data.length - at);
          this.buffer.push(data.subarray(at, at + n));
          at += n;
          this.remaining -= n;
          if (this.remaining === 0) {
            this.state = 'chunk-crlf';
            this.remaining = 2;
          }
          break;
        }
        case 'chunk-crlf': {
          const expected = this.remaining === 2 ? 13 : 10;
          if (data[at] !== expected) return this.fail('chunk data not followed by CRLF');
          at += 1;
          this.remaining -= 1;
          if (this.remaining === 0) {
            this.state = 'chunk-size';
            this.line = '';
          }
          break;
        }
      }
    }
  }
}

/** How the body of a message with these headers is framed (RFC 9112 6.3), or an error. */
function framing(raw: string[], isResponse: boolean): 'none' | 'chunked' | 'close' | number | Error {
  const te = headerValues(raw, 'transfer-encoding');
  if (te.length > 0) {
    const codings = te.join(',').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
    if (codings.at(-1) === 'chunked') return 'chunked';
    return isResponse ? 'close' : new Error('request Transfer-Encoding without chunked last');
  }
  const cl = headerValues(raw, 'content-length');
  if (cl.length > 0) {
    const values = new Set(cl.join(',').split(',').map((s) => s.trim()));
    if (values.size !== 1) return new Error('conflicting Content-Length values');
    const v = [...values][0]!;
    if (!/^\d+$/.test(v)) return new Error(`bad Content-Length: ${v}`);
    return Number(v);
  }
  return isResponse ? 'close' : 'none';
}

function takeBody(message: { body: Buffer; overflow?: Overflow | undefined }, framer: Framer): void {
  const b = framer.body();
  message.body = b.body;
  if (b.overflow) message.overflow = b.overflow;
}

interface Pending {
  req: TapRequest;
  /** Placeholder for an Upgrade request: the tap stops when its response is due. */
  upgrade: boolean;
  res: TapResponse | null;
}

export class HttpTap {
  private readonly queue: Pending[] = [];
  private readonly reqFramer: Framer;
  private readonly resFramer: Framer;
  private currentReq: Pending | null = null;
  private currentRes: TapResponse | null = null;
  private stopped = false;
  private requestsStopped = false;
  /** Client chunks that arrived after an upgrade request, before its answer. */
  private clientAfterUpgrade: Buffer[] = [];
  /** Set by a 101 until fromServer hands the connection over (upgraded). */
  private switched: { req: TapRequest; res: TapResponse } | null = null;

  /** `bodyLimit`: the most of one body kept (the rest is counted and hashed). */
  constructor(
    private readonly events: TapEvents,
    bodyLimit: number = DEFAULT_BODY_LIMIT,
  ) {
    this.reqFramer = new Framer(
      (h) => this.onRequestHead(h),
      () => this.onRequestComplete(),
      (m) => this.fail(m),
      bodyLimit,
    );
    this.resFramer = new Framer(
      (h) => this.onResponseHead(h),
      () => this.onResponseComplete(),
      (m) => this.fail(m),
      bodyLimit,
    );
  }

  /** Parsing stopped (an upgrade, or an error); bytes still flow, nothing more is recorded. */
  get active(): boolean {
    return !this.stopped;
  }

  /** The first request that is complete and still has no response. */
  get waiting(): TapRequest | null {
    return this.stopped ? null : (this.queue.find((p) => p.req.complete && !p.res)?.req ?? null);
  }

  fromClient(chunk: Buffer): void {
    if (this.stopped) return;
    if (!this.requestsStopped) this.reqFramer.feed(chunk);
    else if (this.clientAfterUpgrade.length < MAX_HEAD) this.clientAfterUpgrade.push(chunk);
  }

  fromServer(chunk: Buffer): void {
    if (this.stopped) return;
    this.resFramer.feed(chunk);
    const up = this.switched;
    if (up) {
      this.switched = null;
      this.events.upgraded?.(up.req, up.res, Buffer.concat([this.reqFramer.rest, ...this.clientAfterUpgrade]), this.resFramer.rest);
      this.clientAfterUpgrade = [];
    }
  }

  /** The server finished sending: completes a response delimited by the connection's close. */
  serverEnded(): void {
    if (this.stopped || this.resFramer.state !== 'close' || !this.currentRes) return;
    this.onResponseComplete();
  }

  /**
   * The connection is gone: the requests still open, each with what arrived of it and of its
   * response (incomplete), in order. Stops the tap.
   */
  close(): Array<{ req: TapRequest; res: TapResponse | null }> {
    if (this.stopped) return [];
    this.stopped = true;
    const out: Array<{ req: TapRequest; res: TapResponse | null }> = [];
    for (const p of this.queue) {
      if (p.upgrade) {
        // An upgrade that was never answered: its request, without a body (none is framed).
        p.req.complete = true;
        out.push({ req: p.req, res: null });
        break;
      }
      if (p === this.currentReq) takeBody(p.req, this.reqFramer);
      if (p.res && p.res === this.currentRes) takeBody(p.res, this.resFramer);
      out.push({ req: p.req, res: p.res });
    }
    this.queue.length = 0;
    return out;
  }

  private fail(message: string): void {
    if (this.stopped) return;
    this.stop();
    this.events.error?.(message);
  }

  private onRequestHead(h: Head): void {
    const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/(\d\.\d)$/.exec(h.line);
    if (!m) return this.fail(`malformed request line: ${JSON.stringify(h.line.slice(0, 80))}`);
    const req: TapRequest = { method: m[1]!, url: m[2]!, httpVersion: m[3]!, rawHeaders: h.rawHeaders, body: EMPTY, complete: false, startedAt: new Date() };
    const connection = headerValues(h.rawHeaders, 'connection').join(',').toLowerCase();
    const upgrade = /(^|,)\s*upgrade\s*(,|$)/.test(connection) && headerValues(h.rawHeaders, 'upgrade').length > 0;
    if (upgrade || req.method === 'CONNECT') {
      // Whatever follows is not HTTP we can frame: stop reading requests; the responses to the
      // requests before this one are still recorded.
      this.requestsStopped = true;
      this.reqFramer.state = 'stopped';
      // Its response is still read: the handshake is recorded (onResponseHead).
      req.complete = true;
      this.queue.push({ req, upgrade: true, res: null });
      this.events.request?.(req);
      return;
    }
    const f = framing(h.rawHeaders, false);
    if (f instanceof Error) return this.fail(f.message);
    const p: Pending = { req, upgrade: false, res: null };
    this.queue.push(p);
    this.currentReq = p;
    this.reqFramer.expect(f);
  }

  private onRequestComplete(): void {
    const p = this.currentReq;
    if (!p) return;
    this.currentReq = null;
    takeBody(p.req, this.reqFramer);
    p.req.complete = true;
    this.events.request?.(p.req);
    this.drain();
  }

  private onResponseHead(h: Head): void {
    const m = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(h.line);
    if (!m) return this.fail(`malformed status line: ${JSON.stringify(h.line.slice(0, 80))}`);
    const status = Number(m[2]);
    const p = this.queue.find((q) => q.res === null);
    if (!p) return this.fail('a response with no request waiting for it');
    // Interim responses (100 Continue, 103 Early Hints) are not the answer.
    if (status >= 100 && status < 200 && !(p.upgrade && status === 101)) return;
    if (p.upgrade) {
      // The handshake is recorded; whatever follows it on the connection is not HTTP. A refusal
      // (no 101) may carry a body, which is not read: the response is marked incomplete.
      p.req.complete = true;
      const complete = status === 101 || (p.req.method === 'CONNECT' && status >= 200 && status < 300);
      const res: TapResponse = { status, statusMessage: m[3] ?? '', httpVersion: m[1]!, rawHeaders: h.rawHeaders, body: EMPTY, complete };
      this.events.exchange(p.req, res);
      if (status === 101) this.switched = { req: p.req, res };
      return this.stop();
    }
    const res: TapResponse = { status, statusMessage: m[3] ?? '', httpVersion: m[1]!, rawHeaders: h.rawHeaders, body: EMPTY, complete: false };
    p.res = res;
    this.currentRes = res;
    if (p.req.method === 'HEAD' || status === 204 || status === 304) return this.resFramer.expect('none');
    const f = framing(h.rawHeaders, true);
    if (f instanceof Error) return this.fail(f.message);
    this.resFramer.expect(f);
  }

  private onResponseComplete(): void {
    const res = this.currentRes;
    if (!res) return;
    this.currentRes = null;
    takeBody(res, this.resFramer);
    res.complete = true;
    this.drain();
  }

  private drain(): void {
    while (this.queue.length > 0) {
      const p = this.queue[0]!;
      if (p.upgrade || !p.req.complete || !p.res?.complete) break;
      this.queue.shift();
      this.events.exchange(p.req, p.res);
    }
  }

  private stop(): void {
    this.stopped = true;
    this.queue.length = 0;
    this.reqFramer.state = 'stopped';
    this.resFramer.state = 'stopped';
  }
}
