import zlib from 'node:zlib';

/**
 * A passive WebSocket reader (RFC 6455, with permessage-deflate, RFC 7692) for a relayed
 * connection after its 101: fed copies of the bytes going each way, it yields the data messages in
 * the order they completed. Control frames (ping, pong, close) are skipped. Decompression is
 * asynchronous (zlib streams keep the sliding window between messages, as context takeover
 * needs), so messages are delivered through a queue that keeps arrival order.
 */

export interface WsMessage {
  fromClient: boolean;
  /** 1 text, 2 binary. */
  opcode: number;
  data: Buffer;
  at: Date;
  /** Set when the payload could not be decompressed: `data` then holds it as received. */
  error?: string;
}

export interface Deflate {
  /** The client compresses (a permessage-deflate offer the server accepted). */
  enabled: boolean;
  clientNoContextTakeover: boolean;
  serverNoContextTakeover: boolean;
}

/** What the server's 101 accepted of permessage-deflate (its Sec-WebSocket-Extensions). */
export function negotiatedDeflate(extensions: string | undefined): Deflate {
  const off: Deflate = { enabled: false, clientNoContextTakeover: false, serverNoContextTakeover: false };
  if (!extensions) return off;
  for (const ext of extensions.split(',')) {
    const [name, ...params] = ext.split(';').map((p) => p.trim().toLowerCase());
    if (name !== 'permessage-deflate') continue;
    return {
      enabled: true,
      clientNoContextTakeover: params.some((p) => p.startsWith('client_no_context_takeover')),
      serverNoContextTakeover: params.some((p) => p.startsWith('server_no_context_takeover')),
    };
  }
  return off;
}

const MAX_MESSAGE = 64 * 1024 * 1024;
const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** One direction's frames. */
class FrameReader {
  private pending: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentBytes = 0;
  private opcode = 0;
  private compressed = false;
  stopped = false;

  constructor(
    private readonly masked: boolean,
    private readonly onMessage: (opcode: number, compressed: boolean, data: Buffer) => void,
    private readonly fail: (message: string) => void,
    private readonly onControl?: (opcode: number, payload: Buffer) => void,
  ) {}

  feed(chunk: Buffer): void {
    if (this.stopped) return;
    const data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    let at = 0;
    for (;;) {
      if (data.length - at < 2) break;
      const b0 = data[at]!;
      const b1 = data[at + 1]!;
      const fin = (b0 & 0x80) !== 0;
      const rsv1 = (b0 & 0x40) !== 0;
      const opcode = b0 & 0x0f;
      const isMasked = (b1 & 0x80) !== 0;
      let length = b1 & 0x7f;
      let head = 2;
      if (length === 126) {
        if (data.length - at < 4) break;
        length = data.readUInt16BE(at + 2);
        head = 4;
      } else if (length === 127) {
        if (data.length - at < 10) break;
        const big = data.readBigUInt64BE(at + 2);
        if (big > BigInt(MAX_MESSAGE)) return this.fail(`a frame of ${big} bytes`);
        length = Number(big);
        head = 10;
      }
      if (isMasked !== this.masked) return this.fail(this.masked ? 'an unmasked frame from the client' : 'a masked frame from the server');
      const maskAt = at + head;
      if (isMasked) head += 4;
      if (data.length - at < head + length) break;
      let payload = data.subarray(at + head, at + head + length);
      if (isMasked) {
        payload = Buffer.from(payload);
        for (let i = 0; i < payload.length; i++) payload[i]! ^= data[maskAt + (i & 3)]!;
      }
      at += head + length;
      if (opcode >= 0x8) {
        // close, ping, pong: not part of any message; only a peer (the stub) answers them.
        this.onControl?.(opcode, payload);
        continue;
      }
      if (opcode !== 0) {
        if (this.fragments.length > 0) return this.fail('a new message before the last one ended');
        this.opcode = opcode;
        this.compressed = rsv1;
      } else if (this.fragments.length === 0) {
        return this.fail('a continuation frame with no message to continue');
      }
      this.fragments.push(payload);
      this.fragmentBytes += payload.length;
      if (this.fragmentBytes > MAX_MESSAGE) return this.fail('a message larger than 64 MB');
      if (fin) {
        const whole = this.fragments.length === 1 ? this.fragments[0]! : Buffer.concat(this.fragments);
        const op = this.opcode;
        const compressed = this.compressed;
        this.fragments = [];
        this.fragmentBytes = 0;
        this.opcode = 0;
        this.compressed = false;
        this.onMessage(op, compressed, whole);
      }
    }
    this.pending = at < data.length ? Buffer.from(data.subarray(at)) : Buffer.alloc(0);
  }
}

/** Inflates one direction's compressed messages in order, keeping the window unless told not to. */
class Inflater {
  private stream: zlib.InflateRaw | null = null;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly noContextTakeover: boolean) {}

  inflate(data: Buffer): Promise<Buffer> {
    const result = this.chain.then(() => this.run(data));
    this.chain = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private run(data: Buffer): Promise<Buffer> {
    if (!this.stream || this.noContextTakeover) {
      this.stream?.close();
      this.stream = zlib.createInflateRaw();
    }
    const stream = this.stream;
    return new Promise<Buffer>((resolve, reject) => {
      const out: Buffer[] = [];
      let size = 0;
      const onData = (c: Buffer) => {
        size += c.length;
        if (size <= MAX_MESSAGE) {
          out.push(c);
          return;
        }
        // A deflate bomb: stop inflating. The window is lost, so later messages start afresh.
        stream.off('data', onData);
        this.stream = null;
        stream.destroy();
        reject(new Error('the message inflates to more than 64 MB'));
      };
      const onError = (err: Error) => {
        stream.off('data', onData);
        this.stream = null;
        reject(err);
      };
      stream.on('data', onData);
      stream.once('error', onError);
      stream.write(data);
      stream.write(DEFLATE_TAIL);
      stream.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        stream.off('data', onData);
        stream.off('error', onError);
        resolve(Buffer.concat(out));
      });
    });
  }

  close(): void {
    this.stream?.close();
  }
}

export class WebSocketTap {
  private readonly client: FrameReader;
  private readonly server: FrameReader;
  private readonly clientInflater: Inflater | null;
  private readonly serverInflater: Inflater | null;
  /** Messages in arrival order; each resolves once decoded. */
  private delivery: Promise<void> = Promise.resolve();
  private failed = false;

  constructor(
    deflate: Deflate,
    private readonly onMessage: (message: WsMessage) => void,
    private readonly onError: (message: string) => void,
    /** The client's control frames (close, ping, pong), for a peer that must answer them. */
    onClientControl?: (opcode: number, payload: Buffer) => void,
  ) {
    this.clientInflater = deflate.enabled ? new Inflater(deflate.clientNoContextTakeover) : null;
    this.serverInflater = deflate.enabled ? new Inflater(deflate.serverNoContextTakeover) : null;
    this.client = new FrameReader(true, (op, c, d) => this.message(true, op, c, d), (m) => this.fail(`client: ${m}`), onClientControl);
    this.server = new FrameReader(false, (op, c, d) => this.message(false, op, c, d), (m) => this.fail(`server: ${m}`));
  }

  fromClient(chunk: Buffer): void {
    this.client.feed(chunk);
  }

  fromServer(chunk: Buffer): void {
    this.server.feed(chunk);
  }

  /** Resolves once every message read so far has been delivered. */
  settled(): Promise<void> {
    return this.delivery;
  }

  close(): void {
    this.client.stopped = true;
    this.server.stopped = true;
    this.clientInflater?.close();
    this.serverInflater?.close();
  }

  private message(fromClient: boolean, opcode: number, compressed: boolean, data: Buffer): void {
    const at = new Date();
    const inflater = fromClient ? this.clientInflater : this.serverInflater;
    const decoded: Promise<WsMessage> =
      compressed && inflater
        ? inflater.inflate(data).then(
            (plain) => ({ fromClient, opcode, data: plain, at }),
            (err: Error) => ({ fromClient, opcode, data, at, error: `permessage-deflate: ${err.message}` }),
          )
        : Promise.resolve(
            compressed ? { fromClient, opcode, data, at, error: 'compressed (RSV1) without permessage-deflate negotiated' } : { fromClient, opcode, data, at },
          );
    this.delivery = this.delivery.then(async () => this.onMessage(await decoded));
  }

  private fail(message: string): void {
    if (this.failed) return;
    this.failed = true;
    this.close();
    this.onError(message);
  }
}
