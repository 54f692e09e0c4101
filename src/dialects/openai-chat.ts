import type { ParsedMessage, ParsedRequest, SseEvent } from '../capture/schema.js';
import {
  arr,
  bodyTokens,
  eventJson,
  isRecord,
  jsonReply,
  pathname,
  pick,
  safeParse,
  splitText,
  sseReply,
  str,
  stubId,
  textTokens,
  unixSeconds,
} from './common.js';
import { exampleFromJsonSchema } from './json-schema-example.js';
import { formatSse } from './sse.js';
import { inputText, type Conversation, type DeclaredTool, type ToolCall } from './tool-turns.js';
import type { Dialect, RequestHead, StubOptions, StubReply } from './types.js';

// Suffix match: OpenAI-compatible servers mount the API anywhere (/v1, /api/v1, /compatible-mode/v1, none).
function matches(head: RequestHead): boolean {
  return (
    head.method.toUpperCase() === 'POST' &&
    pathname(head.path).replace(/\/+$/, '').endsWith('/chat/completions')
  );
}

const METADATA_KEYS = [
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'n',
  'stop',
  'seed',
  'tool_choice',
  'parallel_tool_calls',
  'reasoning_effort',
  'stream_options',
  'metadata',
] as const;

/** Text parts of a content value: a plain string is one part. */
function contentTexts(content: unknown): { texts: string[]; parts: string[] } {
  if (typeof content === 'string') return { texts: [content], parts: ['text'] };
  const texts: string[] = [];
  const parts: string[] = [];
  for (const c of arr(content)) {
    if (typeof c === 'string') {
      texts.push(c);
      parts.push('text');
    } else if (isRecord(c)) {
      parts.push(str(c.type) ?? 'unknown');
      if (typeof c.text === 'string') texts.push(c.text);
    }
  }
  return { texts, parts };
}

function readMessage(m: Record<string, unknown>): ParsedMessage {
  const { texts, parts } = contentTexts(m.content);
  for (const _ of arr(m.tool_calls)) parts.push('tool_call');
  if (isRecord(m.function_call)) parts.push('function_call');
  return { role: str(m.role) ?? '', text: texts.join('\n'), parts };
}

function read(p: ParsedRequest, body: unknown): void {
  if (!isRecord(body)) return;
  p.model = str(body.model) ?? null;
  p.stream = body.stream === true;
  for (const m of arr(body.messages)) {
    if (!isRecord(m)) continue;
    // System and developer turns go to `system` (in order) so every dialect compares prompts alike.
    if (m.role === 'system' || m.role === 'developer') p.system.push(...contentTexts(m.content).texts);
    else p.messages.push(readMessage(m));
  }
  // `functions` is the pre-tools spelling some clients still send; a custom (free-form) tool keeps
  // its name under `custom` (Copilot CLI's apply_patch).
  for (const t of [...arr(body.tools), ...arr(body.functions)]) {
    if (!isRecord(t)) continue;
    const fn = isRecord(t.function) ? t.function : isRecord(t.custom) ? t.custom : t;
    const name = str(fn.name) ?? str(t.type);
    if (name === undefined) continue;
    const description = str(fn.description);
    p.tools.push(description === undefined ? { name } : { name, description });
  }
  p.metadata = pick(body, METADATA_KEYS);
  if (isRecord(body.response_format) && typeof body.response_format.type === 'string')
    p.metadata.response_format = body.response_format.type;
}

function replyText(body: Record<string, unknown>, text: string): string {
  const rf = body.response_format;
  if (!isRecord(rf)) return text;
  if (rf.type === 'json_schema' && isRecord(rf.json_schema))
    return JSON.stringify(exampleFromJsonSchema(rf.json_schema.schema, text));
  if (rf.type === 'json_object') return JSON.stringify({ text });
  return text;
}

/** What the assistant message of a stub reply says: text, or one tool call. */
type Said = { text: string } | { call: { id: string; name: string; arguments: string } };

function stub(_head: RequestHead, body: unknown, options: StubOptions): StubReply {
  const b = isRecord(body) ? body : {};
  return completionReply(b, { text: replyText(b, options.text) });
}

function toolCall(_head: RequestHead, body: unknown, call: ToolCall): StubReply {
  return completionReply(isRecord(body) ? body : {}, { call: { id: stubId('call_stub_'), name: call.name, arguments: inputText(call) } });
}

function completionReply(b: Record<string, unknown>, said: Said): StubReply {
  const model = str(b.model) ?? 'gpt-stub';
  const id = stubId('chatcmpl-stub');
  const created = unixSeconds();
  const promptTokens = bodyTokens(b);
  const completionTokens = textTokens('text' in said ? said.text : said.call.arguments);
  const finish = 'text' in said ? 'stop' : 'tool_calls';
  const usage = {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
  if (b.stream !== true) {
    const message =
      'text' in said
        ? { role: 'assistant', content: said.text, refusal: null }
        : { role: 'assistant', content: null, refusal: null, tool_calls: [{ id: said.call.id, type: 'function', function: { name: said.call.name, arguments: said.call.arguments } }] };
    return jsonReply({
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
      usage,
    });
  }
  const includeUsage = isRecord(b.stream_options) && b.stream_options.include_usage === true;
  // OpenAI sends `usage: null` on every chunk when usage was asked for; the last chunk fills it.
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): string =>
    formatSse({
      data: JSON.stringify({
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        choices,
        ...(includeUsage ? { usage: null } : {}),
        ...extra,
      }),
    });
  const choice = (delta: Record<string, unknown>, finish: string | null): Record<string, unknown> => ({
    index: 0,
    delta,
    logprobs: null,
    finish_reason: finish,
  });
  // A tool call streams as OpenAI sends it: id, type and name in the first delta, the arguments in pieces after.
  const body =
    'text' in said
      ? [
          chunk([choice({ role: 'assistant', content: '', refusal: null }, null)]),
          ...splitText(said.text).map((piece) => chunk([choice({ content: piece }, null)])),
        ]
      : [
          chunk([choice({ role: 'assistant', content: null, refusal: null }, null)]),
          chunk([choice({ tool_calls: [{ index: 0, id: said.call.id, type: 'function', function: { name: said.call.name, arguments: '' } }] }, null)]),
          ...splitText(said.call.arguments).map((piece) => chunk([choice({ tool_calls: [{ index: 0, function: { arguments: piece } }] }, null)])),
        ];
  const chunks = [...body, chunk([choice({}, finish)])];
  // Qwen Code reads token counts from this chunk and misbehaves without it.
  if (includeUsage) chunks.push(chunk([], { usage }));
  chunks.push(formatSse({ data: '[DONE]' }));
  return sseReply(chunks);
}

/** Tool results are `tool` messages (or the older `function` role); tools are the function tools offered. */
function conversation(_head: RequestHead, body: unknown): Conversation | null {
  const b = isRecord(body) ? body : {};
  let toolResults = 0;
  for (const m of arr(b.messages)) if (isRecord(m) && (m.role === 'tool' || m.role === 'function')) toolResults += 1;
  const tools: DeclaredTool[] = [];
  for (const t of [...arr(b.tools), ...arr(b.functions)]) {
    if (!isRecord(t)) continue;
    const fn = isRecord(t.function) ? t.function : t;
    if (typeof fn.name === 'string') tools.push({ name: fn.name, kind: 'function', schema: fn.parameters });
  }
  const rf = b.response_format;
  return { toolResults, tools, structured: isRecord(rf) && (rf.type === 'json_schema' || rf.type === 'json_object') };
}

function assembleText(events: SseEvent[]): string {
  let out = '';
  for (const e of events) {
    const d = eventJson(e);
    if (!isRecord(d)) continue;
    for (const c of arr(d.choices)) {
      if (isRecord(c) && isRecord(c.delta)) out += str(c.delta.content) ?? '';
    }
  }
  return out;
}

export const openaiChat: Dialect = {
  name: 'openai-chat',
  origin: 'https://api.openai.com',
  baseUrl: 'https://api.openai.com/v1',
  models: ['gpt-5', 'gpt-5-mini'],
  matches,
  parse: (_head, body) => safeParse('openai-chat', 'chat.completions', (p) => read(p, body)),
  stub,
  assembleText,
  conversation,
  toolCall,
};
