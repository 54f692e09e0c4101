import { describe, expect, it } from 'vitest';
import { ParsedRequest, type SseEvent } from '../src/capture/schema.js';
import { anthropicMessages } from '../src/dialects/index.js';
import { post, TRICKY, STUB_TEXT, sseOf, dataOf, hasLoneSurrogate, validates } from './helpers/dialect-fixtures.js';

const claudeCodeBody = {
  model: 'claude-sonnet-4-5-20250929',
  max_tokens: 32000,
  stream: true,
  temperature: 1,
  system: [
    {
      type: 'text',
      text: "You are Claude Code, Anthropic\u2019s official CLI for Claude.",
      cache_control: { type: 'ephemeral' },
    },
    { type: 'text', text: `\n  Working directory: /tmp/w ${TRICKY}\n\n`, cache_control: { type: 'ephemeral' } },
  ],
  messages: [
    {
      role: 'user',
      content: [
        { type: 'text', text: '<system-reminder>Today is 2025-01-01.</system-reminder>' },
        { type: 'text', text: `fix the bug ${TRICKY}`, cache_control: { type: 'ephemeral' } },
      ],
    },
    {
      role: 'assistant',
      content: [
        { type: 'text', text: 'Let me look.' },
        { type: 'tool_use', id: 'toolu_01', name: 'Bash', input: { command: 'ls' } },
      ],
    },
    {
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 'toolu_01', content: 'a.txt\nb.txt' },
        { type: 'tool_result', tool_use_id: 'toolu_02', content: [{ type: 'text', text: 'ok' }], is_error: false },
      ],
    },
    { role: 'assistant', content: 'plain string' },
  ],
  tools: [
    { name: 'Bash', description: 'Executes a bash command', input_schema: { type: 'object', properties: {} } },
    { name: 'Read', description: `Reads a file ${TRICKY}`, input_schema: { type: 'object' } },
    { type: 'web_search_20250305', name: 'web_search', max_uses: 5 },
  ],
  metadata: { user_id: 'user_abc_account__session_123' },
  thinking: { type: 'enabled', budget_tokens: 1024 },
};

describe('anthropic-messages', () => {
  const h = post('/v1/messages?beta=true');

  it('parses a Claude Code-like request exactly as sent', () => {
    const p = anthropicMessages.parse(h, claudeCodeBody);
    expect(ParsedRequest.parse(p)).toEqual(p);
    expect(p.dialect).toBe('anthropic-messages');
    expect(p.endpoint).toBe('messages');
    expect(p.model).toBe('claude-sonnet-4-5-20250929');
    expect(p.stream).toBe(true);
    expect(p.system).toEqual([claudeCodeBody.system[0]!.text, claudeCodeBody.system[1]!.text]);
    expect(p.system[1]).toBe(`\n  Working directory: /tmp/w it\u2019s\u200b here\u{E0041}\n\n`);
    expect(p.messages).toEqual([
      {
        role: 'user',
        text: `<system-reminder>Today is 2025-01-01.</system-reminder>\nfix the bug ${TRICKY}`,
        parts: ['text', 'text'],
      },
      { role: 'assistant', text: 'Let me look.', parts: ['text', 'tool_use'] },
      { role: 'user', text: 'a.txt\nb.txt\nok', parts: ['tool_result', 'tool_result'] },
      { role: 'assistant', text: 'plain string', parts: ['text'] },
    ]);
    expect(p.tools).toEqual([
      { name: 'Bash', description: 'Executes a bash command' },
      { name: 'Read', description: `Reads a file ${TRICKY}` },
      { name: 'web_search' },
    ]);
    expect(p.metadata).toEqual({
      max_tokens: 32000,
      temperature: 1,
      metadata: claudeCodeBody.metadata,
      thinking: claudeCodeBody.thinking,
    });
  });

  it('takes a string system prompt as one block', () => {
    const p = anthropicMessages.parse(h, { model: 'm', system: ` ${TRICKY} `, messages: [] });
    expect(p.system).toEqual([` ${TRICKY} `]);
    expect(p.stream).toBe(false);
  });

  it('answers count_tokens with an estimate that grows with the body', () => {
    const ct = post('/v1/messages/count_tokens');
    expect(anthropicMessages.parse(ct, claudeCodeBody).endpoint).toBe('count_tokens');
    const small = JSON.parse(anthropicMessages.stub(ct, { messages: [] }, { text: 'x' }).chunks.join(''));
    const big = JSON.parse(anthropicMessages.stub(ct, claudeCodeBody, { text: 'x' }).chunks.join(''));
    expect(Object.keys(big)).toEqual(['input_tokens']);
    expect(big.input_tokens).toBeGreaterThan(small.input_tokens);
    expect(big.input_tokens).toBeGreaterThan(100);
  });

  it('stubs a non-streaming message', () => {
    const r = anthropicMessages.stub(h, { ...claudeCodeBody, stream: false }, { text: STUB_TEXT });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['request-id']).toMatch(/^req_stub_[0-9a-f]+$/);
    expect(r.headers['x-promptdiff-stub']).toBe('1');
    const m = JSON.parse(r.chunks.join(''));
    expect(m).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: claudeCodeBody.model,
      content: [{ type: 'text', text: STUB_TEXT }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    });
    expect(m.id).toMatch(/^msg_stub_/);
    expect(m.usage.input_tokens).toBeGreaterThan(0);
    expect(m.usage.output_tokens).toBeGreaterThan(0);
  });

  it('streams every event with an event: line, in the order Claude Code expects', () => {
    const r = anthropicMessages.stub(h, claudeCodeBody, { text: STUB_TEXT });
    expect(r.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(r.headers['cache-control']).toBe('no-cache');
    expect(r.chunks.every((c) => c.startsWith('event: '))).toBe(true);
    const events = sseOf(r);
    expect(events.length).toBe(r.chunks.length);
    for (const e of events) expect(dataOf(e).type).toBe(e.event);
    const names = events.map((e) => e.event);
    const deltas = names.filter((n) => n === 'content_block_delta').length;
    expect(deltas).toBeGreaterThanOrEqual(2);
    expect(names).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      ...Array<string>(deltas).fill('content_block_delta'),
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(anthropicMessages.assembleText(events)).toBe(STUB_TEXT);
    for (const e of events.filter((x) => x.event === 'content_block_delta'))
      expect(hasLoneSurrogate((dataOf(e).delta as { text: string }).text)).toBe(false);
    expect(dataOf(events[events.length - 2]!)).toMatchObject({
      delta: { stop_reason: 'end_turn' },
      usage: { output_tokens: expect.any(Number) },
    });
    expect(dataOf(events[0]!).message).toMatchObject({ model: claudeCodeBody.model, content: [] });
  });

  it('assembles only text deltas', () => {
    const events: SseEvent[] = [
      { event: 'content_block_delta', data: JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'hmm' } }) },
      { event: 'content_block_delta', data: JSON.stringify({ type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'a' } }) },
      { event: 'content_block_delta', data: JSON.stringify({ type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '{' } }) },
      { event: 'content_block_delta', data: 'not json' },
      { event: 'content_block_delta', data: JSON.stringify({ type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'b' } }) },
    ];
    expect(anthropicMessages.assembleText(events)).toBe('ab');
  });

  it('answers structured-output requests with JSON that fits the schema', () => {
    const schema = { type: 'object', properties: { title: { type: 'string' } }, required: ['title'] };
    const r = anthropicMessages.stub(h, { model: 'm', messages: [], output_format: { type: 'json_schema', schema } }, { text: 'hi' });
    const text = JSON.parse(r.chunks.join('')).content[0].text;
    expect(validates(schema, JSON.parse(text))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
