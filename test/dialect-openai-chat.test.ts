import { describe, expect, it } from 'vitest';
import { ParsedRequest } from '../src/capture/schema.js';
import { openaiChat } from '../src/dialects/index.js';
import { post, TRICKY, STUB_TEXT, sseOf, dataOf, validates } from './helpers/dialect-fixtures.js';

describe('openai-chat', () => {
  const h = post('/v1/chat/completions');
  const qwenBody = {
    model: 'qwen3-coder-plus',
    stream: true,
    stream_options: { include_usage: true },
    temperature: 0,
    messages: [
      { role: 'system', content: `You are Qwen Code ${TRICKY}` },
      { role: 'developer', content: [{ type: 'text', text: 'dev part 1' }, { type: 'text', text: 'dev part 2 ' }] },
      { role: 'user', content: [{ type: 'text', text: 'hello' }, { type: 'image_url', image_url: { url: 'data:,' } }] },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'read_file', arguments: '{}' } }],
      },
      { role: 'tool', tool_call_id: 'call_1', content: 'file body\u2019' },
    ],
    tools: [
      { type: 'function', function: { name: 'read_file', description: 'Reads a file', parameters: {} } },
      { type: 'function', function: { name: 'shell' } },
    ],
  };

  it('parses system and developer turns into system, the rest into messages', () => {
    const p = openaiChat.parse(h, qwenBody);
    expect(ParsedRequest.parse(p)).toEqual(p);
    expect(p).toMatchObject({ dialect: 'openai-chat', endpoint: 'chat.completions', model: 'qwen3-coder-plus', stream: true });
    expect(p.system).toEqual([`You are Qwen Code ${TRICKY}`, 'dev part 1', 'dev part 2 ']);
    expect(p.messages).toEqual([
      { role: 'user', text: 'hello', parts: ['text', 'image_url'] },
      { role: 'assistant', text: '', parts: ['tool_call'] },
      { role: 'tool', text: 'file body\u2019', parts: ['text'] },
    ]);
    expect(p.tools).toEqual([{ name: 'read_file', description: 'Reads a file' }, { name: 'shell' }]);
    expect(p.metadata).toEqual({ temperature: 0, stream_options: { include_usage: true } });
  });

  it('names a custom (free-form) tool by its own name, not by its type', () => {
    // Copilot CLI 1.0.102 declares apply_patch this way beside its function tools.
    const body = {
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'hi' }],
      tools: [
        { type: 'function', function: { name: 'bash', parameters: {} } },
        { type: 'custom', custom: { name: 'apply_patch', description: 'Edit files.', format: { type: 'grammar', grammar: { syntax: 'lark', definition: 'start: x' } } } },
      ],
    };
    expect(openaiChat.parse(h, body).tools).toEqual([{ name: 'bash' }, { name: 'apply_patch', description: 'Edit files.' }]);
  });

  it('stubs a non-streaming chat.completion', () => {
    const r = openaiChat.stub(h, { ...qwenBody, stream: false }, { text: STUB_TEXT });
    const c = JSON.parse(r.chunks.join(''));
    expect(c).toMatchObject({
      object: 'chat.completion',
      model: 'qwen3-coder-plus',
      choices: [{ index: 0, message: { role: 'assistant', content: STUB_TEXT }, finish_reason: 'stop' }],
    });
    expect(c.usage.total_tokens).toBe(c.usage.prompt_tokens + c.usage.completion_tokens);
    expect(r.headers['x-promptdiff-stub']).toBe('1');
  });

  it('streams chunks with role first, a stop chunk, the usage chunk Qwen Code needs, then [DONE]', () => {
    const r = openaiChat.stub(h, qwenBody, { text: STUB_TEXT });
    expect(r.chunks.every((c) => c.startsWith('data: '))).toBe(true);
    const events = sseOf(r);
    expect(events.every((e) => e.event === undefined)).toBe(true);
    expect(events[events.length - 1]!.data).toBe('[DONE]');
    const chunks = events.slice(0, -1).map(dataOf);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect((chunks[0]!.choices as Array<{ delta: { role: string } }>)[0]!.delta.role).toBe('assistant');
    const usageChunk = chunks[chunks.length - 1]!;
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage).toMatchObject({ prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number) });
    const stop = chunks[chunks.length - 2]!;
    expect((stop.choices as Array<{ finish_reason: string }>)[0]!.finish_reason).toBe('stop');
    const contentChunks = chunks.filter((c) => (c.choices as Array<{ delta: { content?: string } }>)[0]?.delta.content);
    expect(contentChunks.length).toBeGreaterThanOrEqual(2);
    expect(openaiChat.assembleText(events)).toBe(STUB_TEXT);
  });

  it('sends no usage chunk unless asked', () => {
    const events = sseOf(openaiChat.stub(h, { ...qwenBody, stream_options: undefined }, { text: STUB_TEXT }));
    const chunks = events.slice(0, -1).map(dataOf);
    expect(chunks.some((c) => Array.isArray(c.choices) && c.choices.length === 0)).toBe(false);
    expect(chunks.some((c) => 'usage' in c)).toBe(false);
    expect(openaiChat.assembleText(events)).toBe(STUB_TEXT);
  });

  it('answers response_format json_schema with fitting JSON', () => {
    const schema = {
      type: 'object',
      properties: { ok: { type: 'boolean' }, tags: { type: 'array', items: { type: 'string' }, minItems: 2 } },
      required: ['ok', 'tags'],
      additionalProperties: false,
    };
    const r = openaiChat.stub(
      h,
      { model: 'm', messages: [], response_format: { type: 'json_schema', json_schema: { name: 'x', schema, strict: true } } },
      { text: 'hi' },
    );
    const text = JSON.parse(r.chunks.join('')).choices[0].message.content;
    const value = JSON.parse(text);
    expect(value.tags).toHaveLength(2);
    expect(validates(schema, value)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
