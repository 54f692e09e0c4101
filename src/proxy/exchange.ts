import type { IncomingHttpHeaders } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { decodeBody, decodeBodySlow, type Decoding, type Overflow } from '../capture/body.js';
import { headerOf, pairsFromRaw } from '../capture/headers.js';
import type { CaptureError, RecordDraft, StubTurn } from '../capture/schema.js';
import type { SecretValues } from '../capture/secret-values.js';
import { redactQuery } from '../capture/redact.js';
import { captureError, type ErrorKind } from './error-kinds.js';
import { buildRecord, nextSeq, readExact, type RequestPart, type ResponsePart } from './record.js';
import type { RequestReading } from '../capture/view.js';
import { detectDialect } from '../dialects/index.js';

export interface TunnelInfo {
  /** The CONNECT target as the client gave it. */
  target: string;
  host: string;
  port: number;
  tls: boolean;
}

/** Where a connection came from and whose capture its exchanges go to. */
export interface ConnectionInfo {
  /** The run whose listener accepted it; null for the proxy's main port. */
  runId: string | null;
  clientAddress: string;
  clientPort: number;
  tunnel: TunnelInfo | null;
}

/** What the record needs of a request: an IncomingMessage, or one the tunnel tap reconstructed. */
export interface RequestLike {
  url?: string;
  method?: string;
  httpVersion: string;
  rawHeaders: string[];
  headers: IncomingHttpHeaders;
  /** The socket it arrived on: a TLSSocket inside a tunnel, which knows the SNI. */
  socket: unknown;
}

/** Where finished exchanges go. */
export interface ExchangeSink {
  keepSecrets: boolean;
  /** Tags secret JSON fields in bodies (capture/redact.ts); unused when secrets are kept. */
  secrets?: SecretValues;
  /** The most of one body a record keeps (capture/body.ts). */
  bodyLimit: number;
  /** Work that will still record an exchange: the run's flush waits for it. */
  hold(runId: string | null, work: Promise<unknown>): void;
  /**
   * Writes the record `build` makes with the next batch of the run's capture, then calls `after`
   * (also when the write failed: the failure is logged and counted by the writer).
   */
  record(runId: string | null, build: () => RecordDraft, after?: () => void): void;
}

const EMPTY = Buffer.alloc(0);

function withoutDefaultPort(host: string, scheme: 'http' | 'https'): string {
  return host.replace(scheme === 'https' ? /:443$/ : /:80$/, '');
}

/**
 * One request and what became of it: its response (or none), and every error met on the way, as
 * each route and mode sees them. The transport and the responders fill it in; `finish()` turns it
 * into exactly one record, however many of its ends (response done, client gone, upstream failed)
 * report in. The record is built lazily, when the capture writes it, so nothing on the exchange
 * may change after finish().
 */
export class Exchange {
  readonly seq: number;
  readonly id: string;
  readonly errors: CaptureError[] = [];
  response: ResponsePart | null = null;
  stubTurn: StubTurn | undefined;
  /** Stored instead of the request's method (a WebSocket turn is read as a POST to its path). */
  recordedMethod: string | undefined;
  private body: Buffer = EMPTY;
  private overflow: Overflow | undefined;
  private incomplete = false;
  private part: RequestPart | null = null;
  /** The stub's exact reading of the request, when it answered it (its dialect names the record's secret fields). */
  private view: RequestReading | null = null;
  private done = false;

  constructor(
    private readonly sink: ExchangeSink,
    readonly conn: ConnectionInfo,
    readonly request: RequestLike,
    readonly startedAt: Date = new Date(),
  ) {
    const ids = nextSeq();
    this.seq = ids.seq;
    this.id = ids.id;
  }

  get finished(): boolean {
    return this.done;
  }

  /** `overflow`: the body outgrew the limit and `body` is its first bytes (BodyBuffer). */
  setRequestBody(body: Buffer, incomplete: boolean, overflow?: Overflow): void {
    this.body = body;
    this.incomplete = incomplete;
    this.overflow = overflow;
    this.part = null;
  }

  /** Records a failure of a known kind (see error-kinds.ts); ignored once finished. */
  fail(kind: ErrorKind, err: Error | string | undefined): void {
    if (!this.done) this.errors.push(captureError(kind, err));
  }

  note(stage: CaptureError['stage'], message: string): void {
    if (!this.done) this.errors.push({ stage, message });
  }

  /** The request read exactly, so that its json can answer it (the stub). */
  readExact(): RequestReading {
    const part = this.requestPart();
    this.view = readExact(this.head(part), part, this.request.headers['content-type']);
    return this.view;
  }

  /**
   * What a log line about this exchange says about it, so an error names the request it belongs
   * to: the request line (query redacted as in the record), the client, the tunnel and the run.
   */
  logContext(): Record<string, string> {
    const c = this.conn;
    const out: Record<string, string> = {
      request: `${this.request.method ?? ''} ${redactQuery(this.request.url ?? '').value}`,
      client: `${c.clientAddress}:${c.clientPort}`,
      exchange: this.id,
    };
    if (c.tunnel) out.tunnel = c.tunnel.target;
    if (c.runId !== null) out.run = c.runId;
    return out;
  }

  /** Hands the record to the capture, once: later calls return false and change nothing. */
  finish(after?: () => void): boolean {
    if (this.done) return false;
    this.done = true;
    const runId = this.conn.runId;
    const slow = this.decodeLarge();
    if (slow === null) this.sink.record(runId, () => this.buildNamed(), after);
    else this.sink.hold(runId, slow.then(() => this.sink.record(runId, () => this.buildNamed(), after)));
    return true;
  }

  /** build(), whose failure names the request it could not record (the capture's error log line says it). */
  private buildNamed(): RecordDraft {
    try {
      return this.build();
    } catch (err) {
      const ctx = this.logContext();
      throw new Error(`${ctx.request} from ${ctx.client}${ctx.run ? ` (run ${ctx.run})` : ''}: ${(err as Error).message}`);
    }
  }

  /**
   * Removes the content codings of both bodies, bounded; a body that decodes past the limit (a
   * decompression bomb) or was cut at it is decoded streaming instead, holding at most the limit,
   * and the record waits for that. Null when nothing had to wait.
   */
  private decodeLarge(): Promise<void> | null {
    const limit = this.sink.bodyLimit;
    const jobs: Promise<void>[] = [];
    const decode = (target: { decoding?: Decoding }, wire: Buffer, encoding: string | undefined, overflow: Overflow | undefined) => {
      if (target.decoding !== undefined || !encoding) return;
      const d = decodeBody(wire, encoding, limit, overflow !== undefined);
      if (d !== null) target.decoding = d;
      else {
        jobs.push(
          decodeBodySlow(wire, encoding, limit, overflow !== undefined).then(
            (r) => void (target.decoding = r),
            (err: Error) => void (target.decoding = { error: `content-encoding ${encoding}: ${err.message}` }),
          ),
        );
      }
    };
    const part = this.requestPart();
    decode(part, part.body, part.contentEncoding, part.overflow);
    const res = this.response;
    if (res) decode(res, res.body, headerOf(res.headers, 'content-encoding'), res.overflow);
    return jobs.length === 0 ? null : Promise.all(jobs).then(() => undefined);
  }

  private head(part: RequestPart) {
    return { method: part.method, path: part.path, headers: this.request.headers };
  }

  private requestPart(): RequestPart {
    if (this.part) return this.part;
    const req = this.request;
    const tunnel = this.conn.tunnel;
    const rawUrl = req.url ?? '/';
    const absolute = /^https?:\/\//i.test(rawUrl);
    let url: string;
    let hostHeader = req.headers.host ?? '';
    if (req.method === 'CONNECT') {
      // Authority-form: the target is all there is (a refused or idle tunnel).
      url = rawUrl;
      hostHeader = rawUrl;
    } else if (tunnel) {
      hostHeader ||= tunnel.target;
      const scheme = tunnel.tls ? 'https' : 'http';
      url = `${scheme}://${withoutDefaultPort(hostHeader, scheme)}${rawUrl}`;
    } else if (absolute) {
      url = rawUrl;
      hostHeader ||= new URL(rawUrl).host;
    } else {
      url = `http://${hostHeader}${rawUrl}`;
    }
    let path = req.method === 'CONNECT' ? '' : rawUrl;
    if (absolute) {
      const u = new URL(rawUrl);
      path = u.pathname + u.search;
    }
    this.part = {
      method: req.method ?? 'GET',
      url,
      host: hostHeader,
      path,
      httpVersion: req.httpVersion,
      headers: pairsFromRaw(req.rawHeaders),
      contentEncoding: req.headers['content-encoding'],
      body: this.body,
      overflow: this.overflow,
      incomplete: this.incomplete,
      limit: this.sink.bodyLimit,
    };
    return this.part;
  }

  private build(): RecordDraft {
    const part = this.requestPart();
    const dialect = this.view ? this.view.dialect : detectDialect(this.head(part));
    if (this.recordedMethod !== undefined) part.method = this.recordedMethod;
    const req = this.request;
    const tunnel = this.conn.tunnel;
    const sni = (req.socket as TLSSocket | null)?.servername;
    return buildRecord({
      seq: this.seq,
      id: this.id,
      run: this.conn.runId,
      startedAt: this.startedAt,
      route: tunnel || /^https?:\/\//i.test(req.url ?? '') ? 'forward' : 'reverse',
      client: { address: this.conn.clientAddress, port: this.conn.clientPort },
      tunnel: tunnel ? { target: tunnel.target, sni: typeof sni === 'string' ? sni : null, tls: tunnel.tls } : null,
      request: part,
      dialect,
      response: this.response,
      errors: this.errors,
      keepSecrets: this.sink.keepSecrets,
      ...(this.sink.secrets ? { secrets: this.sink.secrets } : {}),
      bodyLimit: this.sink.bodyLimit,
      ...(this.stubTurn ? { stubTurn: this.stubTurn } : {}),
    });
  }
}
