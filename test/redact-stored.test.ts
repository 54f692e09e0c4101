import { describe, expect, it } from 'vitest';
import { redactStoredLine } from '../src/capture/redact-stored.js';
import { SecretValues } from '../src/capture/secret-values.js';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');
const latin = (s: string) => Buffer.from(s, 'utf8').toString('latin1');

describe('the runner\'s pass over a capture line (bodies in base64)', () => {
  const secrets = new SecretValues(['sk-known-secret-1234']);
  const tag = secrets.tag('sk-known-secret-1234');

  it('replaces a value inside a body and in the line, keeps every other byte, and updates the body size', () => {
    const body = `{"prompt":"caf\u00e9 sk-known-secret-1234 and http://bob:hunter2-pw@h/ x"}`;
    const line = JSON.stringify({ v: 2, request: { url: 'http://h/?q=sk-known-secret-1234', body: { base64: b64(body), size: Buffer.byteLength(body) } }, response: { body: { base64: b64('plain \u00e9') } } });
    const out = JSON.parse(Buffer.from(redactStoredLine(latin(line), secrets), 'latin1').toString('utf8')) as { request: { url: string; body: { base64: string; size: number } }; response: { body: { base64: string } } };
    const text = unb64(out.request.body.base64);
    expect(text).toBe(`{"prompt":"caf\u00e9 ${tag} and http://bob:${secrets.tag('hunter2-pw')}@h/ x"}`);
    expect(out.request.body.size).toBe(Buffer.byteLength(text));
    expect(out.request.url).toBe(`http://h/?q=${tag}`);
    expect(unb64(out.response.body.base64)).toBe('plain \u00e9');
  });

  it('returns a line without any value as it is, and searches a version-1 or torn line as text', () => {
    const clean = latin(JSON.stringify({ v: 2, request: { body: { base64: b64('nothing here') } }, response: null }));
    expect(redactStoredLine(clean, secrets)).toBe(clean);
    const v1 = latin(JSON.stringify({ v: 1, request: { body: { encoding: 'utf8', text: 'sk-known-secret-1234' } } }));
    expect(redactStoredLine(v1, secrets)).toBe(v1.replace('sk-known-secret-1234', tag));
    expect(redactStoredLine('{"v":2,"request":{"body":{"base64":"c2stk', secrets)).toBe('{"v":2,"request":{"body":{"base64":"c2stk');
  });

  it('searches the wire bytes of a body that failed to decode too (a body wrongly marked compressed)', () => {
    const line = latin(JSON.stringify({ v: 2, request: { body: { base64: b64('sk-known-secret-1234 not gzip'), decodeError: 'content-encoding gzip: bad' } }, response: null }));
    const out = JSON.parse(Buffer.from(redactStoredLine(line, secrets), 'latin1').toString('utf8')) as { request: { body: { base64: string } } };
    expect(unb64(out.request.body.base64)).toBe(`${tag} not gzip`);
  });
});
