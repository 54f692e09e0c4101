import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ParsedRequest } from '../src/capture/schema.js';
import { anthropicMessages, gemini, openaiChat, openaiResponses, parseSse, type Dialect, type RequestHead, type StubReply } from '../src/dialects/index.js';
import type { Conversation, DeclaredTool, ToolCall } from '../src/dialects/tool-turns.js';
import { SYNONYMS, TOOL_PROFILES } from '../src/agents/tool-maps.js';
import { DEFAULT_STUB_SCRIPT, StubScript } from '../src/proxy/stub-script-definition.js';
import { answerFromScript, planTurn, type StubScriptOptions } from '../src/proxy/stub-script.js';
import { startProxy } from '../src/proxy/server.js';
import { readExchanges } from '../src/capture/store.js';
import { log } from '../src/log.js';

/*
 * A stub script's tool turns, per dialect: each reply is read back the way the dialect's clients
 * read it (streamed and not), the call goes back into the next request as the agent would send it,
 * and the dialect's own parser and the turn choice see it there.
 */

const post = (path: string): RequestHead => ({ method: 'POST', path, headers: {} });
const SHELL: ToolCall = { name: 'Bash', kind: 'function', input: { command: 'echo $((6*7))-probe', note: 'caf\u00e9 \u{1F600} "quoted"' } };
const RESULT = '42-probe\n';

/** What a client makes of a tool-call reply: the call, and how the turn ended. */
interface ReadBack {
  id: string;
  name: string;
  /** Parsed JSON arguments, or the text of a custom tool. */
  input: unknown;
  stop: string;
}

/** One dialect as the test drives it: a request, how its clients read a reply, and how they send a tool result back. */
interface Case {
  dialect: Dialect;
  head(stream: boolean): RequestHead;
  body(stream: boolean, history?: unknown[]): Record<string, unknown>;
  readBack(reply: StubReply, stream: boolean): ReadBack;
  /** The history after the call: the assistant's call as the client echoes it, then the tool's result. */
  followUp(call: ReadBack, result: string): unknown[];
}

function events(reply: StubReply): Array<Record<string, unknown>> {
  return parseSse(reply.chunks.join('')).flatMap((e) => (e.data === '[DONE]' ? [] : [JSON.parse(e.data) as Record<string, unknown>]));
}
const json = (reply: StubReply) => JSON.parse(reply.chunks.join('')) as Record<string, any>;

const anthropic: Case = {
  dialect: anthropicMessages,
  head: () => post('/v1/messages?beta=true'),
  body: (stream, history = []) => ({
    model: 'claude-sonnet-4-5',
    stream,
    messages: [{ role: 'user', content: 'Run the probe.' }, ...history],
    tools: [{ name: 'Bash', input_schema: { type: 'object', properties: { command: { type: 'string' } } } }, { type: 'web_search_20250305', name: 'web_search' }],
  }),
  readBack(reply, stream) {
    if (!stream) {
      const m = json(reply);
      const block = m.content[0];
      return { id: block.id, name: block.name, input: block.input, stop: m.stop_reason };
    }
    // As the Anthropic SDK accumulates a stream: the block's start, then input_json_delta pieces.
    let id = '';
    let name = '';
    let partial = '';
    let stop = '';
    for (const e of events(reply)) {
      const block = e.content_block as Record<string, string> | undefined;
      const delta = e.delta as Record<string, string> | undefined;
      if (e.type === 'content_block_start' && block?.type === 'tool_use') ({ id, name } = block as { id: string; name: string });
      if (e.type === 'content_block_delta' && delta?.type === 'input_json_delta') partial += delta.partial_json;
      if (e.type === 'message_delta') stop = delta!.stop_reason!;
    }
    return { id, name, input: JSON.parse(partial), stop };
  },
  followUp: (call, result) => [
    { role: 'assistant', content: [{ type: 'tool_use', id: call.id, name: call.name, input: call.input }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: result }] },
  ],
};

const chat: Case = {
  dialect: openaiChat,
  head: () => post('/compatible-mode/v1/chat/completions'),
  body: (stream, history = []) => ({
    model: 'qwen3-coder-plus',
    stream,
    stream_options: stream ? { include_usage: true } : undefined,
    messages: [{ role: 'system', content: 'You are Qwen Code.' }, { role: 'user', content: 'Run the probe.' }, ...history],
    tools: [{ type: 'function', function: { name: 'Bash', parameters: { type: 'object', properties: { command: { type: 'string' } } } } }],
  }),
  readBack(reply, stream) {
    if (!stream) {
      const c = json(reply).choices[0];
      const t = c.message.tool_calls[0];
      return { id: t.id, name: t.function.name, input: JSON.parse(t.function.arguments), stop: c.finish_reason };
    }
    // As the OpenAI SDK accumulates tool_calls deltas by index.
    let id = '';
    let name = '';
    let args = '';
    let stop = '';
    for (const e of events(reply)) {
      for (const c of (e.choices as Array<Record<string, any>>) ?? []) {
        for (const t of c.delta?.tool_calls ?? []) {
          expect(t.index).toBe(0);
          id += t.id ?? '';
          name += t.function?.name ?? '';
          args += t.function?.arguments ?? '';
        }
        if (c.finish_reason) stop = c.finish_reason;
      }
    }
    return { id, name, input: JSON.parse(args), stop };
  },
  followUp: (call, result) => [
    { role: 'assistant', content: null, tool_calls: [{ id: call.id, type: 'function', function: { name: call.name, arguments: JSON.stringify(call.input) } }] },
    { role: 'tool', tool_call_id: call.id, content: result },
  ],
};

const responses: Case = {
  dialect: openaiResponses,
  head: () => post('/v1/responses'),
  body: (stream, history = []) => ({
    model: 'gpt-6.1-sol',
    stream,
    store: false,
    input: [
      { type: 'additional_tools', role: 'developer', tools: [{ type: 'namespace', name: 'functions', description: '', tools: [{ type: 'function', name: 'Bash', parameters: { type: 'object', properties: {} } }] }] },
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Run the probe.' }] },
      ...history,
    ],
  }),
  readBack(reply, stream) {
    if (!stream) {
      const item = json(reply).output[0];
      return { id: item.call_id, name: item.name, input: JSON.parse(item.arguments), stop: item.type };
    }
    // As Codex reads a stream: the item as announced, argument deltas, the item as done.
    let args = '';
    let done: Record<string, any> = {};
    let added: Record<string, any> = {};
    for (const e of events(reply)) {
      if (e.type === 'response.output_item.added') added = e.item as Record<string, any>;
      if (e.type === 'response.function_call_arguments.delta') args += e.delta as string;
      if (e.type === 'response.output_item.done') done = e.item as Record<string, any>;
    }
    expect(added).toMatchObject({ type: 'function_call', status: 'in_progress', arguments: '', call_id: done.call_id });
    expect(done.arguments).toBe(args);
    return { id: done.call_id, name: done.name, input: JSON.parse(args), stop: done.type };
  },
  followUp: (call, result) => [
    { type: 'function_call', call_id: call.id, name: call.name, arguments: JSON.stringify(call.input) },
    { type: 'function_call_output', call_id: call.id, output: [{ type: 'input_text', text: result }] },
  ],
};

const geminiCase: Case = {
  dialect: gemini,
  head: (stream) => post(`/v1beta/models/gemini-2.5-flash:${stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`),
  body: (_stream, history = []) => ({
    // Gemini CLI opens every conversation with a model turn of its own: not a script turn.
    contents: [
      { role: 'user', parts: [{ text: 'This is the Gemini CLI. We are setting up the context.' }] },
      { role: 'model', parts: [{ text: 'Got it. Thanks for the context!' }] },
      { role: 'user', parts: [{ text: 'Run the probe.' }] },
      ...history,
    ],
    tools: [{ functionDeclarations: [{ name: 'Bash', parametersJsonSchema: { type: 'object', properties: { command: { type: 'string' } } } }] }, { googleSearch: {} }],
  }),
  readBack(reply, stream) {
    const responses = stream ? events(reply) : [json(reply)];
    const calls = responses.flatMap((r: Record<string, any>) => r.candidates[0].content.parts.filter((p: Record<string, unknown>) => p.functionCall));
    expect(calls).toHaveLength(1);
    const fc = calls[0].functionCall;
    return { id: fc.id, name: fc.name, input: fc.args, stop: (responses.at(-1) as Record<string, any>).candidates[0].finishReason };
  },
  followUp: (call, result) => [
    { role: 'model', parts: [{ functionCall: { id: call.id, name: call.name, args: call.input } }] },
    { role: 'user', parts: [{ functionResponse: { id: call.id, name: call.name, response: { output: result } } }] },
  ],
};

const CASES = { 'anthropic-messages': anthropic, 'openai-chat': chat, 'openai-responses': responses, gemini: geminiCase };
const STOP = { 'anthropic-messages': 'tool_use', 'openai-chat': 'tool_calls', 'openai-responses': 'function_call', gemini: 'STOP' };

describe.each(Object.entries(CASES))('%s: a tool turn', (name, c) => {
  it.each([false, true])('stream %s: the reply is read back as the call, and sent back it is a tool result the parser and the turn choice see', (stream) => {
    const head = c.head(stream);
    const first = c.body(stream);
    expect(c.dialect.conversation(head, first)).toMatchObject({ toolResults: 0, structured: false });
    const reply = c.dialect.toolCall(head, first, SHELL);
    expect(reply.status).toBe(200);
    expect(reply.headers['x-promptdiff-stub']).toBe('1');
    expect(reply.headers['content-type']).toMatch(stream ? /text\/event-stream/ : /application\/json/);
    if (stream && name !== 'gemini') expect(reply.chunks.length).toBeGreaterThan(4); // the arguments arrive in pieces

    const call = c.readBack(reply, stream);
    expect(call).toMatchObject({ name: 'Bash', input: SHELL.input, stop: STOP[name as keyof typeof STOP] });
    expect(call.id).toMatch(/stub/);
    // A streamed tool turn carries no assistant text.
    if (stream) expect(c.dialect.assembleText(parseSse(reply.chunks.join('')))).toBe('');

    const second = c.body(stream, c.followUp(call, RESULT));
    const parsed = c.dialect.parse(head, second);
    expect(ParsedRequest.parse(parsed)).toEqual(parsed);
    const last = parsed.messages.at(-1)!;
    expect(last.text).toBe(RESULT);
    expect(parsed.messages.at(-2)!.parts).toContain({ 'anthropic-messages': 'tool_use', 'openai-chat': 'tool_call', 'openai-responses': 'function_call', gemini: 'functionCall' }[name]);
    expect(c.dialect.conversation(head, second)).toMatchObject({ toolResults: 1 });
  });

  it('a text turn after it streams and assembles to the script\'s text', () => {
    const head = c.head(true);
    const reply = c.dialect.stub(head, c.body(true), { text: 'Done.' });
    expect(c.dialect.assembleText(parseSse(reply.chunks.join('')))).toBe('Done.');
  });

  it('declares its function tools with their schemas, not the built-in ones', () => {
    const conv = c.dialect.conversation(c.head(false), c.body(false))!;
    expect(conv.tools.map((t) => t.name)).toEqual(['Bash']);
    expect(conv.tools[0]!.kind).toBe('function');
    expect(conv.tools[0]!.schema).toMatchObject({ type: 'object' });
  });
});

describe('dialect details', () => {
  it('a Responses custom tool (Codex exec) is a custom_tool_call whose input streams as text', () => {
    const head = post('/v1/responses');
    const code = 'const r = await tools.exec_command({"cmd":"echo hi"});\ntext(r.output);';
    const call: ToolCall = { name: 'exec', kind: 'custom', input: code };
    const nonStream = json(openaiResponses.toolCall(head, { stream: false }, call)).output[0];
    expect(nonStream).toMatchObject({ type: 'custom_tool_call', name: 'exec', input: code, status: 'completed' });
    const evs = events(openaiResponses.toolCall(head, { stream: true }, call));
    const deltas = evs.filter((e) => e.type === 'response.custom_tool_call_input.delta').map((e) => e.delta).join('');
    expect(deltas).toBe(code);
    expect(evs.find((e) => e.type === 'response.custom_tool_call_input.done')).toMatchObject({ input: code });
    expect(evs.map((e) => e.sequence_number)).toEqual(evs.map((_, i) => i));
    expect(evs.at(-1)).toMatchObject({ type: 'response.completed', response: { status: 'completed', output: [{ type: 'custom_tool_call', input: code }] } });
  });

  it('Responses: namespaced and custom tools are declared by their own names', () => {
    const conv = openaiResponses.conversation(post('/v1/responses'), {
      input: [{ type: 'additional_tools', tools: [{ type: 'namespace', name: 'functions', tools: [{ type: 'custom', name: 'exec', format: { type: 'grammar' } }] }] }],
      tools: [{ type: 'web_search' }, { type: 'function', name: 'shell', parameters: {} }],
    })!;
    expect(conv.tools).toEqual([
      { name: 'exec', kind: 'custom', namespace: 'functions', schema: { type: 'grammar' } },
      { name: 'shell', kind: 'function', schema: {} },
    ]);
  });

  it('requests that are no model turn have no conversation: count_tokens, countTokens, compaction', () => {
    expect(anthropicMessages.conversation(post('/v1/messages/count_tokens'), { messages: [] })).toBeNull();
    expect(gemini.conversation(post('/v1beta/models/gemini-2.5-flash:countTokens'), { contents: [] })).toBeNull();
    expect(openaiResponses.conversation(post('/v1/responses/compact'), { input: [] })).toBeNull();
  });

  it('structured-output requests are flagged in every dialect', () => {
    const schema = { type: 'object', properties: { a: { type: 'string' } } };
    expect(anthropicMessages.conversation(post('/v1/messages'), { output_format: { type: 'json_schema', schema } })?.structured).toBe(true);
    expect(openaiChat.conversation(post('/v1/chat/completions'), { response_format: { type: 'json_object' } })?.structured).toBe(true);
    expect(openaiResponses.conversation(post('/v1/responses'), { text: { format: { type: 'json_schema', schema } } })?.structured).toBe(true);
    expect(gemini.conversation(post('/v1beta/models/m:generateContent'), { generationConfig: { responseJsonSchema: schema } })?.structured).toBe(true);
  });

  it('Gemini Code Assist: the call is wrapped in {response} and the conversation read from {request}', () => {
    const head = post('/v1internal:streamGenerateContent?alt=sse');
    const body = { model: 'gemini-2.5-pro', request: geminiCase.body(true) };
    expect(gemini.conversation(head, body)?.tools.map((t) => t.name)).toEqual(['Bash']);
    const [ev] = events(gemini.toolCall(head, body, SHELL));
    expect((ev as Record<string, any>).response.candidates[0].content.parts[0].functionCall).toMatchObject({ name: 'Bash', args: SHELL.input });
  });
});

const claude: StubScriptOptions = { items: StubScript.parse(DEFAULT_STUB_SCRIPT), tools: TOOL_PROFILES['claude-code']!.tools, agent: 'claude-code' };
const schema = (...props: string[]) => ({ type: 'object', properties: Object.fromEntries(props.map((p) => [p, { type: 'string' }])) });
const claudeTools: DeclaredTool[] = [
  { name: 'Bash', kind: 'function' as const, schema: schema('command', 'description') },
  { name: 'Read', kind: 'function' as const, schema: schema('file_path') },
  { name: 'Glob', kind: 'function' as const, schema: schema('pattern', 'path') },
];

describe('turn choice', () => {
  const conv = (toolResults: number, tools: DeclaredTool[] = claudeTools, structured = false): Conversation => ({ toolResults, tools, structured });

  it('the number of tool results picks the turn, and generic tools become the agent\'s own', () => {
    expect(planTurn(conv(0), claude, '/w')).toEqual({
      kind: 'tool',
      index: 0,
      generic: 'shell',
      call: { name: 'Bash', kind: 'function', input: { command: "printf '%d-probe\\n' 0x2a" } },
      reason: '0 tool results so far',
    });
    // Read wants an absolute path: the relative one is joined to the run's working directory.
    expect(planTurn(conv(1), claude, '/tmp/promptdiff-sandbox/work')).toMatchObject({ index: 1, call: { name: 'Read', input: { file_path: '/tmp/promptdiff-sandbox/work/README.md' } } });
    // No LS declared (Claude Code 2.x): Glob lists the directory.
    expect(planTurn(conv(2), claude, '/w')).toMatchObject({ index: 2, call: { name: 'Glob', input: { pattern: '*', path: '/w' } } });
    expect(planTurn(conv(3), claude)).toEqual({ kind: 'text', index: 3, text: 'Done.', reason: '3 tool results so far' });
    expect(planTurn(conv(4), claude)).toEqual({ kind: 'none', reason: "4 tool results so far, past the script's 4 turns" });
  });

  it('without a working directory a relative path stays relative', () => {
    expect(planTurn(conv(1), claude)).toMatchObject({ call: { input: { file_path: 'README.md' } } });
  });

  it('a preferred tool wins when declared: LS over Glob', () => {
    const withLs = [...claudeTools, { name: 'LS', kind: 'function' as const, schema: schema('path') }];
    expect(planTurn(conv(2, withLs), claude, '/w')).toMatchObject({ call: { name: 'LS', input: { path: '/w' } } });
  });

  it('requests that are no turn of the script get the ordinary reply, with the reason', () => {
    expect(planTurn(null, claude)).toEqual({ kind: 'none', reason: 'not a model turn' });
    expect(planTurn(conv(0, []), claude)).toEqual({ kind: 'none', reason: 'declares no tools' });
    expect(planTurn(conv(0, claudeTools, true), claude)).toEqual({ kind: 'none', reason: 'asks for structured output' });
  });

  it('a generic tool the request does not declare is an error naming the agent, the tool and what is declared', () => {
    const plan = planTurn(conv(0, [claudeTools[1]!]), claude);
    expect(plan).toEqual({
      kind: 'error',
      index: 0,
      reason: '0 tool results so far',
      message: 'stub_script[0]: the generic tool shell is Bash for claude-code, but the request does not declare it; it declares: Read',
    });
    expect(planTurn(conv(2, [claudeTools[0]!]), claude)).toMatchObject({ message: expect.stringContaining('list_dir is LS or Glob for claude-code, but the request declares none of them') });
  });

  it('an agent\'s own tool name is used as is, and must be declared', () => {
    const own: StubScriptOptions = { ...claude, items: StubScript.parse([{ tool: 'Glob', input: { pattern: '**/*.md' } }, { tool: 'TodoWrite', input: {} }]) };
    expect(planTurn(conv(0), own)).toMatchObject({ kind: 'tool', call: { name: 'Glob', input: { pattern: '**/*.md' } } });
    expect(planTurn(conv(0), own)).not.toHaveProperty('generic');
    expect(planTurn(conv(1), own)).toMatchObject({ kind: 'error', message: 'stub_script[1]: the tool TodoWrite is not declared by the request (claude-code); it declares: Bash, Read, Glob' });
  });

  it('Codex: a shell command becomes JavaScript for its free-form exec tool, which must get text', () => {
    const codex: StubScriptOptions = { items: StubScript.parse([{ tool: 'shell', input: { command: `echo "it's" $((6*7))` } }, { tool: 'exec', input: { code: 'x' } }]), tools: TOOL_PROFILES.codex!.tools, agent: 'codex' };
    const tools = [{ name: 'exec', namespace: 'functions', kind: 'custom' as const }, { name: 'wait', namespace: 'functions', kind: 'function' as const, schema: schema('cell_id') }];
    const plan = planTurn(conv(0, tools), codex);
    expect(plan).toMatchObject({ kind: 'tool', call: { name: 'exec', kind: 'custom' } });
    const code = (plan as { call: ToolCall }).call.input as string;
    expect(code).toBe(`const r = await tools.exec_command({"cmd":"echo \\"it's\\" $((6*7))"});\ntext(r.output);`);
    expect(planTurn(conv(1, tools), codex)).toMatchObject({ kind: 'error', message: 'stub_script[1]: functions.exec is a free-form tool: give its input as a string' });
  });

  it('Codex releases with exec_command or shell as a function tool get their arguments', () => {
    const codex: StubScriptOptions = { items: StubScript.parse([{ tool: 'read_file', input: { path: "it's.md" } }]), tools: TOOL_PROFILES.codex!.tools, agent: 'codex' };
    expect(planTurn(conv(0, [{ name: 'exec_command', kind: 'function', schema: schema('cmd') }]), codex)).toMatchObject({ call: { input: { cmd: `cat -- 'it'\\''s.md'` } } });
    expect(planTurn(conv(0, [{ name: 'shell', kind: 'function' }]), codex)).toMatchObject({ call: { input: { command: ['bash', '-lc', `cat -- 'it'\\''s.md'`] } } });
  });

  it('Gemini CLI and Qwen Code: field names follow the declared schema; Qwen gets absolute paths', () => {
    const items = StubScript.parse([{ tool: 'read_file', input: { path: 'README.md' } }, { tool: 'list_dir', input: {} }]);
    const gem: StubScriptOptions = { items, tools: TOOL_PROFILES['gemini-cli']!.tools, agent: 'gemini-cli' };
    const older = [{ name: 'read_file', kind: 'function' as const, schema: schema('absolute_path') }, { name: 'list_directory', kind: 'function' as const, schema: schema('path') }];
    const newer = [{ name: 'read_file', kind: 'function' as const, schema: schema('file_path') }, { name: 'list_directory', kind: 'function' as const, schema: schema('dir_path') }];
    expect(planTurn(conv(0, newer), gem, '/w')).toMatchObject({ call: { input: { file_path: 'README.md' } } });
    expect(planTurn(conv(0, older), gem, '/w')).toMatchObject({ call: { input: { absolute_path: '/w/README.md' } } });
    expect(planTurn(conv(1, newer), gem, '/w')).toMatchObject({ call: { name: 'list_directory', input: {} } });
    const qwen: StubScriptOptions = { items, tools: TOOL_PROFILES['qwen-code']!.tools, agent: 'qwen-code' };
    const qwenTools = [{ name: 'read_file', kind: 'function' as const, schema: schema('file_path') }, { name: 'glob', kind: 'function' as const, schema: schema('pattern', 'path') }];
    expect(planTurn(conv(0, qwenTools), qwen, '/w')).toMatchObject({ call: { input: { file_path: '/w/README.md' } } });
    expect(planTurn(conv(1, qwenTools), qwen, '/w')).toMatchObject({ call: { name: 'glob', input: { pattern: '*' } } });
  });

  it('a plain agent.command resolves generic names against what it declares (synonyms)', () => {
    const plain: StubScriptOptions = { items: StubScript.parse(DEFAULT_STUB_SCRIPT), tools: SYNONYMS, agent: 'agent.command' };
    const canary = [
      { name: 'Bash', kind: 'function' as const, schema: schema('command') },
      { name: 'Read', kind: 'function' as const, schema: schema('file_path') },
      { name: 'LS', kind: 'function' as const, schema: schema('path') },
    ];
    expect(planTurn(conv(0, canary), plain, '/w')).toMatchObject({ call: { name: 'Bash' } });
    expect(planTurn(conv(1, canary), plain, '/w')).toMatchObject({ call: { name: 'Read', input: { file_path: '/w/README.md' } } });
    expect(planTurn(conv(2, canary), plain, '/w')).toMatchObject({ call: { name: 'LS', input: { path: '/w' } } });
    const geminiStyle = [{ name: 'run_shell_command', kind: 'function' as const, schema: schema('command') }];
    expect(planTurn(conv(0, geminiStyle), plain)).toMatchObject({ call: { name: 'run_shell_command', input: { command: "printf '%d-probe\\n' 0x2a" } } });
  });

  it('answerFromScript: the reply and the record of each turn', () => {
    const head = post('/v1/messages');
    const body = (history: unknown[] = []) => ({ ...anthropic.body(false, history), tools: claudeTools.map((t) => ({ name: t.name, input_schema: t.schema })) });
    const first = answerFromScript(anthropicMessages, head, body(), claude, '/w');
    expect(first.turn).toEqual({ index: 0, tool: 'Bash', generic: 'shell', reason: '0 tool results so far' });
    expect(json(first.reply!).content[0]).toMatchObject({ type: 'tool_use', name: 'Bash' });
    const call = anthropic.readBack(first.reply!, false);
    const history = [...anthropic.followUp(call, RESULT), ...anthropic.followUp({ ...call, id: 'toolu_2' }, 'readme'), ...anthropic.followUp({ ...call, id: 'toolu_3' }, 'ls')];
    const last = answerFromScript(anthropicMessages, head, body(history), claude, '/w');
    expect(last.turn).toEqual({ index: 3, reason: '3 tool results so far' });
    expect(json(last.reply!).content).toEqual([{ type: 'text', text: 'Done.' }]);
    const none = answerFromScript(anthropicMessages, head, { messages: [{ role: 'user', content: 'Write a title' }] }, claude);
    expect(none).toEqual({ reply: null, turn: { index: null, reason: 'declares no tools' } });
    const refused = answerFromScript(anthropicMessages, head, { ...body(), tools: [{ name: 'Read', input_schema: {} }] }, claude);
    expect(refused.reply!.status).toBe(400);
    expect(json(refused.reply!)).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining('promptdiff stub_script[0]: the generic tool shell is Bash for claude-code') } });
    expect(refused.turn.error).toMatch(/^stub_script\[0\]: /);
  });
});

describe('through the proxy (reverse route, plain HTTP)', () => {
  it('answers each request from the script and records the turn, or why none, on every record', async () => {
    log.level = 'silent';
    const dir = await mkdtemp(path.join(tmpdir(), 'pd-stub-script-proxy-'));
    const proxy = await startProxy({
      outDir: path.join(dir, 'main'),
      certsDir: path.join(dir, 'certs'),
      stubScript: { items: StubScript.parse([{ tool: 'read_file', input: { path: 'README.md' } }, { text: 'Done.' }]), tools: TOOL_PROFILES['qwen-code']!.tools, agent: 'qwen-code' },
    });
    try {
      const listener = await proxy.addRunListener('r1', path.join(dir, 'r1'), { workDir: '/tmp/promptdiff-sandbox/work' });
      const send = (p: string, body: unknown) => fetch(`${listener.url}${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const tools = [{ type: 'function', function: { name: 'read_file', parameters: { type: 'object', properties: { file_path: { type: 'string' } } } } }];
      const first = { model: 'qwen3-coder-plus', stream: true, messages: [{ role: 'user', content: 'Read it.' }], tools };
      const reply = await send('/v1/chat/completions', first);
      const call = chat.readBack({ status: reply.status, headers: {}, chunks: [await reply.text()] }, true);
      expect(call).toMatchObject({ name: 'read_file', input: { file_path: '/tmp/promptdiff-sandbox/work/README.md' }, stop: 'tool_calls' });
      const done = await send('/v1/chat/completions', { ...first, stream: false, messages: [...first.messages, ...chat.followUp(call, '# demo')] });
      expect(((await done.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content).toBe('Done.');
      expect((await send('/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'A title, please.' }] })).status).toBe(200);
      expect((await fetch(`${listener.url}/v1/models`)).status).toBe(200);
      await proxy.removeRunListener('r1');
      const { records } = await readExchanges(path.join(dir, 'r1'));
      expect(records.map((r) => r.stubTurn)).toEqual([
        { index: 0, tool: 'read_file', generic: 'read_file', reason: '0 tool results so far' },
        { index: 1, reason: '1 tool result so far' },
        { index: null, reason: 'declares no tools' },
        { index: null, reason: 'not a model API request' },
      ]);
      expect(records[0]!.response!.assembledText).toBe('');
      expect(records.every((r) => r.errors.length === 0)).toBe(true);
    } finally {
      await proxy.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
