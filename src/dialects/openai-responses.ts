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

/**
 * The create body. Over a WebSocket a turn is a `response.create` event: the create body itself
 * (Responses WebSocket mode) or, Realtime-style, nested under `response`.
 */
function createBody(message: unknown): unknown {
  return isRecord(message) && message.type === 'response.create' && isRecord(message.response) ? message.response : message;
}

/** A `response.create` message asks for a turn (always streamed); `response.processed` and the like do not. */
function websocketTurn(message: unknown): { body: unknown; continues: boolean } | null {
  if (!isRecord(message) || message.type !== 'response.create') return null;
  const body = createBody(message);
  if (!isRecord(body)) return null;
  return { body: { ...body, stream: true }, continues: typeof body.previous_response_id === 'string' && body.previous_response_id !== '' };
}

function read(p: ParsedRequest, message: unknown): void {
  const body = createBody(message);
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
  // A prewarm (Codex sends one on a new WebSocket): the API answers it without generating anything.
  if (b.generate === false) return responseReply(b, null);
  const text = replyText(b, options.text);
  const part = { type: 'output_text', text, annotations: [], logprobs: [] };
  return responseReply(b, {
    item: { id: stubId('msg_stub_'), type: 'message', status: 'completed', role: 'assistant', content: [part] },
    started: { content: [] },
    wire: text,
    events: (ev, at) => {
      const inPart = { ...at, content_index: 0 };
      return [
        ev('response.content_part.added', { ...inPart, part: { ...part, text: '' } }),
        ...splitText(text).map((delta) => ev('response.output_text.delta', { ...inPart, delta, logprobs: [] })),
        ev('response.output_text.done', { ...inPart, text, logprobs: [] }),
        ev('response.content_part.done', { ...inPart, part }),
      ];
    },
  });
}

/**
 * A function tool's call carries JSON `arguments`, a custom tool's (Codex's `exec`) free-form
 * `input`; each streams in deltas of its own event type, as the API sends them.
 */
function toolCall(_head: RequestHead, body: unknown, call: ToolCall): StubReply {
  const b = isRecord(body) ? body : {};
  const wire = inputText(call);
  const custom = call.kind === 'custom';
  const field = custom ? 'input' : 'arguments';
  const prefix = custom ? 'response.custom_tool_call_input' : 'response.function_call_arguments';
  return responseReply(b, {
    item: {
      id: stubId(custom ? 'ctc_stub_' : 'fc_stub_'),
      type: custom ? 'custom_tool_call' : 'function_call',
      status: 'completed',
      call_id: stubId('call_stub_'),
      name: call.name,
      [field]: wire,
    },
    started: { [field]: '' },
    wire,
    events: (ev, at) => [
      ...splitText(wire).map((delta) => ev(`${prefix}.delta`, { ...at, delta })),
      ev(`${prefix}.done`, { ...at, [field]: wire }),
    ],
  });
}

type Ev = (type: string, data: Record<string, unknown>) => string;

/** The one output item of a stub response, and the events that stream its content. */
interface OutputItem {
  item: Record<string, unknown> & { id: string };
  /** What differs in the item as first announced (`output_item.added`, still in progress). */
  started: Record<string, unknown>;
  /** The text the output tokens are counted from. */
  wire: string;
  events(ev: Ev, at: { item_id: string; output_index: number }): string[];
}

/** A response with one output item; with none (null), an empty one (a `generate: false` prewarm). */
function responseReply(b: Record<string, unknown>, out: OutputItem | null): StubReply {
  const inputTokens = bodyTokens(b);
  const outputTokens = out ? textTokens(out.wire) : 0;
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
    output: out ? [out.item] : [],
    usage: usage(inputTokens, outputTokens),
  };
  if (b.stream !== true) return jsonReply(completed);

  let seq = 0;
  // Codex dispatches on the `type` inside data, but the API also sends `event:` lines; keep both.
  const ev: Ev = (type, data) => formatSse({ event: type, data: JSON.stringify({ type, sequence_number: seq++, ...data }) });
  const inProgress = { ...base, status: 'in_progress', output: [], usage: null };
  if (!out) return sseReply([ev('response.created', { response: inProgress }), ev('response.completed', { response: completed })]);
  return sseReply([
    ev('response.created', { response: inProgress }),
    ev('response.in_progress', { response: inProgress }),
    ev('response.output_item.added', { output_index: 0, item: { ...out.item, status: 'in_progress', ...out.started } }),
    ...out.events(ev, { item_id: out.item.id, output_index: 0 }),
    ev('response.output_item.done', { output_index: 0, item: out.item }),
    ev('response.completed', { response: completed }),
  ]);
}

/** A declared tool: function and custom tools, namespaces opened up; built-in tools (web_search, local_shell) are the API's. */
function declaredTools(tools: unknown, out: DeclaredTool[], namespace?: string): void {
  for (const t of arr(tools)) {
    if (!isRecord(t) || typeof t.name !== 'string') continue;
    if (t.type === 'namespace') declaredTools(t.tools, out, t.name);
    else if (t.type === 'function' || t.type === 'custom') {
      const tool: DeclaredTool = { name: t.name, kind: t.type, schema: t.type === 'function' ? t.parameters : t.format };
      out.push(namespace === undefined ? tool : { ...tool, namespace });
    }
  }
}

/** Every `*_output` input item is a tool result (function_call_output, custom_tool_call_output, ...). */
function conversation(head: RequestHead, message: unknown): Conversation | null {
  if (isCompact(head)) return null;
  const body = createBody(message);
  const b = isRecord(body) ? body : {};
  // A prewarm asks for no output: no turn of a script is played on it.
  if (b.generate === false) return null;
  let toolResults = 0;
  const tools: DeclaredTool[] = [];
  for (const item of arr(b.input)) {
    if (!isRecord(item) || typeof item.type !== 'string') continue;
    if (item.type.endsWith('_output')) toolResults += 1;
    else if (item.type === 'additional_tools') declaredTools(item.tools, tools);
  }
  declaredTools(b.tools, tools);
  const fmt = isRecord(b.text) ? b.text.format : undefined;
  return { toolResults, tools, structured: isRecord(fmt) && (fmt.type === 'json_schema' || fmt.type === 'json_object') };
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
  origin: 'https://api.openai.com',
  baseUrl: 'https://api.openai.com/v1',
  models: ['gpt-5', 'gpt-5-mini'],
  matches,
  parse: (head, body) => safeParse('openai-responses', isCompact(head) ? 'responses.compact' : 'responses', (p) => read(p, body)),
  stub,
  assembleText,
  conversation,
  toolCall,
  websocketTurn,
};
