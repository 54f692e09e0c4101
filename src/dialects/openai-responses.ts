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
import type { Dialect, RequestHead, StubOptions, StubReply } from './types.js';

// Suffix match: Codex signed in with ChatGPT posts to /backend-api/codex/responses, not /v1/responses.
function matches(head: RequestHead): boolean {
  if (head.method.toUpperCase() !== 'POST') return false;
  const p = pathname(head.path).replace(/\/+$/, '');
  return p.endsWith('/responses') || p.endsWith('/responses/compact');
}

/**
 * `POST …/responses/compact`: Codex's remote compaction of a long history (unary JSON, never
 * streamed). It sends the same fields as a turn and reads `output` back as the new history.
 */
function isCompact(head: RequestHead): boolean {
  return pathname(head.path).replace(/\/+$/, '').endsWith('/responses/compact');
}

const METADATA_KEYS = [
  'max_output_tokens',
  'temperature',
  'top_p',
  'reasoning',
  'tool_choice',
  'parallel_tool_calls',
  'store',
  'include',
  'previous_response_id',
  'prompt_cache_key',
  'service_tier',
  'truncation',
  'metadata',
] as const;

function contentTexts(content: unknown): { texts: string[]; parts: string[] } {
  if (typeof content === 'string') return { texts: [content], parts: ['input_text'] };
  const texts: string[] = [];
  const parts: string[] = [];
  for (const c of arr(content)) {
    if (!isRecord(c)) continue;
    parts.push(str(c.type) ?? 'unknown');
    if (typeof c.text === 'string') texts.push(c.text);
  }
  return { texts, parts };
}

/**
 * One input item as a message. Calls are the assistant's turns; their outputs are what the tool
 * told the model, so an output's text counts as the message text.
 */
function readItem(item: Record<string, unknown>): ParsedMessage {
  const type = str(item.type) ?? 'message';
  if (type === 'message') {
    const { texts, parts } = contentTexts(item.content);
    return { role: str(item.role) ?? '', text: texts.join('\n'), parts };
  }
  if (type.endsWith('_output')) {
    const out = item.output;
    const text = typeof out === 'string' ? out : contentTexts(out).texts.join('\n');
    return { role: 'tool', text, parts: [type] };
  }
  return { role: 'assistant', text: '', parts: [type] };
}

/**
 * Tool definitions as the model sees them. A `namespace` (Codex 0.169: `functions`, `clock`,
 * `collaboration`) groups tools under a description of its own: the namespace is listed when it has
 * a description, and its tools as `namespace.tool`.
 */
function readTools(p: ParsedRequest, tools: unknown, prefix = ''): void {
  for (const t of arr(tools)) {
    if (!isRecord(t)) continue;
    // Function and custom tools are named; built-in ones (web_search, local_shell) only have a type.
    const name = str(t.name) ?? str(t.type);
    if (name === undefined) continue;
    const description = str(t.description);
    if (t.type === 'namespace' && Array.isArray(t.tools)) {
      if (description) p.tools.push({ name: prefix + name, description });
      readTools(p, t.tools, `${prefix}${name}.`);
      continue;
    }
    p.tools.push(description === undefined ? { name: prefix + name } : { name: prefix + name, description });
  }
}

function read(p: ParsedRequest, message: unknown): void {
  // Over a WebSocket a turn is a `response.create` event: the create body itself (Responses
  // WebSocket mode) or, Realtime-style, nested under `response`.
  const body = isRecord(message) && message.type === 'response.create' && isRecord(message.response) ? message.response : message;
  if (!isRecord(body)) return;
  p.model = str(body.model) ?? null;
  p.stream = body.stream === true;
  if (typeof body.instructions === 'string') p.system.push(body.instructions);
  if (typeof body.input === 'string') {
    p.messages.push({ role: 'user', text: body.input, parts: ['input_text'] });
  } else {
    for (const item of arr(body.input)) {
      if (!isRecord(item)) continue;
      const isMessage = item.type === undefined || item.type === 'message';
      // Codex 0.169 sends its tools as an input item, not in `tools` (header x-openai-internal-codex-responses-lite).
      if (item.type === 'additional_tools') readTools(p, item.tools);
      else if (isMessage && (item.role === 'system' || item.role === 'developer'))
        p.system.push(...contentTexts(item.content).texts);
      else p.messages.push(readItem(item));
    }
  }
  readTools(p, body.tools);
  p.metadata = pick(body, METADATA_KEYS);
  if (isRecord(body.text) && isRecord(body.text.format) && typeof body.text.format.type === 'string')
    p.metadata.text_format = body.text.format.type;
}

function replyText(body: Record<string, unknown>, text: string): string {
  const fmt = isRecord(body.text) ? body.text.format : undefined;
  if (isRecord(fmt) && fmt.type === 'json_schema') return JSON.stringify(exampleFromJsonSchema(fmt.schema, text));
  if (isRecord(fmt) && fmt.type === 'json_object') return JSON.stringify({ text });
  return text;
}

/** The usage object of a Responses reply, with the detail fields clients read. */
function usage(inputTokens: number, outputTokens: number) {
  return {
    input_tokens: inputTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: outputTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: inputTokens + outputTokens,
  };
}

/**
 * A compaction result: the user's own messages kept, then one user message carrying the stub text
 * as the summary. The real API adds an opaque `compaction` item instead; plain messages are what
 * every client can read back.
 */
function compactStub(b: Record<string, unknown>, text: string): StubReply {
  const kept = arr(b.input).filter(
    (i): i is Record<string, unknown> => isRecord(i) && (i.type === undefined || i.type === 'message') && i.role === 'user',
  );
  const inputTokens = bodyTokens(b);
  const outputTokens = textTokens(text);
  return jsonReply({
    id: stubId('resp_stub_'),
    object: 'response.compaction',
    created_at: unixSeconds(),
    output: [
      ...kept.map((i) => ({ type: 'message', role: 'user', content: i.content })),
      { type: 'message', role: 'user', content: [{ type: 'input_text', text }] },
    ],
    usage: usage(inputTokens, outputTokens),
  });
}

function stub(head: RequestHead, body: unknown, options: StubOptions): StubReply {
  const b = isRecord(body) ? body : {};
  if (isCompact(head)) return compactStub(b, options.text);
  const text = replyText(b, options.text);
  const inputTokens = bodyTokens(body);
  const outputTokens = textTokens(text);
  const itemId = stubId('msg_stub_');
  const part = { type: 'output_text', text, annotations: [], logprobs: [] };
  const item = { id: itemId, type: 'message', status: 'completed', role: 'assistant', content: [part] };
  const base = {
    id: stubId('resp_stub_'),
    object: 'response',
    created_at: unixSeconds(),
    error: null,
    incomplete_details: null,
    instructions: b.instructions ?? null,
    model: str(b.model) ?? 'gpt-stub',
    parallel_tool_calls: b.parallel_tool_calls ?? true,
    previous_response_id: b.previous_response_id ?? null,
    store: b.store ?? false,
    text: isRecord(b.text) ? b.text : { format: { type: 'text' } },
    tool_choice: b.tool_choice ?? 'auto',
    tools: [],
    metadata: {},
  };
  const completed = {
    ...base,
    status: 'completed',
    output: [item],
    usage: usage(inputTokens, outputTokens),
  };
  if (b.stream !== true) return jsonReply(completed);

  let seq = 0;
  // Codex dispatches on the `type` inside data, but the API also sends `event:` lines; keep both.
  const ev = (type: string, data: Record<string, unknown>): string =>
    formatSse({ event: type, data: JSON.stringify({ type, sequence_number: seq++, ...data }) });
  const inProgress = { ...base, status: 'in_progress', output: [], usage: null };
  const at = { item_id: itemId, output_index: 0, content_index: 0 };
  return sseReply([
    ev('response.created', { response: inProgress }),
    ev('response.in_progress', { response: inProgress }),
    ev('response.output_item.added', {
      output_index: 0,
      item: { ...item, status: 'in_progress', content: [] },
    }),
    ev('response.content_part.added', { ...at, part: { ...part, text: '' } }),
    ...splitText(text).map((delta) => ev('response.output_text.delta', { ...at, delta, logprobs: [] })),
    ev('response.output_text.done', { ...at, text, logprobs: [] }),
    ev('response.content_part.done', { ...at, part }),
    ev('response.output_item.done', { output_index: 0, item }),
    ev('response.completed', { response: completed }),
  ]);
}

function assembleText(events: SseEvent[]): string {
  let out = '';
  for (const e of events) {
    const d = eventJson(e);
    if (isRecord(d) && d.type === 'response.output_text.delta') out += str(d.delta) ?? '';
  }
  return out;
}

export const openaiResponses: Dialect = {
  name: 'openai-responses',
  matches,
  parse: (head, body) => safeParse('openai-responses', isCompact(head) ? 'responses.compact' : 'responses', (p) => read(p, body)),
  stub,
  assembleText,
};
