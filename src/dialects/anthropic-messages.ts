import type { ParsedMessage, ParsedRequest, SseEvent } from '../capture/schema.js';
import {
  arr,
  bodyTokens,
  eventJson,
  isRecord,
  pathname,
  pick,
  safeParse,
  splitText,
  sseReply,
  str,
  stubId,
  textTokens,
  jsonReply,
} from './common.js';
import { exampleFromJsonSchema } from './json-schema-example.js';
import { formatSse } from './sse.js';
import type { Conversation, DeclaredTool, ToolCall } from './tool-turns.js';
import type { Dialect, RequestHead, StubOptions, StubReply } from './types.js';

// Suffix match: a base URL may carry a prefix (ANTHROPIC_BASE_URL=http://127.0.0.1:8080/anthropic).
function endpointOf(head: RequestHead): 'messages' | 'count_tokens' | null {
  if (head.method.toUpperCase() !== 'POST') return null;
  const p = pathname(head.path).replace(/\/+$/, '');
  if (p.endsWith('/v1/messages')) return 'messages';
  if (p.endsWith('/v1/messages/count_tokens')) return 'count_tokens';
  return null;
}

const METADATA_KEYS = [
  'max_tokens',
  'temperature',
  'top_p',
  'top_k',
  'stop_sequences',
  'thinking',
  'tool_choice',
  'metadata',
  'service_tier',
  'context_management',
] as const;

/** Text a block shows the model: its own text, or for a tool result the text it carries. */
function blockText(block: Record<string, unknown>): string | undefined {
  if (block.type === 'text') return str(block.text);
  if (block.type === 'tool_result') {
    const c = block.content;
    if (typeof c === 'string') return c;
    const texts = arr(c).flatMap((b) => (isRecord(b) && b.type === 'text' && typeof b.text === 'string' ? [b.text] : []));
    return texts.length > 0 ? texts.join('\n') : undefined;
  }
  return undefined;
}

function readMessage(m: unknown): ParsedMessage | null {
  if (!isRecord(m)) return null;
  const role = str(m.role) ?? '';
  if (typeof m.content === 'string') return { role, text: m.content, parts: ['text'] };
  const texts: string[] = [];
  const parts: string[] = [];
  for (const b of arr(m.content)) {
    if (!isRecord(b)) continue;
    parts.push(str(b.type) ?? 'unknown');
    const t = blockText(b);
    if (t !== undefined) texts.push(t);
  }
  return { role, text: texts.join('\n'), parts };
}

function read(p: ParsedRequest, body: unknown): void {
  if (!isRecord(body)) return;
  p.model = str(body.model) ?? null;
  p.stream = body.stream === true;
  if (typeof body.system === 'string') p.system = [body.system];
  else
    for (const b of arr(body.system)) {
      if (typeof b === 'string') p.system.push(b);
      else if (isRecord(b) && typeof b.text === 'string') p.system.push(b.text);
    }
  for (const m of arr(body.messages)) {
    const msg = readMessage(m);
    if (msg) p.messages.push(msg);
  }
  for (const t of arr(body.tools)) {
    if (!isRecord(t)) continue;
    // Server tools (web_search_20250305, bash_20250124...) have a name too; type is the fallback.
    const name = str(t.name) ?? str(t.type);
    if (name === undefined) continue;
    const description = str(t.description);
    p.tools.push(description === undefined ? { name } : { name, description });
  }
  p.metadata = pick(body, METADATA_KEYS);
}

/** Structured outputs (beta `output_format`, later `output_config.format`): the schema the reply must fit. */
function outputSchema(body: unknown): { schema: unknown } | undefined {
  if (!isRecord(body)) return undefined;
  const fmt = isRecord(body.output_format)
    ? body.output_format
    : isRecord(body.output_config) && isRecord(body.output_config.format)
      ? body.output_config.format
      : undefined;
  return fmt?.type === 'json_schema' && fmt.schema !== undefined ? { schema: fmt.schema } : undefined;
}

function replyText(body: unknown, text: string): string {
  const out = outputSchema(body);
  return out ? JSON.stringify(exampleFromJsonSchema(out.schema, text)) : text;
}

/** The one content block a stub message carries. */
type Block = { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

function stub(head: RequestHead, body: unknown, options: StubOptions): StubReply {
  if (endpointOf(head) === 'count_tokens') return jsonReply({ input_tokens: bodyTokens(body) }, { 'request-id': stubId('req_stub_') });
  return messageReply(body, { type: 'text', text: replyText(body, options.text) });
}

function toolCall(_head: RequestHead, body: unknown, call: ToolCall): StubReply {
  const input = typeof call.input === 'string' ? { input: call.input } : call.input;
  return messageReply(body, { type: 'tool_use', id: stubId('toolu_stub_'), name: call.name, input });
}

function messageReply(body: unknown, block: Block): StubReply {
  const headers = { 'request-id': stubId('req_stub_') };
  const inputTokens = bodyTokens(body);
  const b = isRecord(body) ? body : {};
  const model = str(b.model) ?? 'claude-stub';
  // What the deltas carry: the text, or the tool input as JSON (streamed in pieces, as the API does).
  const wire = block.type === 'text' ? block.text : JSON.stringify(block.input);
  const stopReason = block.type === 'text' ? 'end_turn' : 'tool_use';
  const outputTokens = textTokens(wire);
  const id = stubId('msg_stub_');
  const usage = {
    input_tokens: inputTokens,
    output_tokens: outputTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
  };
  if (b.stream !== true) {
    return jsonReply(
      {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content: [block],
        stop_reason: stopReason,
        stop_sequence: null,
        usage,
      },
      headers,
    );
  }
  // Claude Code needs the `event:` line on every event; without it the stream counts as broken.
  const ev = (type: string, data: Record<string, unknown>): string =>
    formatSse({ event: type, data: JSON.stringify({ type, ...data }) });
  const start = block.type === 'text' ? { type: 'text', text: '' } : { ...block, input: {} };
  const delta = (piece: string) =>
    block.type === 'text' ? { type: 'text_delta', text: piece } : { type: 'input_json_delta', partial_json: piece };
  return sseReply(
    [
      ev('message_start', {
        message: {
          id,
          type: 'message',
          role: 'assistant',
          model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { ...usage, output_tokens: 1 },
        },
      }),
      ev('content_block_start', { index: 0, content_block: start }),
      ev('ping', {}),
      ...splitText(wire).map((piece) => ev('content_block_delta', { index: 0, delta: delta(piece) })),
      ev('content_block_stop', { index: 0 }),
      ev('message_delta', {
        delta: { stop_reason: stopReason, stop_sequence: null },
        usage: { output_tokens: outputTokens },
      }),
      ev('message_stop', {}),
    ],
    headers,
  );
}

/** Tool results sent back so far, and the client tools offered (server tools such as web_search are typed and run by the API). */
function conversation(head: RequestHead, body: unknown): Conversation | null {
  if (endpointOf(head) !== 'messages') return null;
  const b = isRecord(body) ? body : {};
  let toolResults = 0;
  for (const m of arr(b.messages)) {
    if (!isRecord(m) || m.role !== 'user') continue;
    for (const block of arr(m.content)) if (isRecord(block) && block.type === 'tool_result') toolResults += 1;
  }
  const tools: DeclaredTool[] = [];
  for (const t of arr(b.tools)) {
    if (isRecord(t) && typeof t.name === 'string' && (t.type === undefined || t.type === 'custom'))
      tools.push({ name: t.name, kind: 'function', schema: t.input_schema });
  }
  return { toolResults, tools, structured: outputSchema(body) !== undefined };
}

function assembleText(events: SseEvent[]): string {
  let out = '';
  for (const e of events) {
    const d = eventJson(e);
    if (isRecord(d) && d.type === 'content_block_delta' && isRecord(d.delta) && d.delta.type === 'text_delta')
      out += str(d.delta.text) ?? '';
  }
  return out;
}

export const anthropicMessages: Dialect = {
  name: 'anthropic-messages',
  origin: 'https://api.anthropic.com',
  baseUrl: 'https://api.anthropic.com',
  models: ['claude-sonnet-4-5', 'claude-haiku-4-5'],
  matches: (head) => endpointOf(head) !== null,
  parse: (head, body) =>
    safeParse('anthropic-messages', endpointOf(head) ?? 'messages', (p) => read(p, body)),
  stub,
  assembleText,
  conversation,
  toolCall,
};
