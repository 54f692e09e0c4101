import { describe, expect, it } from 'vitest';
import { WebSocketTap, negotiatedDeflate, type WsMessage } from '../src/proxy/websocket-tap.js';
import { wsDeflater, wsFrame } from './helpers/websocket-frames.js';

const OFF = negotiatedDeflate(undefined);

function collect(deflate = OFF) {
  const messages: WsMessage[] = [];
  const errors: string[] = [];
  const tap = new WebSocketTap(deflate, (m) => messages.push(m), (e) => errors.push(e));
  const summary = () => messages.map((m) => `${m.fromClient ? 'C' : 'S'}${m.opcode}:${m.error ? `!${m.error}` : m.data.toString('utf8')}`);
  return { tap, messages, errors, summary };
}

describe('WebSocketTap', () => {
  it('reads masked client and plain server messages of every length encoding, however the bytes are split', async () => {
    const big = 'x'.repeat(70_000);
    const mid = 'é'.repeat(200);
    const client = Buffer.concat([wsFrame('{"type":"response.create"}', { mask: true }), wsFrame(mid, { mask: true }), wsFrame(big, { mask: true })]);
    const server = Buffer.concat([wsFrame('a'), wsFrame(Buffer.from([0, 1, 2]), { opcode: 2 })]);
    for (const size of [1, 7, 125, 4096, client.length]) {
      const c = collect();
      for (let i = 0; i < client.length; i += size) c.tap.fromClient(client.subarray(i, i + size));
      for (let i = 0; i < server.length; i += size) c.tap.fromServer(server.subarray(i, i + size));
      await c.tap.settled();
      expect(c.errors).toEqual([]);
      expect(c.summary().slice(0, 3)).toEqual(['C1:{"type":"response.create"}', `C1:${mid}`, `C1:${big}`]);
      expect(c.messages[3]!.fromClient).toBe(false);
      expect(c.messages[4]!.data).toEqual(Buffer.from([0, 1, 2]));
    }
  });

  it('joins fragments and skips pings, pongs and close frames in between', async () => {
    const c = collect();
    c.tap.fromClient(
      Buffer.concat([
        wsFrame('hel', { mask: true, fin: false }),
        wsFrame('ping', { mask: true, opcode: 9 }),
        wsFrame('lo ', { mask: true, fin: false, opcode: 0 }),
        wsFrame('world', { mask: true, opcode: 0 }),
        wsFrame(Buffer.from([0x03, 0xe8]), { mask: true, opcode: 8 }),
      ]),
    );
    await c.tap.settled();
    expect(c.summary()).toEqual(['C1:hello world']);
  });

  it('inflates permessage-deflate messages in both directions, keeping the window between messages', async () => {
    const deflate = negotiatedDeflate('permessage-deflate; client_max_window_bits');
    expect(deflate).toEqual({ enabled: true, clientNoContextTakeover: false, serverNoContextTakeover: false });
    const c = collect(deflate);
    const fromClient = wsDeflater();
    const fromServer = wsDeflater();
    const text = '{"type":"response.create","instructions":"You are Codex, a coding agent."}';
    const c1 = await fromClient(text);
    const c2 = await fromClient(text); // mostly a back-reference into the first message
    expect(c2.length).toBeLessThan(c1.length / 2);
    c.tap.fromClient(Buffer.concat([wsFrame(c1, { mask: true, rsv1: true }), wsFrame('plain', { mask: true })]));
    c.tap.fromServer(wsFrame(await fromServer('{"type":"response.output_text.delta","delta":"Hi"}'), { rsv1: true }));
    c.tap.fromClient(wsFrame(c2, { mask: true, rsv1: true }));
    await c.tap.settled();
    expect(c.errors).toEqual([]);
    expect(c.summary()).toEqual([`C1:${text}`, 'C1:plain', 'S1:{"type":"response.output_text.delta","delta":"Hi"}', `C1:${text}`]);
  });

  it('reads no_context_takeover from the handshake, and marks a message it cannot inflate instead of dropping it', async () => {
    expect(negotiatedDeflate('x-webkit-deflate-frame, permessage-deflate; client_no_context_takeover; server_no_context_takeover')).toEqual({
      enabled: true,
      clientNoContextTakeover: true,
      serverNoContextTakeover: true,
    });
    const c = collect(negotiatedDeflate('permessage-deflate'));
    c.tap.fromServer(wsFrame(Buffer.from([0xff, 0xff, 0xff]), { rsv1: true }));
    const u = collect();
    u.tap.fromServer(wsFrame('x', { rsv1: true }));
    await c.tap.settled();
    await u.tap.settled();
    expect(c.messages[0]!.error).toMatch(/^permessage-deflate: /);
    expect(c.messages[0]!.data).toEqual(Buffer.from([0xff, 0xff, 0xff]));
    expect(u.messages[0]!.error).toBe('compressed (RSV1) without permessage-deflate negotiated');
  });

  it('reports broken framing once and stops', async () => {
    const c = collect();
    c.tap.fromClient(wsFrame('not masked'));
    c.tap.fromClient(wsFrame('more', { mask: true }));
    await c.tap.settled();
    expect(c.errors).toEqual(['client: an unmasked frame from the client']);
    expect(c.messages).toEqual([]);
    const d = collect();
    d.tap.fromServer(wsFrame('orphan', { opcode: 0 }));
    expect(d.errors).toEqual(['server: a continuation frame with no message to continue']);
  });
});
