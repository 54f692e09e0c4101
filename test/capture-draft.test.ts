import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import zlib from 'node:zlib';
import { ByteStrings, LineEncoder, Utf8Text, byteStringsSafe, fromByteStrings } from '../src/capture/encode.js';
import { buildRecord, readExact, readForRecord, type RequestPart, type ParsedView } from '../src/proxy/record.js';
import { ExchangeRecord } from '../src/capture/schema.js';

/** Text with the characters that matter to JSON and UTF-8: quotes, controls, every UTF-8 length, astral. */
const text = fc.string({ unit: fc.oneof(fc.constantFrom('"', '\\', '\n', '\u0001', '\u007f', 'é', '中', '\u2019', '\u200b', '😀', '\ufeff', 'a', ' '), fc.string({ unit: 'binary', maxLength: 3 })), maxLength: 400 });
const longText = fc.tuple(text, fc.integer({ min: 0, max: 3 })).map(([t, n]) => t + 'x\u00e9"'.repeat(n * 400));

/** JSON values whose strings and keys have all of the above, "__proto__" keys included. */
const jsonDoc = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    text,
    longText,
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(text, fc.constant('__proto__')), tie('value'), { maxKeys: 4 }),
  ),
})).value;

function encoded(value: unknown): Buffer {
  const enc = new LineEncoder();
  const { line, slab } = enc.encode(value);
  const copy = Buffer.from(line);
  enc.release(slab);
  return copy;
}

const asLine = (json: string) => Buffer.from(`${json}\n`, 'utf8');

describe('stand-ins for undecoded text', () => {
  it('Utf8Text encodes as the string its bytes hold', () => {
    fc.assert(
      fc.property(fc.oneof(text, longText), (s) => {
        fc.pre((s as unknown as { isWellFormed(): boolean }).isWellFormed());
        const record = { a: 1, body: { text: new Utf8Text(Buffer.from(s, 'utf8')) }, b: [s] };
        expect(encoded(record).equals(asLine(JSON.stringify({ a: 1, body: { text: s }, b: [s] })))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('ByteStrings of latin1-parsed UTF-8 JSON encode as the exact parse, when byteStringsSafe', () => {
    let safe = 0;
    fc.assert(
      fc.property(jsonDoc, fc.boolean(), (doc, asciiEscapes) => {
        // asciiEscapes: how Python's json.dumps writes by default (\u00e9 for é); unsafe on purpose.
        let json = JSON.stringify(doc) ?? 'null';
        if (asciiEscapes) json = json.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
        const bytes = Buffer.from(json, 'utf8');
        if (!byteStringsSafe(bytes.toString('latin1'))) {
          expect(/\\u00[89a-f]|\\u0[1-9a-f]|\\u[1-9a-f]/i.test(json)).toBe(true);
          return;
        }
        safe += 1;
        const parsed: unknown = JSON.parse(bytes.toString('latin1'));
        const exact: unknown = JSON.parse(json);
        expect(JSON.stringify(fromByteStrings(parsed))).toBe(JSON.stringify(exact));
        const record = { v: 1, parsed: new ByteStrings(parsed), tail: 'z' };
        expect(encoded(record).equals(asLine(JSON.stringify({ v: 1, parsed: exact, tail: 'z' })))).toBe(true);
      }),
      { numRuns: 400 },
    );
    expect(safe).toBeGreaterThan(100);
  });

  it('falls back to the exact encoding where a placeholder look-alike is in the text', () => {
    const tricky = '\u0001promptdiff-splice-0'.repeat(80) + 'é';
    const bytes = Buffer.from(JSON.stringify({ s: tricky, t: 'y'.repeat(2000) }));
    const record = { body: new Utf8Text(bytes), parsed: new ByteStrings(JSON.parse(bytes.toString('latin1'))) };
    expect(encoded(record).equals(asLine(JSON.stringify({ body: bytes.toString('utf8'), parsed: { s: tricky, t: 'y'.repeat(2000) } })))).toBe(true);
  });
});

/** A request as the proxy would hold it. */
function part(body: Buffer, contentEncoding?: string, path = '/v1/messages'): RequestPart {
  return {
    method: 'POST',
    url: `https://api.example.com${path}`,
    host: 'api.example.com',
    path,
    httpVersion: '1.1',
    headers: [['content-type', 'application/json']],
    contentEncoding,
    body,
    incomplete: false,
  };
}

function record(p: RequestPart, view: ParsedView, bytesText: boolean) {
  return buildRecord({
    seq: 1,
    id: '000001-abcdef',
    run: null,
    startedAt: new Date(0),
    route: 'forward',
    client: { address: '127.0.0.1', port: 1 },
    tunnel: null,
    request: p,
    view,
    response: { source: 'upstream', status: 200, headers: [['content-type', 'application/json']], body: Buffer.from('{"ok":"\u00e9"}') },
    errors: [],
    keepSecrets: false,
    bytesText,
  });
}

/** The record the proxy writes for a body, on the cheap path and on the exact path. */
function bothWays(body: Buffer, contentEncoding?: string, path = '/v1/messages'): { cheap: Buffer; exact: Buffer } {
  const head = { method: 'POST', path, headers: { 'content-type': 'application/json' } };
  const cheapPart = part(body, contentEncoding, path);
  const cheap = record(cheapPart, readForRecord(head, cheapPart, 'application/json'), true);
  const exactPart = part(body, contentEncoding, path);
  const exact = record(exactPart, readExact(head, exactPart, 'application/json'), false);
  // completedAt is the clock at build time.
  const c = encoded({ ...cheap, completedAt: '' });
  const e = encoded({ ...exact, completedAt: '' });
  return { cheap: c, exact: e };
}

describe('the record read the cheap way (readForRecord)', () => {
  const messages = (content: unknown) => ({ model: 'claude-x', system: [{ type: 'text', text: 'You are \u2019 here' }], messages: [{ role: 'user', content }] });

  const anyAnthropicBody = () =>
    fc.property(jsonDoc, fc.oneof(fc.constant('raw'), fc.constant('escaped'), fc.constant('gzip'), fc.constant('broken')), (content, form) => {
        let json = JSON.stringify(messages(content));
        if (form === 'escaped') json = json.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
        let body = Buffer.from(json, 'utf8');
        if (form === 'broken') body = Buffer.concat([body.subarray(0, Math.max(0, body.length - 3)), Buffer.from([0xc3])]);
        const { cheap, exact } = bothWays(form === 'gzip' ? zlib.gzipSync(body) : body, form === 'gzip' ? 'gzip' : undefined);
        expect(cheap.toString('utf8')).toBe(exact.toString('utf8'));
        expect(cheap.equals(exact)).toBe(true);
        expect(ExchangeRecord.safeParse(JSON.parse(cheap.toString('utf8'))).success).toBe(true);
      });

  it('is byte-identical to the exact record, and a valid ExchangeRecord, for any Anthropic body', () => {
    fc.assert(anyAnthropicBody(), { numRuns: 300 });
  });

  it('replays the body that named a secret field by its UTF-8 bytes (body:key\u00c2\u0080 in the cheap record)', () => {
    // Found by the property above; the cheap reading judged JSON whitespace with /\\s/ and kept a byte string's field name as bytes.
    fc.assert(anyAnthropicBody(), { seed: -1976826216, path: '186:3:2:3:7:36:38:37:37:37:37:37:37:37:37:37:37:37:38:39:38:37:38:35:35', endOnFailure: true });
  });

  it('is byte-identical to the exact record for every dialect, whatever text and JSON sit in its fields', () => {
    // Each dialect's request shape, with random text and JSON in every field its parser reads.
    const shapes: Array<[string, string, (doc: unknown, t: string) => unknown]> = [
      ['anthropic-messages', '/v1/messages', (doc, t) => ({ model: t, system: [{ type: 'text', text: t }], messages: [{ role: t, content: doc }, { role: 'assistant', content: [{ type: 'text', text: t }, { type: 'tool_use', name: t, input: doc }, { type: 'tool_result', content: [{ type: 'text', text: t }] }] }], tools: [{ name: t, description: t, input_schema: doc }], metadata: { user_id: t }, temperature: doc })],
      ['openai-chat', '/v1/chat/completions', (doc, t) => ({ model: t, messages: [{ role: 'system', content: t }, { role: 'user', content: doc }, { role: 'tool', content: [{ type: 'text', text: t }] }], tools: [{ type: 'function', function: { name: t, description: t, parameters: doc } }], stream: true, user: doc })],
      ['openai-responses', '/v1/responses', (doc, t) => ({ model: t, instructions: t, input: [{ role: 'user', content: [{ type: 'input_text', text: t }] }, doc, { type: 'function_call_output', output: t }], tools: [{ type: 'function', name: t, description: t, parameters: doc }], reasoning: doc })],
      ['gemini', '/v1beta/models/gemini-2.5-pro:streamGenerateContent', (doc, t) => ({ systemInstruction: { parts: [{ text: t }] }, contents: [{ role: t, parts: [{ text: t }, doc] }], tools: [{ functionDeclarations: [{ name: t, description: t, parameters: doc }] }], generationConfig: doc })],
    ];
    for (const [dialect, path, shape] of shapes) {
      fc.assert(
        fc.property(jsonDoc, fc.oneof(text, longText), (doc, t) => {
          const body = Buffer.from(JSON.stringify(shape(doc, `${t}\u00e9`)), 'utf8');
          const { cheap, exact } = bothWays(body, undefined, path);
          expect(cheap.toString('utf8')).toBe(exact.toString('utf8'));
          const rec = JSON.parse(cheap.toString('utf8')) as { dialect: string };
          expect(rec.dialect).toBe(dialect);
        }),
        { numRuns: 120 },
      );
    }
  });

  it('matches the exact record for non-JSON, invalid UTF-8, a BOM and bodies that fail to decompress', () => {
    const bodies: Array<[Buffer, string?]> = [
      [Buffer.from('not json at all, but long enough to leave the short path: ' + 'é'.repeat(300))],
      [Buffer.from('{"messages": [ "unterminated ' + 'é'.repeat(300))],
      [Buffer.concat([Buffer.from('{"model":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}'), Buffer.alloc(300, 0x20)])],
      [Buffer.from('\ufeff' + JSON.stringify(messages('é'.repeat(300))))],
      [Buffer.from('{"a":1}' + ' '.repeat(400), 'utf8'), 'gzip'],
      [Buffer.from(JSON.stringify(messages('\\u00e9 literally, and é'.repeat(30))))],
    ];
    for (const [b, ce] of bodies) {
      const { cheap, exact } = bothWays(b, ce);
      expect(cheap.toString('utf8')).toBe(exact.toString('utf8'));
    }
  });

  it('keeps the parsed view as byte strings only where that is exact', () => {
    const head = { method: 'POST', path: '/v1/messages', headers: {} };
    const p1 = part(Buffer.from(JSON.stringify(messages('é'.repeat(300)))));
    expect(readForRecord(head, p1, 'application/json').parsed).toBeInstanceOf(ByteStrings);
    const p2 = part(Buffer.from(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'e'.repeat(300) }] })));
    expect(readForRecord(head, p2, 'application/json').parsed).not.toBeInstanceOf(ByteStrings);
    const p3 = part(Buffer.from(JSON.stringify(messages('é'.repeat(300))).replace('\u2019', '\\u2019')));
    expect(readForRecord(head, p3, 'application/json').parsed).not.toBeInstanceOf(ByteStrings);
  });
});
