import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ParsedRequest, type SseEvent } from '../src/capture/schema.js';
import {
  anthropicMessages,
  detectDialect,
  dialects,
  exampleFromJsonSchema,
  formatSse,
  gemini,
  openaiChat,
  openaiResponses,
  parseSse,
  parseUnknown,
  unknownStub,
  type Dialect,
  type RequestHead,
  type StubReply,
} from '../src/dialects/index.js';

const head = (method: string, path: string, headers: RequestHead['headers'] = {}): RequestHead => ({
  method,
  path,
  headers,
});
const post = (path: string): RequestHead => head('POST', path);

/** The characters this tool exists to catch: a curly apostrophe, a zero-width space, a tag character. */
const TRICKY = 'it\u2019s\u200b here\u{E0041}';
const STUB_TEXT = 'Stub reply \u2019quoted\u2019 \u{1F600} with an astral emoji and enough words to split.';

function sseOf(reply: StubReply): SseEvent[] {
  return parseSse(reply.chunks.join(''));
}

function dataOf(ev: SseEvent): Record<string, unknown> {
  return JSON.parse(ev.data) as Record<string, unknown>;
}

function hasLoneSurrogate(s: string): boolean {
  return /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

/** Just enough JSON Schema to check the stub's structured outputs: types, enums, properties, items. */
function validates(schema: unknown, value: unknown, root: unknown = schema): boolean {
  if (typeof schema !== 'object' || schema === null) return true;
  const s = schema as Record<string, unknown>;
  if (typeof s.$ref === 'string') {
    const target = s.$ref
      .slice(2)
      .split('/')
      .reduce<unknown>((n, k) => (n as Record<string, unknown>)[k], root);
    return validates(target, value, root);
  }
  if ('const' in s) return JSON.stringify(s.const) === JSON.stringify(value);
  if (Array.isArray(s.enum)) return s.enum.some((e) => JSON.stringify(e) === JSON.stringify(value));
  if (Array.isArray(s.anyOf)) return s.anyOf.some((b) => validates(b, value, root));
  if (Array.isArray(s.oneOf)) return s.oneOf.filter((b) => validates(b, value, root)).length === 1;
  const types = (Array.isArray(s.type) ? s.type : s.type === undefined ? [] : [s.type]).map((t) =>
    String(t).toLowerCase(),
  );
  if (s.nullable === true && value === null) return true;
  const kind =
    value === null
      ? 'null'
      : Array.isArray(value)
        ? 'array'
        : Number.isInteger(value)
          ? 'integer'
          : typeof value;
  if (types.length > 0 && !types.includes(kind) && !(kind === 'integer' && types.includes('number'))) return false;
  if (kind === 'object') {
    const obj = value as Record<string, unknown>;
    for (const r of (s.required as string[] | undefined) ?? []) if (!(r in obj)) return false;
    const props = (s.properties as Record<string, unknown> | undefined) ?? {};
    for (const [k, v] of Object.entries(obj)) {
      if (k in props) {
        if (!validates(props[k], v, root)) return false;
      } else if (s.additionalProperties === false) return false;
    }
  }
  if (kind === 'array') {
    const a = value as unknown[];
    if (typeof s.minItems === 'number' && a.length < s.minItems) return false;
    if (typeof s.maxItems === 'number' && a.length > s.maxItems) return false;
    if (!a.every((x) => validates(s.items, x, root))) return false;
  }
  if (kind === 'string') {
    const n = Array.from(value as string).length;
    if (typeof s.minLength === 'number' && n < s.minLength) return false;
    if (typeof s.maxLength === 'number' && n > s.maxLength) return false;
  }
  if (kind === 'integer' || kind === 'number') {
    const n = value as number;
    if (typeof s.minimum === 'number' && n < s.minimum) return false;
    if (typeof s.maximum === 'number' && n > s.maximum) return false;
    if (typeof s.exclusiveMinimum === 'number' && n <= s.exclusiveMinimum) return false;
    if (typeof s.exclusiveMaximum === 'number' && n >= s.exclusiveMaximum) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
describe('parseSse', () => {
  it('reads event, multi-line data and id', () => {
    expect(parseSse('event: a\ndata: one\ndata: two\nid: 7\n\n')).toEqual([
      { event: 'a', data: 'one\ntwo', id: '7' },
    ]);
  });

  it('accepts CRLF, CR and LF line ends, even mixed', () => {
    const expected = [{ data: 'x' }, { data: 'y' }, { data: 'z' }];
    expect(parseSse('data: x\r\n\r\ndata: y\r\rdata: z\n\n')).toEqual(expected);
  });

  it('skips comments and keeps a final event that lacks its blank line', () => {
    expect(parseSse(': keep-alive\n\ndata: a\n\n: note\ndata: b')).toEqual([{ data: 'a' }, { data: 'b' }]);
    expect(parseSse('data: last\n')).toEqual([{ data: 'last' }]);
  });

  it('strips exactly one space after the colon and treats a bare field name as empty', () => {
    expect(parseSse('data:no-space\n\ndata:  two-spaces\n\ndata\n\n')).toEqual([
      { data: 'no-space' },
      { data: ' two-spaces' },
      { data: '' },
    ]);
  });

  it('does not dispatch an event without data lines, and forgets its type', () => {
    expect(parseSse('event: lonely\n\ndata: x\n\n')).toEqual([{ data: 'x' }]);
  });

  it('keeps the last event id on later events, as the spec says, and ignores ids with NUL', () => {
    expect(parseSse('id: 1\ndata: a\n\ndata: b\n\nid: 2\0\ndata: c\n\nid\ndata: d\n\n')).toEqual([
      { data: 'a', id: '1' },
      { data: 'b', id: '1' },
      { data: 'c', id: '1' },
      { data: 'd' },
    ]);
  });

  it('ignores retry and unknown fields, and a leading BOM', () => {
    expect(parseSse('\uFEFFretry: 10\nfoo: bar\ndata: ok\n\n')).toEqual([{ data: 'ok' }]);
  });

  it('keeps data code-point exact', () => {
    expect(parseSse(`data: ${TRICKY}\n\n`)[0]?.data).toBe(TRICKY);
  });

  it('formatSse round-trips through parseSse', () => {
    fc.assert(
      fc.property(
        fc.option(fc.string({ minLength: 1 }).filter((s) => !/[\r\n]/.test(s))),
        fc.string({ unit: 'binary' }).filter((s) => !s.includes('\r')),
        (event, data) => {
          const ev = event === null ? { data } : { event, data };
          expect(parseSse(formatSse(ev))).toEqual([ev]);
        },
      ),
    );
  });

  it('formatSse writes one data line per line of data', () => {
    expect(formatSse({ event: 'e', data: 'a\nb' })).toBe('event: e\ndata: a\ndata: b\n\n');
  });
});

// ---------------------------------------------------------------------------------------------
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

// ---------------------------------------------------------------------------------------------
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
describe('openai-responses', () => {
  const h = post('/v1/responses');
  const codexBody = {
    model: 'gpt-5-codex',
    instructions: `You are Codex, based on GPT-5. ${TRICKY}`,
    stream: true,
    store: false,
    parallel_tool_calls: false,
    reasoning: { effort: 'medium', summary: 'auto' },
    include: ['reasoning.encrypted_content'],
    prompt_cache_key: '0199-uuid',
    input: [
      { type: 'message', role: 'developer', content: [{ type: 'input_text', text: '<permissions>sandbox</permissions>' }] },
      {
        type: 'message',
        role: 'user',
        content: [
          { type: 'input_text', text: '<environment_context>\n  <cwd>/tmp/w</cwd>\n</environment_context>' },
          { type: 'input_text', text: `list files ${TRICKY}` },
        ],
      },
      { type: 'reasoning', summary: [], encrypted_content: 'gAAA' },
      { type: 'function_call', name: 'shell', arguments: '{"command":["ls"]}', call_id: 'call_1' },
      { type: 'function_call_output', call_id: 'call_1', output: 'a.txt\n' },
      { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Done.' }] },
      { role: 'user', content: 'short form' },
    ],
    tools: [
      { type: 'function', name: 'shell', description: 'Runs a shell command', parameters: {} },
      { type: 'web_search' },
      { type: 'custom', name: 'apply_patch', description: 'Apply a patch' },
    ],
  };

  it('parses instructions, developer items, items of every kind and tools', () => {
    const p = openaiResponses.parse(h, codexBody);
    expect(ParsedRequest.parse(p)).toEqual(p);
    expect(p).toMatchObject({ dialect: 'openai-responses', endpoint: 'responses', model: 'gpt-5-codex', stream: true });
    expect(p.system).toEqual([codexBody.instructions, '<permissions>sandbox</permissions>']);
    expect(p.messages).toEqual([
      {
        role: 'user',
        text: `<environment_context>\n  <cwd>/tmp/w</cwd>\n</environment_context>\nlist files ${TRICKY}`,
        parts: ['input_text', 'input_text'],
      },
      { role: 'assistant', text: '', parts: ['reasoning'] },
      { role: 'assistant', text: '', parts: ['function_call'] },
      { role: 'tool', text: 'a.txt\n', parts: ['function_call_output'] },
      { role: 'assistant', text: 'Done.', parts: ['output_text'] },
      { role: 'user', text: 'short form', parts: ['input_text'] },
    ]);
    expect(p.tools).toEqual([
      { name: 'shell', description: 'Runs a shell command' },
      { name: 'web_search' },
      { name: 'apply_patch', description: 'Apply a patch' },
    ]);
    expect(p.metadata).toMatchObject({ store: false, reasoning: codexBody.reasoning, prompt_cache_key: '0199-uuid' });
  });

  it('reads Codex 0.169 tools from an additional_tools input item, namespaces flattened', () => {
    // Measured: codex exec 0.169 sends no `tools` at all, only this item before the developer messages.
    const body = {
      model: 'gpt-6.1-sol',
      input: [
        {
          type: 'additional_tools',
          id: 'at_1',
          role: 'developer',
          tools: [
            { type: 'namespace', name: 'functions', description: '', tools: [{ type: 'custom', name: 'exec', description: `Run JavaScript ${TRICKY}` }] },
            { type: 'namespace', name: 'clock', description: 'Tools for reading and waiting on time.', tools: [{ type: 'function', name: 'sleep', description: 'Pause.' }] },
          ],
        },
        { type: 'message', role: 'developer', content: [{ type: 'input_text', text: 'You are Codex.' }] },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Say hello.' }] },
      ],
      tools: [{ type: 'namespace', name: 'mcp', tools: [{ type: 'function', name: 'x' }] }],
    };
    const p = openaiResponses.parse(h, body);
    expect(ParsedRequest.parse(p)).toEqual(p);
    expect(p.tools).toEqual([
      { name: 'functions.exec', description: `Run JavaScript ${TRICKY}` },
      { name: 'clock', description: 'Tools for reading and waiting on time.' },
      { name: 'clock.sleep', description: 'Pause.' },
      { name: 'mcp.x' },
    ]);
    // The tools item is neither a system block nor a message of the conversation.
    expect(p.system).toEqual(['You are Codex.']);
    expect(p.messages).toEqual([{ role: 'user', text: 'Say hello.', parts: ['input_text'] }]);
  });

  it('answers Codex remote compaction (/responses/compact) with a JSON output list, never a stream', () => {
    const c = post('/v1/responses/compact');
    const body = {
      model: 'gpt-6.1-sol',
      instructions: 'You are Codex.',
      input: [
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: TRICKY }] },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Done.' }] },
        { type: 'function_call', name: 'shell', arguments: '{}', call_id: 'c1' },
      ],
      stream: true,
    };
    const p = openaiResponses.parse(c, body);
    expect(p).toMatchObject({ dialect: 'openai-responses', endpoint: 'responses.compact', system: ['You are Codex.'] });
    const r = openaiResponses.stub(c, body, { text: STUB_TEXT });
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.chunks).toHaveLength(1);
    const resp = JSON.parse(r.chunks[0]!);
    expect(resp.object).toBe('response.compaction');
    expect(resp.output).toEqual([
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: TRICKY }] },
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: STUB_TEXT }] },
    ]);
    expect(openaiResponses.parse(h, body).endpoint).toBe('responses');
  });

  it('reads a response.create sent over a WebSocket, flat (Responses WebSocket mode) or nested (Realtime)', () => {
    const flat = openaiResponses.parse(h, { type: 'response.create', model: 'gpt-5-codex', instructions: TRICKY, input: 'hi' });
    const nested = openaiResponses.parse(h, { type: 'response.create', response: { model: 'gpt-5-codex', instructions: TRICKY, input: 'hi' } });
    for (const p of [flat, nested]) {
      expect(p.model).toBe('gpt-5-codex');
      expect(p.system).toEqual([TRICKY]);
      expect(p.messages).toEqual([{ role: 'user', text: 'hi', parts: ['input_text'] }]);
    }
  });

  it('takes a string input as one user message', () => {
    const p = openaiResponses.parse(h, { model: 'm', input: TRICKY });
    expect(p.messages).toEqual([{ role: 'user', text: TRICKY, parts: ['input_text'] }]);
    expect(p.system).toEqual([]);
  });

  it('stubs a non-streaming response object', () => {
    const r = openaiResponses.stub(h, { ...codexBody, stream: false }, { text: STUB_TEXT });
    const resp = JSON.parse(r.chunks.join(''));
    expect(resp).toMatchObject({
      object: 'response',
      status: 'completed',
      model: 'gpt-5-codex',
      output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: STUB_TEXT }] }],
      usage: { input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } },
    });
    expect(resp.usage.total_tokens).toBe(resp.usage.input_tokens + resp.usage.output_tokens);
  });

  it('streams the events Codex reads, in order, numbered, with event: lines', () => {
    const r = openaiResponses.stub(h, codexBody, { text: STUB_TEXT });
    expect(r.headers['content-type']).toMatch(/^text\/event-stream/);
    const events = sseOf(r);
    const data = events.map(dataOf);
    events.forEach((e, i) => {
      expect(data[i]!.type).toBe(e.event);
      expect(data[i]!.sequence_number).toBe(i);
    });
    const names = events.map((e) => e.event);
    const deltas = names.filter((n) => n === 'response.output_text.delta').length;
    expect(deltas).toBeGreaterThanOrEqual(2);
    expect(names).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      ...Array<string>(deltas).fill('response.output_text.delta'),
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(openaiResponses.assembleText(events)).toBe(STUB_TEXT);
    const done = data[names.indexOf('response.output_text.done')]!;
    expect(done.text).toBe(STUB_TEXT);
    const completed = data[data.length - 1]!.response as Record<string, unknown>;
    expect(completed).toMatchObject({
      object: 'response',
      status: 'completed',
      usage: {
        input_tokens: expect.any(Number),
        output_tokens: expect.any(Number),
        total_tokens: expect.any(Number),
        input_tokens_details: { cached_tokens: 0 },
        output_tokens_details: { reasoning_tokens: 0 },
      },
    });
    // The item ids must agree across events, or Codex cannot attach deltas to the item.
    const itemId = (data[2]!.item as { id: string }).id;
    expect(data.filter((d) => 'item_id' in d).every((d) => d.item_id === itemId)).toBe(true);
    expect((data[data.length - 2]!.item as { id: string }).id).toBe(itemId);
  });

  it('answers text.format json_schema with fitting JSON', () => {
    const schema = { type: 'object', properties: { n: { type: 'integer', minimum: 3 } }, required: ['n'] };
    const r = openaiResponses.stub(h, { model: 'm', input: 'x', text: { format: { type: 'json_schema', name: 'n', schema } } }, { text: 'hi' });
    const value = JSON.parse(JSON.parse(r.chunks.join('')).output[0].content[0].text);
    expect(value).toEqual({ n: 3 });
  });
});

// ---------------------------------------------------------------------------------------------
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
describe('exampleFromJsonSchema', () => {
  const schemas: Array<[string, unknown]> = [
    ['string', { type: 'string' }],
    ['enum', { enum: ['a', 'b'] }],
    ['const', { const: 42 }],
    ['bounded integer', { type: 'integer', minimum: 5, maximum: 9 }],
    ['exclusive number', { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 }],
    ['negative max', { type: 'integer', maximum: -3 }],
    ['boolean', { type: 'boolean' }],
    ['nullable type list', { type: ['null', 'string'] }],
    ['short string', { type: 'string', maxLength: 2 }],
    ['long string', { type: 'string', minLength: 10 }],
    ['array minItems', { type: 'array', items: { type: 'integer' }, minItems: 3 }],
    ['array maxItems 0', { type: 'array', items: { type: 'string' }, maxItems: 0 }],
    ['anyOf', { anyOf: [{ type: 'null' }, { type: 'object', properties: { x: { type: 'number' } }, required: ['x'] }] }],
    ['oneOf', { oneOf: [{ type: 'string' }, { type: 'integer' }] }],
    [
      'nested object with $ref',
      {
        type: 'object',
        $defs: { step: { type: 'object', properties: { name: { type: 'string' }, done: { type: 'boolean' } }, required: ['name'] } },
        properties: { steps: { type: 'array', items: { $ref: '#/$defs/step' } }, mode: { type: 'string', enum: ['fast', 'slow'] } },
        required: ['steps', 'mode'],
        additionalProperties: false,
      },
    ],
    [
      'gemini upper-case',
      { type: 'OBJECT', properties: { n: { type: 'INTEGER' }, list: { type: 'ARRAY', items: { type: 'STRING' } }, b: { type: 'BOOLEAN' } }, required: ['n'] },
    ],
  ];
  it.each(schemas)('%s: the example validates', (_name, schema) => {
    const v = exampleFromJsonSchema(schema, 'stub text');
    expect(validates(schema, v)).toBe(true);
    // And it survives the JSON round trip a stub reply puts it through.
    expect(JSON.parse(JSON.stringify(v))).toEqual(v);
  });

  it('fills strings with the stub text and picks first enum values', () => {
    expect(exampleFromJsonSchema({ type: 'string' }, TRICKY)).toBe(TRICKY);
    expect(exampleFromJsonSchema({ type: 'STRING', enum: ['z', 'y'] })).toBe('z');
    expect(exampleFromJsonSchema({ type: 'number' })).toBe(1);
    expect(exampleFromJsonSchema({ type: 'integer', minimum: 2.5 })).toBe(3);
  });

  it('answers an unbounded number with 1, which a range given only in words accepts', () => {
    // Gemini CLI 0.61's router asks for this schema and checks 1 <= score <= 100 in code: 0 made it log a ZodError.
    const router = {
      type: 'OBJECT',
      properties: {
        complexity_reasoning: { type: 'STRING', description: 'Brief explanation for the score.' },
        complexity_score: { type: 'INTEGER', description: 'Complexity score from 1-100.' },
      },
      required: ['complexity_reasoning', 'complexity_score'],
    };
    expect(exampleFromJsonSchema(router, 's')).toEqual({ complexity_reasoning: 's', complexity_score: 1 });
    expect(exampleFromJsonSchema({ type: 'integer', maximum: 0 })).toBe(0);
    expect(exampleFromJsonSchema({ type: 'number', exclusiveMaximum: 1 })).toBeLessThan(1);
  });

  it('fills required names that have no property schema', () => {
    expect(exampleFromJsonSchema({ type: 'object', required: ['a'] }, 's')).toEqual({ a: 's' });
  });

  it('follows Gemini propertyOrdering', () => {
    const v = exampleFromJsonSchema({ type: 'object', properties: { a: { type: 'string' }, b: { type: 'string' } }, propertyOrdering: ['b', 'a'] });
    expect(Object.keys(v as object)).toEqual(['b', 'a']);
  });

  it('stops on recursive schemas', () => {
    const tree = { $defs: { node: { type: 'object', properties: { kids: { type: 'array', items: { $ref: '#/$defs/node' }, minItems: 1 } } } }, $ref: '#/$defs/node' };
    expect(() => JSON.stringify(exampleFromJsonSchema(tree))).not.toThrow();
  });

  it('never throws on garbage', () => {
    fc.assert(fc.property(fc.jsonValue(), (s) => void exampleFromJsonSchema(s)));
  });
});

// ---------------------------------------------------------------------------------------------
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

// ---------------------------------------------------------------------------------------------
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
