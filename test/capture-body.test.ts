import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import zlib from 'node:zlib';
import { BodyBuffer, bodyView, captureBody, decodeBody, decodeBodySlow, utf8Prefix } from '../src/capture/body.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('BodyBuffer', () => {
  it('keeps every byte up to the limit and no hash', () => {
    const b = new BodyBuffer(10);
    b.push(Buffer.from('hello'));
    b.push(Buffer.from('world'));
    expect(b.bytes().toString()).toBe('helloworld');
    expect(b.overflow()).toBeUndefined();
  });

  it('past the limit keeps the first bytes, the full size and the hash of all of them', () => {
    const b = new BodyBuffer(8);
    const chunks = ['hello', 'world', '!!'].map((s) => Buffer.from(s));
    for (const c of chunks) b.push(c);
    expect(b.bytes().toString()).toBe('hellowor');
    expect(b.overflow()).toEqual({ size: 12, sha256: sha(Buffer.concat(chunks)) });
    expect(b.overflow()).toEqual(b.overflow());
  });
});

describe('bounded decoding', () => {
  const text = Buffer.from('a prompt '.repeat(1000));

  it('decodes a body that fits whole, synchronously', () => {
    expect(decodeBody(zlib.gzipSync(text), 'gzip', 1 << 20)).toEqual({ bytes: text, truncated: false });
  });

  it('leaves a body that decodes past the limit to the streaming decoder, which keeps the first bytes', async () => {
    const gz = zlib.gzipSync(text);
    expect(decodeBody(gz, 'gzip', 100)).toBeNull();
    const d = await decodeBodySlow(gz, 'gzip', 100, false);
    expect(d).toEqual({ bytes: text.subarray(0, 100), truncated: true });
  });

  it('reads the first bytes of a compressed body whose wire bytes were cut, and says so', async () => {
    const gz = zlib.gzipSync(Buffer.concat([text, Buffer.from(zlib.gzipSync(text).toString('hex'))]));
    const cut = gz.subarray(0, gz.length >> 1);
    expect(decodeBody(cut, 'gzip', 1 << 20, true)).toBeNull();
    const d = await decodeBodySlow(cut, 'gzip', 1 << 20, true);
    expect('bytes' in d && d.truncated && text.subarray(0, 1000).equals(d.bytes.subarray(0, 1000))).toBe(true);
  });

  it('refuses a zstd frame whose window is larger than the limit instead of allocating it', async () => {
    // Magic, no content size, window descriptor 2^(10+31): the decoder would allocate terabytes.
    const frame = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xf8, 0x03, 0x00, 0x00]);
    expect(decodeBody(frame, 'zstd', 1 << 20)).toBeNull();
    const d = await decodeBodySlow(frame, 'zstd', 1 << 20, false);
    expect('error' in d && d.error).toMatch(/window/);
  });
});

describe('a truncated body in the record', () => {
  it('stays text when the cut went through a character, and carries the wire size and hash', () => {
    const wire = Buffer.from('ab\u00e9\u00e9');
    expect(utf8Prefix(wire.subarray(0, 5)).toString()).toBe('ab\u00e9');
    const stored = captureBody({ wire: wire.subarray(0, 5), overflow: { size: 6, sha256: sha(wire) }, limit: 5 });
    // Stored: the five bytes as they came; read: the text without the character the cut went through.
    expect(stored).toMatchObject({ size: 5, wireSize: 6, truncated: true, sha256: sha(wire) });
    expect(stored.base64.bytes.equals(wire.subarray(0, 5))).toBe(true);
    const body = bodyView(stored);
    expect(body).toMatchObject({ encoding: 'utf8', text: 'ab\u00e9', size: 4, wireSize: 6, truncated: true, sha256: sha(wire) });
  });
});

describe('a permessage-deflate bomb in a WebSocket', () => {
  it('is cut at 64 MB instead of being inflated whole, and the next message still arrives', async () => {
    const { WebSocketTap, negotiatedDeflate } = await import('../src/proxy/websocket-tap.js');
    const { wsFrame } = await import('./helpers/websocket-frames.js');
    const raw = (data: Buffer) => {
      const all = zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      return all.subarray(0, all.length - 4);
    };
    const bomb = raw(Buffer.alloc(256 << 20, 'x'));
    const messages: Array<{ error?: string; data: Buffer }> = [];
    const tap = new WebSocketTap(negotiatedDeflate('permessage-deflate; server_no_context_takeover'), (m) => messages.push(m), () => undefined);
    tap.fromServer(Buffer.concat([wsFrame(bomb, { rsv1: true }), wsFrame(raw(Buffer.from('after')), { rsv1: true })]));
    await tap.settled();
    expect(messages[0]!.error).toMatch(/inflates to more than 64 MB/);
    expect(messages[0]!.data.length).toBe(bomb.length);
    expect(messages[1]!.data.toString()).toBe('after');
  });
});
