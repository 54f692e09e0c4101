import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import zlib from 'node:zlib';
import { LineEncoder, RawBytes } from '../src/capture/encode.js';
import { storedBytes } from '../src/capture/body.js';
import { hasSecretField, mayHoldSecretField } from '../src/capture/redact.js';
import { StoredRecord } from '../src/capture/schema.js';
import { viewOf } from '../src/capture/view.js';
import { buildRecord, readExact, type RequestPart } from '../src/proxy/record.js';
import { detectDialect } from '../src/dialects/index.js';

/*
 * Raw-first capture: the proxy stores the bytes and derives nothing; readers derive the dialect's
 * view from them (capture/view.ts). These check that the stored bytes are exact, that the view a
 * reader derives is the reading the proxy would have made of the request exactly (what version 1
 * stored), and that the one reading left on the hot path (may a body hold a secret field?) never
 * lets one through.
 */

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

function encoded(value: unknown, redact?: (b: Buffer) => Buffer): Buffer {
  const enc = new LineEncoder();
  const { line, slab } = enc.encode(value, redact);
  const copy = Buffer.from(line);
  enc.release(slab);
  return copy;
}

const asLine = (json: string) => Buffer.from(`${json}\n`, 'utf8');

describe('the line of a record draft', () => {
  it('is JSON.stringify of the draft: bodies as the base64 of their bytes, anything in the rest', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.uint8Array({ maxLength: 200 }), text, fc.boolean(), (a, b, s, twice) => {
        const record = { v: 2, h: [['x', s]], request: { body: { base64: new RawBytes(Buffer.from(a)), size: a.length } }, response: twice ? { body: { base64: new RawBytes(Buffer.from(b)) }, m: [s] } : null, tail: s };
        const line = encoded(record);
        expect(line.equals(asLine(JSON.stringify(record)))).toBe(true);
        const back = JSON.parse(line.toString('utf8')) as { request: { body: { base64: string } } };
        expect(Buffer.from(back.request.body.base64, 'base64').equals(Buffer.from(a))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('falls back to JSON.stringify for frozen records and placeholder look-alikes', () => {
    const bytes = new RawBytes(Buffer.from('{"a":"\u00e9"}'));
    const cases: unknown[] = [
      Object.freeze({ a: 'x', b: Object.freeze({ base64: bytes }) }),
      { a: '\u0001promptdiff-raw-0', b: { base64: bytes } },
      { t: JSON.stringify('\u0001promptdiff-raw-0'), b: bytes },
      { big: new RawBytes(Buffer.alloc(400_000, 0x61)), s: '\u00e9'.repeat(100_000) },
    ];
    for (const c of cases) expect(encoded(c).equals(asLine(JSON.stringify(c)))).toBe(true);
  });

  it('is redacted without its bodies: a secret value is replaced in the headers, never inside base64', () => {
    // Bytes whose base64 holds the "secret" (which base64's alphabet can spell).
    const body = Buffer.from('AAAAAAAAAAAA', 'base64');
    expect(body.toString('base64')).toContain('AAAAAAAA');
    const redact = (b: Buffer) => Buffer.from(b.toString('latin1').replaceAll('AAAAAAAA', '[redacted:00000000]'), 'latin1');
    const record = { headers: [['x-k', 'AAAAAAAA']], request: { body: { base64: new RawBytes(body) } } };
    const out = JSON.parse(encoded(record, redact).toString('utf8')) as { headers: string[][]; request: { body: { base64: string } } };
    expect(out.headers[0]![1]).toBe('[redacted:00000000]');
    expect(Buffer.from(out.request.body.base64, 'base64').equals(body)).toBe(true);
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
    headers: [['content-type', 'application/json'], ...(contentEncoding ? [['content-encoding', contentEncoding] as [string, string]] : [])],
    contentEncoding,
    body,
    incomplete: false,
  };
}

/** What a reader of the capture gets for a request, and what the proxy would have read from it exactly (version 1 stored that). */
function storedAndExact(body: Buffer, contentEncoding?: string, path = '/v1/messages') {
  const p = part(body, contentEncoding, path);
  const head = { method: 'POST', path, headers: { 'content-type': 'application/json' } };
  const draft = buildRecord({
    seq: 1,
    id: '000001-abcdef',
    run: null,
    startedAt: new Date(0),
    route: 'forward',
    client: { address: '127.0.0.1', port: 1 },
    tunnel: null,
    request: p,
    dialect: detectDialect(head),
    response: { source: 'upstream', status: 200, headers: [['content-type', 'application/json']], body: Buffer.from('{"ok":"\u00e9"}') },
    errors: [],
    keepSecrets: true,
  });
  const line = encoded(draft);
  const stored = StoredRecord.parse(JSON.parse(line.toString('utf8')));
  const exact = readExact(head, part(body, contentEncoding, path), 'application/json');
  return { stored, view: viewOf(stored), exact, draft };
}

describe('the view a reader derives from the stored bytes', () => {
  const messages = (content: unknown) => ({ model: 'claude-x', system: [{ type: 'text', text: 'You are \u2019 here' }], messages: [{ role: 'user', content }] });

  it('is the exact reading of the request, from bytes stored exactly, for any Anthropic body', () => {
    fc.assert(
      fc.property(jsonDoc, fc.constantFrom('raw', 'escaped', 'gzip', 'broken'), (content, form) => {
        let json = JSON.stringify(messages(content));
        if (form === 'escaped') json = json.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
        let body = Buffer.from(json, 'utf8');
        if (form === 'broken') body = Buffer.concat([body.subarray(0, Math.max(0, body.length - 3)), Buffer.from([0xc3])]);
        const { stored, view, exact } = storedAndExact(form === 'gzip' ? zlib.gzipSync(body) : body, form === 'gzip' ? 'gzip' : undefined);
        expect(storedBytes(stored.request.body).equals(body)).toBe(true);
        expect(view.parsed).toEqual(exact.parsed);
        expect(view.dialect).toBe('anthropic-messages');
        expect(view.errors).toEqual(exact.errors);
        if (form === 'broken') expect(view.request.body.encoding).toBe('base64');
        else expect(view.request.body).toMatchObject({ encoding: 'utf8', text: body.toString('utf8'), size: body.length });
      }),
      { numRuns: 300 },
    );
  });

  it('is the exact reading for every dialect, whatever text and JSON sit in its fields', () => {
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
          const { view, exact } = storedAndExact(body, undefined, path);
          expect(view.dialect).toBe(dialect);
          expect(view.parsed).toEqual(exact.parsed);
        }),
        { numRuns: 120 },
      );
    }
  });

  it('keeps non-JSON, invalid UTF-8, a BOM and bodies that fail to decompress as their bytes', () => {
    const bodies: Array<[Buffer, string?]> = [
      [Buffer.from('not json at all ' + 'é'.repeat(300))],
      [Buffer.from('{"messages": [ "unterminated ' + 'é'.repeat(300))],
      [Buffer.concat([Buffer.from('{"model":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')])],
      [Buffer.from('\ufeff' + JSON.stringify(messages('é'.repeat(300))))],
      [Buffer.from('{"a":1}' + ' '.repeat(400), 'utf8'), 'gzip'],
    ];
    for (const [b, ce] of bodies) {
      const { stored, view, exact } = storedAndExact(b, ce);
      expect(storedBytes(stored.request.body).equals(b)).toBe(true);
      expect(view.parsed).toEqual(exact.parsed);
      expect(view.errors.filter((e) => e.stage === 'parse')).toEqual(exact.errors);
      if (ce) expect(stored.request.body.decodeError).toMatch(/gzip/);
    }
  });
});

describe('the hot path\'s one question about a body: may it hold a secret field?', () => {
  /** Field names: secret ones in every spelling the word rule accepts, and look-alikes that are not. */
  const names = fc.constantFrom('api_key', 'apiKey', 'API_KEY', 'x-api-key', 'accessToken', 'refresh_token', 'client_secret', 'password', 'Passwd', 'credentials', 'max_tokens', 'keywords', 'passage', 'tokenizer', 'text', 'type', 'k');
  const doc = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: 'small' }, text, fc.integer(), fc.array(tie('value'), { maxLength: 3 }), fc.dictionary(fc.oneof(names, text), tie('value'), { maxKeys: 4 })),
  })).value;
  /** The same JSON as different writers spell it: compact, Python's json.dumps, \u-escaped, pretty-printed. */
  const spell = (v: unknown, how: number): string => {
    const compact = JSON.stringify(v) ?? 'null';
    if (how === 1) return JSON.stringify(v, null, 1) ?? 'null';
    // Every third letter as a \u escape, existing escapes left whole.
    if (how === 2) return compact.replace(/\\u[0-9a-fA-F]{4}|\\.|[a-z]/g, (c, at: number) => (c.length === 1 && at % 3 === 0 ? `\\u00${c.charCodeAt(0).toString(16)}` : c));
    if (how === 3) return compact.replace(/":/g, '" : ');
    return compact;
  };

  it('is never false for a body that has one (any spelling, nesting, escapes)', () => {
    let secret = 0;
    fc.assert(
      fc.property(doc, fc.integer({ min: 0, max: 3 }), (v, how) => {
        const json = spell(v, how);
        const latin = Buffer.from(json, 'utf8').toString('latin1');
        const has = hasSecretField(JSON.parse(json));
        if (has) {
          secret += 1;
          expect(mayHoldSecretField(latin)).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
    expect(secret).toBeGreaterThan(100);
  });

  it('is false for a prompt without one, even one quoting a key in its text', () => {
    expect(mayHoldSecretField(JSON.stringify({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'my api key is "api_key": "x" in the doc' }] }))).toBe(false);
    expect(mayHoldSecretField(JSON.stringify({ a: 1, text: 'the token' }))).toBe(false);
    expect(mayHoldSecretField('{"pat":"x"}', ['pat'])).toBe(true);
  });
});
