import { describe, it, expect, beforeAll } from 'vitest';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { startProxy } from '../src/proxy/server.js';
import { readExchanges } from '../src/capture/store.js';
import { ensureCA } from '../src/ca/index.js';
import { WebSocketTap, type WsMessage } from '../src/proxy/websocket-tap.js';
import { tmp } from './helpers/clients.js';
import { wsFrame } from './helpers/websocket-frames.js';

/*
 * The stub as the WebSocket peer of a Responses client (Codex with supports_websockets): the
 * handshake, each response.create answered with the streamed events as text messages, control
 * frames answered, every message recorded; and a stub script played across turns that send only
 * what is new (previous_response_id), which a stateless reading of one message would restart.
 */

let certsDir: string;
beforeAll(async () => {
  certsDir = await tmp('certs');
  await ensureCA(certsDir);
});

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const OFF = { enabled: false, clientNoContextTakeover: false, serverNoContextTakeover: false };

/** A raw WebSocket client: the 101's head, then the server's data messages as JSON, in order. */
async function connect(port: number, path = '/v1/responses') {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: api.openai.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\nOpenAI-Beta: responses_websockets=2026-02-06\r\n\r\n`);
  const messages: unknown[] = [];
  const waiters: Array<() => void> = [];
  const tap = new WebSocketTap(OFF, (m: WsMessage) => {
    messages.push(JSON.parse(m.data.toString('utf8')));
    for (const w of waiters.splice(0)) w();
  }, (e) => {
    throw new Error(e);
  });
  let head = '';
  let headDone: (h: string) => void;
  const headPromise = new Promise<string>((r) => (headDone = r));
  let buf = Buffer.alloc(0);
  const controls: Buffer[] = [];
  socket.on('data', (c: Buffer) => {
    if (!head) {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      head = buf.subarray(0, end).toString('latin1');
      headDone(head);
      c = buf.subarray(end + 4);
    }
    // Control frames from the server (pong, close) are skipped by the tap: note their opcodes.
    if (c.length > 0 && (c[0]! & 0x0f) >= 0x8) controls.push(c);
    tap.fromServer(c);
  });
  const until = async (done: () => boolean) => {
    while (!done()) await new Promise<void>((r) => waiters.push(r));
  };
  return {
    head: await headPromise,
    socket,
    messages,
    controls,
    send: (text: string) => socket.write(wsFrame(text, { mask: true })),
    /** Waits for the next response.completed (or error) after the first `from` messages. */
    turn: async (from: number) => {
      await until(() => messages.slice(from).some((m) => ['response.completed', 'error'].includes((m as { type: string }).type)));
      return messages.slice(from);
    },
  };
}

const create = (extra: Record<string, unknown>) => JSON.stringify({ type: 'response.create', model: 'gpt-5-codex', instructions: 'You are Codex.', store: false, stream: true, ...extra });

describe('stub mode: the stub is the WebSocket peer of the Responses API', () => {
  it('completes the handshake, streams each turn as text messages, answers ping and close, and records every message', async () => {
    const out = await tmp('ws-out');
    const proxy = await startProxy({ outDir: out, certsDir });
    const c = await connect(proxy.port);
    expect(c.head).toMatch(/^HTTP\/1\.1 101 /);
    const accept = createHash('sha1').update(`${KEY}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    expect(c.head).toContain(`sec-websocket-accept: ${accept}`);
    expect(c.head.toLowerCase()).not.toContain('sec-websocket-extensions');

    c.send(create({ input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Today\u2019s task: say hi' }] }] }));
    const first = (await c.turn(0)) as Array<{ type: string; delta?: string; response?: { id: string } }>;
    expect(first[0]!.type).toBe('response.created');
    expect(first.at(-1)!.type).toBe('response.completed');
    expect(first.filter((m) => m.type === 'response.output_text.delta').map((m) => m.delta).join('')).toMatch(/\S/);

    c.send(JSON.stringify({ type: 'response.processed', response_id: first[0]!.response!.id }));
    c.socket.write(wsFrame('are you there', { opcode: 0x9, mask: true }));
    await new Promise((r) => setTimeout(r, 100));
    expect(c.controls.some((f) => (f[0]! & 0x0f) === 0xa && f.subarray(2).toString() === 'are you there')).toBe(true);
    c.socket.write(wsFrame(Buffer.from([0x03, 0xe8]), { opcode: 0x8, mask: true }));
    await new Promise<void>((r) => c.socket.once('close', () => r()));
    await proxy.close();

    const { records } = await readExchanges(out);
    expect(records.map((r) => r.request.method)).toEqual(['WEBSOCKET', 'WEBSOCKET']);
    const [turn, ack] = records;
    expect(turn!.dialect).toBe('openai-responses');
    expect(turn!.parsed!.model).toBe('gpt-5-codex');
    expect(turn!.parsed!.messages[0]!.text).toBe('Today\u2019s task: say hi');
    expect(turn!.response!.status).toBe(101);
    expect(turn!.response!.sse!.length).toBe(first.length);
    expect(ack!.request.body.text).toContain('response.processed');
    expect(ack!.response!.sse).toEqual([]);
  });

  it('plays a stub script across turns that send only what is new since the previous response', async () => {
    const out = await tmp('ws-script');
    const proxy = await startProxy({
      outDir: out,
      certsDir,
      stubScript: { items: [{ tool: 'exec_command', input: { cmd: 'echo $((6*7))-probe' } }, { text: 'Scripted end.' }], tools: {}, agent: 'test' },
    });
    const c = await connect(proxy.port);
    const tools = [{ type: 'function', name: 'exec_command', parameters: { type: 'object', properties: { cmd: { type: 'string' } } } }];
    c.send(create({ tools, input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'go' }] }] }));
    const first = (await c.turn(0)) as Array<{ type: string; item?: { type: string; name?: string; arguments?: string; call_id?: string }; response?: { id: string } }>;
    const call = first.find((m) => m.type === 'response.output_item.done')!.item!;
    expect(call).toMatchObject({ type: 'function_call', name: 'exec_command' });
    expect(JSON.parse(call.arguments!)).toEqual({ cmd: 'echo $((6*7))-probe' });

    // Turn two, as Codex sends it over a WebSocket: the tool's output alone, no tools repeated.
    const id = first[0]!.response!.id;
    c.send(create({ previous_response_id: id, input: [{ type: 'function_call_output', call_id: call.call_id, output: '42-probe' }] }));
    const second = (await c.turn(first.length)) as Array<{ type: string; delta?: string }>;
    expect(second.filter((m) => m.type === 'response.output_text.delta').map((m) => m.delta).join('')).toBe('Scripted end.');
    c.socket.destroy();
    await proxy.close();

    const { records } = await readExchanges(out);
    expect(records.map((r) => r.stubTurn?.index)).toEqual([0, 1]);
    expect(records[1]!.request.body.text).toContain('42-probe');
  });

  it('still refuses a WebSocket to an API that does not run over one (501, recorded)', async () => {
    const out = await tmp('ws-refuse');
    const proxy = await startProxy({ outDir: out, certsDir });
    const c = await connect(proxy.port, '/v1/messages');
    expect(c.head).toMatch(/^HTTP\/1\.1 501 /);
    await proxy.close();
    const { records } = await readExchanges(out);
    expect(records[0]!.response!.status).toBe(501);
  });
});
