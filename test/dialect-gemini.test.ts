import { describe, expect, it } from 'vitest';
import { ParsedRequest } from '../src/capture/schema.js';
import { gemini } from '../src/dialects/index.js';
import { post, TRICKY, STUB_TEXT, sseOf, dataOf, validates } from './helpers/dialect-fixtures.js';

describe('gemini', () => {
  const gen = post('/v1beta/models/gemini-2.5-pro:generateContent');
  const streamSse = post('/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse');
  const geminiBody = {
    systemInstruction: { role: 'user', parts: [{ text: `You are Gemini CLI ${TRICKY}` }, { text: ' second ' }] },
    contents: [
      { role: 'user', parts: [{ text: 'This is the Gemini CLI. Today is Monday.' }, { text: `fix it ${TRICKY}` }] },
      {
        role: 'model',
        parts: [{ text: 'thinking...', thought: true }, { text: 'Sure.' }, { functionCall: { name: 'ls', args: {} } }],
      },
      { role: 'user', parts: [{ functionResponse: { name: 'ls', response: { output: 'a' } } }] },
    ],
    tools: [
      { functionDeclarations: [{ name: 'ls', description: 'List files', parameters: {} }, { name: 'read' }] },
      { googleSearch: {} },
    ],
    generationConfig: { temperature: 0, topP: 1, thinkingConfig: { includeThoughts: true } },
  };

  it('parses model from the path, system instruction, contents and tools', () => {
    const p = gemini.parse(streamSse, geminiBody);
    expect(ParsedRequest.parse(p)).toEqual(p);
    expect(p).toMatchObject({ dialect: 'gemini', endpoint: 'streamGenerateContent', model: 'gemini-2.5-pro', stream: true });
    expect(p.system).toEqual([`You are Gemini CLI ${TRICKY}`, ' second ']);
    expect(p.messages).toEqual([
      { role: 'user', text: `This is the Gemini CLI. Today is Monday.\nfix it ${TRICKY}`, parts: ['text', 'text'] },
      { role: 'model', text: 'Sure.', parts: ['thought', 'text', 'functionCall'] },
      // A tool result's text counts as the message text, as in the other dialects.
      { role: 'user', text: 'a', parts: ['functionResponse'] },
    ]);
    expect(p.tools).toEqual([{ name: 'ls', description: 'List files' }, { name: 'read' }, { name: 'googleSearch' }]);
    expect(p.metadata).toEqual({ generationConfig: geminiBody.generationConfig });
    expect(gemini.parse(gen, geminiBody).stream).toBe(false);
  });

  it('accepts snake_case system_instruction', () => {
    const p = gemini.parse(gen, { system_instruction: { parts: [{ text: TRICKY }] }, contents: [] });
    expect(p.system).toEqual([TRICKY]);
  });

  it('stubs generateContent', () => {
    const r = gemini.stub(gen, geminiBody, { text: STUB_TEXT });
    const g = JSON.parse(r.chunks.join(''));
    expect(g).toMatchObject({
      candidates: [{ content: { role: 'model', parts: [{ text: STUB_TEXT }] }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount: expect.any(Number), candidatesTokenCount: expect.any(Number) },
      modelVersion: 'gemini-2.5-pro',
    });
  });

  it('streams SSE data chunks with alt=sse, ending in STOP', () => {
    const r = gemini.stub(streamSse, geminiBody, { text: STUB_TEXT });
    expect(r.headers['content-type']).toMatch(/^text\/event-stream/);
    const events = sseOf(r);
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(events.every((e) => e.event === undefined)).toBe(true);
    expect(gemini.assembleText(events)).toBe(STUB_TEXT);
    const last = dataOf(events[events.length - 1]!);
    expect((last.candidates as Array<{ finishReason?: string }>)[0]!.finishReason).toBe('STOP');
  });

  it('streams a JSON array without alt=sse', () => {
    const r = gemini.stub(post('/v1beta/models/gemini-2.5-pro:streamGenerateContent'), geminiBody, { text: STUB_TEXT });
    expect(r.headers['content-type']).toBe('application/json');
    const arr = JSON.parse(r.chunks.join('')) as Array<{ candidates: Array<{ content: { parts: Array<{ text: string }> } }> }>;
    expect(Array.isArray(arr)).toBe(true);
    expect(arr.map((x) => x.candidates[0]!.content.parts[0]!.text).join('')).toBe(STUB_TEXT);
  });

  it('answers countTokens', () => {
    const r = gemini.stub(post('/v1beta/models/gemini-2.5-flash:countTokens'), geminiBody, { text: 'x' });
    const c = JSON.parse(r.chunks.join(''));
    expect(Object.keys(c)).toEqual(['totalTokens']);
    expect(c.totalTokens).toBeGreaterThan(10);
  });

  it('answers the Gemini CLI router with JSON that fits its schema, not plain text', () => {
    const routerSchema = {
      type: 'object',
      properties: {
        reasoning: { type: 'string', description: 'why' },
        model_choice: { type: 'string', enum: ['flash', 'pro'] },
      },
      required: ['reasoning', 'model_choice'],
    };
    const body = {
      contents: [{ role: 'user', parts: [{ text: 'route this' }] }],
      generationConfig: { responseMimeType: 'application/json', responseJsonSchema: routerSchema },
    };
    const r = gemini.stub(post('/v1beta/models/gemini-2.5-flash-lite:generateContent'), body, { text: STUB_TEXT });
    const text = JSON.parse(r.chunks.join('')).candidates[0].content.parts[0].text;
    const value = JSON.parse(text);
    expect(value).toEqual({ reasoning: STUB_TEXT, model_choice: 'flash' });
    expect(validates(routerSchema, value)).toBe(true);

    // The older OpenAPI-style `responseSchema` with upper-case types, streamed.
    const oldSchema = { type: 'OBJECT', properties: { next_speaker: { type: 'STRING', enum: ['user', 'model'] } }, required: ['next_speaker'] };
    const streamed = gemini.stub(streamSse, { contents: [], generationConfig: { responseMimeType: 'application/json', responseSchema: oldSchema } }, { text: 'x' });
    expect(JSON.parse(gemini.assembleText(sseOf(streamed)))).toEqual({ next_speaker: 'user' });
  });

  it('unwraps and wraps the Code Assist envelope', () => {
    const ca = post('/v1internal:streamGenerateContent?alt=sse');
    const p = gemini.parse(ca, { model: 'gemini-2.5-pro', project: 'p', request: geminiBody });
    expect(p.model).toBe('gemini-2.5-pro');
    expect(p.system[0]).toBe(`You are Gemini CLI ${TRICKY}`);
    const events = sseOf(gemini.stub(ca, { model: 'gemini-2.5-pro', request: geminiBody }, { text: STUB_TEXT }));
    expect(dataOf(events[0]!)).toHaveProperty('response.candidates');
    expect(gemini.assembleText(events)).toBe(STUB_TEXT);
  });
});

// ---------------------------------------------------------------------------------------------
