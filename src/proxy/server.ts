import type http from 'node:http';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { ensureCA, defaultCertsDir } from '../ca/index.js';
import { DEFAULT_BODY_LIMIT } from '../capture/body.js';
import { SecretValues } from '../capture/secret-values.js';
import { CaptureWriter } from '../capture/store.js';
import type { RecordDraft } from '../capture/schema.js';
import { log } from '../log.js';
import type { ConnectionInfo, ExchangeSink } from './exchange.js';
import { Exchange } from './exchange.js';
import { listen } from './listen.js';
import { defaultLimits, type Limits } from './limits.js';
import { passThrough, passthroughFilter, upstreamAgents, type PassthroughOptions } from './respond-passthrough.js';
import { answerWithStub, type StubOptions } from './respond-stub.js';
import { answerUpgradeWithStub } from './respond-stub-websocket.js';
import { relayUpgrade } from './respond-passthrough-websocket.js';
import { relayTunnel } from './respond-tunnel.js';
import type { StubScriptOptions } from './stub-script.js';

export { isLoopback, ListenError } from './listen.js';
export type { Limits } from './limits.js';
export { passthroughFilter } from './respond-passthrough.js';

export type UpstreamMode = 'stub' | 'passthrough';

export interface ProxyOptions {
  /** Interface to bind; loopback unless the user says otherwise. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** The main listener's captures go to outDir/exchanges.jsonl. */
  outDir: string;
  upstream?: UpstreamMode;
  /** Passthrough: send everything here instead of the host the client asked for. */
  upstreamUrl?: string;
  /** Passthrough: extra CA (PEM) to trust for the upstream, on top of the system store. */
  upstreamCa?: string;
  /**
   * Passthrough: the only hosts ("host" or "host:port") requests may be forwarded to; any other is
   * answered 502 and recorded, and nothing is sent to it. Unset: every host.
   */
  passthroughOnly?: string[];
  /**
   * Store credentials as sent instead of redacting them: auth headers, cookies, key query
   * parameters, and the string values of JSON body fields named like a key, token, secret or password.
   */
  keepSecrets?: boolean;
  /**
   * The tags secret body fields become (capture/secret-values.ts): a scenario's own, so a key in a
   * body gets the tag it has in the manifest. Unset: a key of this proxy session's own.
   */
  secrets?: SecretValues;
  /**
   * The most of one body a record keeps, on the wire and once decoded (default 32 MiB); past it
   * the record keeps the first bytes, the size and a hash. The bytes are relayed whole either way.
   */
  bodyLimit?: number;
  /** Accept clients from non-loopback addresses. */
  allowRemote?: boolean;
  /** Connection cap and timeouts (limits.ts: defaultLimits()); each one given replaces its default. */
  limits?: Partial<Limits>;
  certsDir?: string;
  /** The assistant text of every stub reply. */
  stubText?: string;
  /** Stub only: answer model turns from this script (tool calls, then text); other requests get stubText. */
  stubScript?: StubScriptOptions;
  /** Hears of every record as it is written (flow-lines.ts: the proxy command's live line per exchange). */
  flowLine?: (record: RecordDraft) => void;
}

export interface RunningProxy {
  host: string;
  port: number;
  url: string;
  caCertPath: string;
  upstream: UpstreamMode;
  /**
   * A listener of its own for one run: its exchanges are tagged with runId and go to captureDir.
   * `workDir`: the run's working directory as the agent sees it, for a stub script's relative paths.
   */
  addRunListener(runId: string, captureDir: string, options?: { workDir?: string }): Promise<{ port: number; url: string }>;
  removeRunListener(runId: string): Promise<void>;
  exchangeCount(runId?: string): number;
  /** How often each limit (connections, idle, headers, body, idle-tunnel) was hit. */
  limitsHit?(): Record<string, number>;
  /** Resolves once every exchange completed so far has been written. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_STUB_TEXT = 'Hello from the promptdiff stub upstream.';

/**
 * The proxy: the transport (listen.ts) hands each request to the stub (respond-stub.ts) or to
 * passthrough (respond-passthrough.ts, respond-tunnel.ts); each of them fills in an Exchange, whose
 * one record goes to the capture of the run the connection belongs to.
 */
export async function startProxy(options: ProxyOptions): Promise<RunningProxy> {
  const host = options.host ?? '127.0.0.1';
  const upstream: UpstreamMode = options.upstream ?? 'stub';
  const ca = await ensureCA(options.certsDir ?? defaultCertsDir());

  /** Each run's capture, and the proxy's own (null) for connections to its main port. */
  const writers = new Map<string | null, CaptureWriter>();
  const runWorkDirs = new Map<string, string>();
  const onCaptureError = (err: Error, file: string) => log.error({ err: err.message, file }, 'could not write a capture record');
  const secrets = options.keepSecrets ? SecretValues.disabled() : (options.secrets ?? SecretValues.forSession());
  // Every known secret value (the scenario's, and each one met in a body field) is replaced in each
  // line as it is written: a capture never holds one, even if its run never finishes.
  const redactLine = (line: Buffer) => secrets.line(line);
  const mainWriter = await CaptureWriter.open(options.outDir, onCaptureError, redactLine);
  writers.set(null, mainWriter);
  const writerOf = (runId: string | null) => writers.get(runId) ?? mainWriter;

  const sink: ExchangeSink = {
    keepSecrets: options.keepSecrets ?? false,
    secrets,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    hold: (runId, work) => writerOf(runId).hold(work),
    // The record is built when the next batch is written, after the bytes already queued for
    // clients have gone out (decoding, redacting and encoding a large prompt is most of the
    // proxy's work per exchange); `after` sends the end of the response once the batch is written
    // (durable before acknowledged).
    record: (runId, build: () => RecordDraft, after) => {
      const flow = options.flowLine;
      if (!flow) return writerOf(runId).appendLater(build, after);
      // The live line reads the request (its dialect and model are derived from the bytes, as any
      // reader's are): only once the response has been released, so no exchange waits for it.
      let draft: RecordDraft | null = null;
      writerOf(runId).appendLater(
        () => (draft = build()),
        () => {
          after?.();
          try {
            if (draft) flow(draft);
          } catch (err) {
            // A line the terminal misses is no reason to hold up the other exchanges of this batch.
            log.warn({ err: (err as Error).message }, 'could not print the live line of an exchange');
          }
        },
      );
    },
  };

  const upstreamTrust = options.upstreamCa
    ? tls.createSecureContext({ ca: [...tls.rootCertificates, readFileSync(options.upstreamCa, 'utf8')] })
    : undefined;
  const { httpAgent, httpsAgent } = upstreamAgents(upstreamTrust);
  const mayPassTo = passthroughFilter(options.passthroughOnly);
  const notAllowed = (h: string, p: number) => `passthrough to ${h}:${p} is not allowed (--passthrough-only ${options.passthroughOnly!.join(',')})`;
  const passthrough: PassthroughOptions = {
    upstreamBase: options.upstreamUrl ? new URL(options.upstreamUrl) : null,
    mayPassTo,
    notAllowed,
    httpAgent,
    httpsAgent,
  };
  const stub: StubOptions = {
    text: options.stubText ?? DEFAULT_STUB_TEXT,
    ...(options.stubScript ? { script: options.stubScript } : {}),
    workDirOf: (runId) => (runId === null ? undefined : runWorkDirs.get(runId)),
  };

  // A WebSocket never goes through the library's relay: in stub mode nothing may leave the machine
  // (the stub answers an API that runs over a WebSocket and refuses the rest); in passthrough it
  // goes where an HTTP request would, recorded turn by turn.
  const upgrade =
    upstream === 'stub'
      ? (req: http.IncomingMessage, socket: Duplex, head: Buffer, conn: ConnectionInfo | undefined) => answerUpgradeWithStub(sink, stub, req, socket, head, conn)
      : (req: http.IncomingMessage, socket: Duplex, head: Buffer, conn: ConnectionInfo | undefined) =>
          relayUpgrade(sink, passthrough, (runId, work) => writerOf(runId).hold(work), req, socket, head, conn);

  const limits: Limits = { ...defaultLimits(), ...options.limits };
  const transport = await listen(
    { host, port: options.port ?? 0, allowRemote: options.allowRemote ?? false, ca, limits, httpAgent, httpsAgent },
    {
      rejected(conn, r, answer) {
        const ex = new Exchange(sink, conn, { url: r.url, method: r.method, httpVersion: r.httpVersion, rawHeaders: [], headers: {}, socket: null });
        ex.setRequestBody(Buffer.alloc(0), r.status !== 200);
        const body = r.answer ? r.answer.slice(r.answer.indexOf('\r\n\r\n') + 4) : '';
        if (r.status > 0) ex.response = { source: 'stub', status: r.status, headers: [['content-type', 'text/plain']], body: Buffer.from(body) };
        ex.note(r.stage, r.reason);
        ex.finish(answer);
      },
      request: (req, res, conn) => (upstream === 'stub' ? answerWithStub(sink, stub, req, res, conn) : passThrough(sink, passthrough, req, res, conn)),
      ...(upstream === 'passthrough' && !passthrough.upstreamBase
        ? {
            tunnel: (client, conn) =>
              relayTunnel(
                sink,
                {
                  trust: upstreamTrust,
                  bodyLimit: sink.bodyLimit,
                  refusal: (h, p) => (mayPassTo && !mayPassTo(h, p) ? notAllowed(h, p) : null),
                  hold: (runId, work) => writerOf(runId).hold(work),
                  own: (socket) => transport.own(socket),
                },
                client,
                conn,
              ),
          }
        : {}),
      upgrade,
    },
  );

  const running: RunningProxy = {
    host,
    port: transport.port,
    url: transport.url,
    caCertPath: ca.certPath,
    upstream,
    async addRunListener(runId, captureDir, listenerOptions = {}) {
      if (writers.has(runId)) throw new Error(`run ${runId} already has a listener`);
      writers.set(runId, await CaptureWriter.open(captureDir, onCaptureError, redactLine));
      if (listenerOptions.workDir !== undefined) runWorkDirs.set(runId, listenerOptions.workDir);
      const port = await transport.addRunListener(runId);
      return { port, url: transport.urlFor(port) };
    },
    async removeRunListener(runId) {
      await transport.removeRunListener(runId);
      runWorkDirs.delete(runId);
      await writers.get(runId)?.close();
    },
    exchangeCount(runId) {
      return writers.get(runId ?? null)?.written ?? 0;
    },
    limitsHit: () => transport.limitsHit(),
    async flush() {
      await Promise.all([...writers.values()].map((w) => w.flush()));
    },
    async close() {
      for (const id of [...writers.keys()]) if (id !== null) await running.removeRunListener(id);
      transport.close();
      httpAgent.destroy();
      httpsAgent.destroy();
      await running.flush();
      await mainWriter.close();
    },
  };
  log.debug({ url: running.url, upstream, out: options.outDir }, 'proxy listening');
  return running;
}
