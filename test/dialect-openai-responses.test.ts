import { describe, expect, it } from 'vitest';
import { ParsedRequest } from '../src/capture/schema.js';
import { openaiResponses } from '../src/dialects/index.js';
import { post, TRICKY, STUB_TEXT, sseOf, dataOf } from './helpers/dialect-fixtures.js';

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

  it('answers a generate:false prewarm as the API does, with an empty response, and plays no script turn on it', () => {
    const prewarm = { ...codexBody, generate: false };
    const events = sseOf(openaiResponses.stub(h, prewarm, { text: STUB_TEXT }));
    expect(events.map((e) => e.event)).toEqual(['response.created', 'response.completed']);
    const done = dataOf(events[1]!) as { response: { status: string; output: unknown[]; usage: { output_tokens: number } } };
    expect(done.response).toMatchObject({ status: 'completed', output: [], usage: { output_tokens: 0 } });
    expect(JSON.parse(openaiResponses.stub(h, { ...prewarm, stream: false }, { text: STUB_TEXT }).chunks.join(''))).toMatchObject({ status: 'completed', output: [] });
    expect(openaiResponses.conversation(h, prewarm)).toBeNull();
    expect(openaiResponses.conversation(h, codexBody)).not.toBeNull();
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
