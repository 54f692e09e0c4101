import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import { defaultUpstreamFor } from '../src/proxy/upstream.js';
import { describe, expect, it } from 'vitest';
import { ParsedRequest } from '../src/capture/schema.js';
import { anthropicMessages, detectDialect, dialects, gemini, openaiChat, openaiResponses, parseUnknown, unknownStub, type Dialect, type RequestHead } from '../src/dialects/index.js';
import { head, post, sseOf } from './helpers/dialect-fixtures.js';

/** What every dialect must do (the shared property suite), which dialect a request is, and traffic no dialect claims. Each dialect's own cases: test/dialect-<name>.test.ts. */
describe('recognition', () => {
  const cases: Array<[RequestHead, string | null]> = [
    [post('/v1/messages'), 'anthropic-messages'],
    [post('/v1/messages?beta=true'), 'anthropic-messages'],
    [post('/v1/messages/count_tokens?beta=true'), 'anthropic-messages'],
    [post('/anthropic/v1/messages'), 'anthropic-messages'],
    [head('GET', '/v1/messages'), null],
    [post('/v1/chat/completions'), 'openai-chat'],
    [post('/chat/completions'), 'openai-chat'],
    [post('/api/v1/chat/completions'), 'openai-chat'],
    [post('/compatible-mode/v1/chat/completions?x=1'), 'openai-chat'],
    [post('/v1/responses'), 'openai-responses'],
    [post('/backend-api/codex/responses'), 'openai-responses'],
    [post('/v1/responses/compact'), 'openai-responses'],
    [post('/v1/responses/resp_1/cancel'), null],
    [head('GET', '/v1/responses'), null],
    [post('/v1beta/models/gemini-2.5-pro:generateContent'), 'gemini'],
    [post('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse'), 'gemini'],
    [post('/v1beta/models/gemini-2.5-flash:countTokens'), 'gemini'],
    [post('/v1/models/gemini-2.5-flash:generateContent'), 'gemini'],
    [post('/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent'), 'gemini'],
    [post('/v1internal:streamGenerateContent?alt=sse'), 'gemini'],
    [post('/v1beta/models/gemini-2.5-pro:embedContent'), null],
    [head('GET', '/v1/models'), null],
    [post('/v1/completions'), null],
    [post('/v1/messages/batches'), null],
    [post('/'), null],
  ];
  it.each(cases)('%o → %s', (h, name) => {
    expect(detectDialect(h)?.name ?? null).toBe(name);
    // Each request is claimed by at most one dialect, so order in `dialects` cannot change the answer.
    expect(dialects.filter((d) => d.matches(h)).length).toBe(name === null ? 0 : 1);
  });
});

describe('every dialect', () => {
  const heads: Record<string, RequestHead> = {
    'anthropic-messages': post('/v1/messages'),
    'openai-chat': post('/v1/chat/completions'),
    'openai-responses': post('/v1/responses'),
    gemini: post('/v1beta/models/g:streamGenerateContent?alt=sse'),
    // Vendor APIs (test/dialects-vendor.test.ts): one request each that the stub answers 200.
    qoder: head('GET', '/algo/api/v3/service/region/endpoints', { host: 'center.qoder.sh' }),
    augment: post('/get-models'),
    amp: post('/api/internal?getUserInfo'),
  };
  const MODEL_DIALECTS = new Set(['anthropic-messages', 'openai-chat', 'openai-responses', 'gemini']);

  it.each(dialects.map((d) => [d.name, d] as [string, Dialect]))('%s: parse never throws and fits the schema', (name, d) => {
    const h = heads[name]!;
    for (const junk of [null, undefined, 'text', 42, [], {}, { model: 5, messages: 'x', system: {}, tools: [null, 1] }]) {
      const p = d.parse(h, junk);
      expect(ParsedRequest.parse(p)).toEqual(p);
      expect(p.dialect).toBe(name);
    }
    fc.assert(
      fc.property(fc.jsonValue(), (body) => {
        ParsedRequest.parse(d.parse(h, body));
      }),
      { numRuns: 200 },
    );
    fc.assert(
      fc.property(
        fc.record({ model: fc.anything(), messages: fc.anything(), contents: fc.anything(), input: fc.anything(), system: fc.anything() }),
        (body) => {
          ParsedRequest.parse(d.parse(h, body));
        },
      ),
      { numRuns: 200 },
    );
  });

  it.each(dialects.map((d) => [d.name, d] as [string, Dialect]))('%s: a garbage body still gets a stub', (name, d) => {
    for (const junk of [null, 'x', { stream: true }]) {
      const r = d.stub(heads[name]!, junk, { text: 'hello there' });
      expect(r.status).toBe(200);
      expect(r.headers['x-promptdiff-stub']).toBe('1');
      expect(r.chunks.join('').length).toBeGreaterThan(0);
    }
  });

  it('stub ids differ between calls', () => {
    const a = JSON.parse(anthropicMessages.stub(heads['anthropic-messages']!, {}, { text: 'x' }).chunks.join(''));
    const b = JSON.parse(anthropicMessages.stub(heads['anthropic-messages']!, {}, { text: 'x' }).chunks.join(''));
    expect(a.id).not.toBe(b.id);
  });

  it('a one-character text still streams and assembles', () => {
    for (const d of dialects.filter((x) => MODEL_DIALECTS.has(x.name))) {
      const body = d.name === 'gemini' ? {} : { stream: true };
      expect(d.assembleText(sseOf(d.stub(heads[d.name]!, body, { text: '\u{E0041}' })))).toBe('\u{E0041}');
    }
  });
});

describe('unknown traffic', () => {
  it('answers HEAD / and GET / with an empty 200', () => {
    for (const m of ['HEAD', 'GET']) {
      const r = unknownStub(head(m, '/'));
      expect(r.status).toBe(200);
      expect(r.chunks.join('')).toBe('');
      expect(r.headers['x-promptdiff-stub']).toBe('1');
    }
  });

  it('lists models in a shape Anthropic and OpenAI clients both read', () => {
    const a = JSON.parse(unknownStub(head('GET', '/v1/models', { 'anthropic-version': '2023-06-01' })).chunks.join(''));
    expect(a.data[0].id).toMatch(/^claude/);
    expect(a.data[0].type).toBe('model');
    expect(a.has_more).toBe(false);
    const o = JSON.parse(unknownStub(head('GET', '/v1/models?limit=10')).chunks.join(''));
    expect(o.object).toBe('list');
    expect(o.data.length).toBeGreaterThanOrEqual(2);
    expect(o.data[0]).toMatchObject({ object: 'model', id: expect.any(String) });
    expect(parseUnknown(head('GET', '/v1/models'), null).endpoint).toBe('models');
  });

  it('answers other GETs and POSTs with {}', () => {
    for (const h of [head('GET', '/api/event_logging'), post('/v1/traces'), post('/v1/messages/batches')]) {
      const r = unknownStub(h);
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('application/json');
      expect(JSON.parse(r.chunks.join(''))).toEqual({});
      expect(r.headers['x-promptdiff-stub']).toBe('1');
    }
  });

  it('parseUnknown returns empty fields', () => {
    const p = parseUnknown(post('/telemetry'), { model: 'x', messages: [] });
    expect(ParsedRequest.parse(p)).toEqual(p);
    expect(p).toEqual({
      dialect: 'unknown',
      endpoint: 'unknown',
      model: null,
      stream: false,
      system: [],
      messages: [],
      tools: [],
      metadata: {},
    });
  });
});

describe('what each dialect owns', () => {
  const catalogue = parseYaml(readFileSync(new URL('../src/scenario/factors/catalogue.yaml', import.meta.url), 'utf8')) as {
    factors: Record<string, { values: Record<string, Record<string, string>> }>;
  };
  const firstParty = Object.values(catalogue.factors).find((f) => f.values['first-party'])?.values['first-party'];

  it.each(dialects.map((d) => [d.name, d] as [string, Dialect]))('%s: an https origin, a base URL under it, model ids', (name, d) => {
    expect(new URL(d.origin).origin).toBe(d.origin);
    expect(d.origin.startsWith('https://')).toBe(true);
    expect(d.baseUrl.startsWith(d.origin)).toBe(true);
    // A model API: the catalogue's first-party base URL (a cited value) is the one its clients use by
    // default, and the stub has model ids to list. A vendor API (qoder, augment, amp) has neither.
    const modelApi = ['anthropic-messages', 'openai-chat', 'openai-responses', 'gemini'].includes(name);
    expect(firstParty?.[name]).toBe(modelApi ? d.baseUrl : undefined);
    expect(d.models.length > 0).toBe(modelApi);
  });

  it("the stub lists the caller's family's models, and a reverse-routed request goes to its family's origin", () => {
    const ids = (h: RequestHead) => (JSON.parse(unknownStub(h).chunks.join('')) as { data: Array<{ id: string }> }).data.map((m) => m.id);
    expect(ids(head('GET', '/v1/models', { 'anthropic-version': '2023-06-01' }))).toEqual([...anthropicMessages.models]);
    expect(ids(head('GET', '/v1beta/models'))).toEqual([...gemini.models]);
    expect(ids(head('GET', '/v1/models'))).toEqual([...openaiChat.models]);
    expect(defaultUpstreamFor('/v1/messages', {})).toBe(anthropicMessages.origin);
    expect(defaultUpstreamFor('/v1beta/models/g:generateContent', {})).toBe(gemini.origin);
    expect(defaultUpstreamFor('/v1/responses', {})).toBe(openaiResponses.origin);
    expect(defaultUpstreamFor('/elsewhere', {})).toBeNull();
  });
});
