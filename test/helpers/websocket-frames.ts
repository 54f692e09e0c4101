import zlib from 'node:zlib';

/** One WebSocket frame (RFC 6455), masked as a client's must be. */
export function wsFrame(payload: Buffer | string, o: { opcode?: number; fin?: boolean; mask?: boolean; rsv1?: boolean } = {}): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const { opcode = 1, fin = true, mask = false, rsv1 = false } = o;
  const len = data.length;
  const head: number[] = [(fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode];
  const m = mask ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len < 0x10000) head.push(m | 126, len >> 8, len & 0xff);
  else {
    head.push(m | 127);
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(len));
    head.push(...b);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), data]);
  const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const masked = Buffer.from(data);
  for (let i = 0; i < masked.length; i++) masked[i]! ^= key[i & 3]!;
  return Buffer.concat([Buffer.from(head), key, masked]);
}

/** A permessage-deflate compressor keeping its window between messages (context takeover). */
export function wsDeflater(): (text: string) => Promise<Buffer> {
  const d = zlib.createDeflateRaw();
  return (text) =>
    new Promise((resolve) => {
      const out: Buffer[] = [];
      const on = (c: Buffer) => out.push(c);
      d.on('data', on);
      d.write(Buffer.from(text, 'utf8'));
      d.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        d.off('data', on);
        const all = Buffer.concat(out);
        // The message ends without the sync flush's empty stored block (RFC 7692 7.2.1).
        resolve(all.subarray(0, all.length - 4));
      });
    });
}
