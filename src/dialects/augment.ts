import type { ParsedRequest } from '../capture/schema.js';
import { arr, headerValue, hostName, identityHeaders, isRecord, jsonReply, pathname, pick, safeParse, STUB_HEADER, str } from './common.js';
import type { Dialect, RequestHead, StubOptions, StubReply } from './types.js';

/*
 * Augment's own API (the session's `tenantURL`, e.g. https://<tenant>.api.augmentcode.com/), as
 * Auggie 0.36.0 uses it: `POST /<endpoint>` with a JSON body, answered with JSON, except
 * `chat-stream`, answered with newline-delimited JSON objects (`{text, nodes?, stop_reason?}`).
 * The model prompt is assembled on Augment's server: the client sends the task as `nodes`, its
 * tool definitions, rules and IDE state, never a system prompt. What was observed: docs/agents.md.
 */

/** Paths Auggie posts to: recognised even without its User-Agent (reverse route, other clients). */
const ENDPOINTS = new Set([
  'get-models',
  'chat-stream',
  'prompt-enhancer',
  'report-error',
  'agents/list-remote-tools',
  'agents/check-tool-safety',
  'settings/get-mcp-tenant-configs',
  'settings/get-mcp-user-configs',
  'settings/get-tenant-tool-permissions',
  'subscription-info',
  'record-request-events',
  'record-session-events',
  'client-metrics',
  'batch-upload',
  'find-missing',
]);

const IDENTITY_HEADERS = ['user-agent', 'x-request-session-id', 'x-request-id'] as const;

const CHAT_FIELDS = ['mode', 'feature_detection_flags', 'third_party_override', 'enable_parallel_tool_use', 'silent', 'skills', 'persona_ids', 'agent_persona_id'] as const;

function endpointOf(head: RequestHead): string {
  return pathname(head.path).replace(/^\/+|\/+$/g, '');
}

function matches(head: RequestHead): boolean {
  if (head.method.toUpperCase() !== 'POST') return false;
  if (/^augment\./.test(headerValue(head, 'user-agent') ?? '')) return true;
  const host = hostName(head);
  return host.endsWith('.augmentcode.com') || ENDPOINTS.has(endpointOf(head));
}

/** The task and context Auggie sends as typed request nodes: text, tool results and IDE state. */
function nodeText(n: Record<string, unknown>): string {
  if (isRecord(n.text_node)) return str(n.text_node.content) ?? '';
  if (isRecord(n.tool_result_node)) return str(n.tool_result_node.content) ?? '';
  if (isRecord(n.ide_state_node)) return JSON.stringify(n.ide_state_node);
  return '';
}

function nodeKind(n: Record<string, unknown>): string {
  for (const k of Object.keys(n)) if (k.endsWith('_node')) return k.slice(0, -'_node'.length);
  return 'unknown';
}

function readChat(p: ParsedRequest, body: Record<string, unknown>): void {
  p.model = str(body.model) ?? null;
  // Rules and guidelines are the only instructions the client contributes to the server's prompt.
  for (const r of arr(body.rules)) if (isRecord(r) && typeof r.content === 'string') p.system.push(r.content);
  for (const k of ['user_guidelines', 'workspace_guidelines'] as const) if (typeof body[k] === 'string' && body[k]) p.system.push(body[k]);
  if (typeof body.system_prompt === 'string') p.system.push(body.system_prompt);
  for (const h of arr(body.chat_history)) {
    if (!isRecord(h)) continue;
    p.messages.push({ role: 'user', text: str(h.request_message) ?? '', parts: ['text'] });
    p.messages.push({ role: 'assistant', text: str(h.response_text) ?? '', parts: ['text'] });
  }
  const nodes = arr(body.nodes).filter(isRecord);
  const message = str(body.message) ?? '';
  const texts = [message, ...nodes.map(nodeText)].filter((t) => t.length > 0);
  p.messages.push({ role: 'user', text: texts.join('\n'), parts: [...(message ? ['text'] : []), ...nodes.map(nodeKind)] });
  for (const t of arr(body.tool_definitions)) {
    if (!isRecord(t) || typeof t.name !== 'string') continue;
    p.tools.push(typeof t.description === 'string' ? { name: t.name, description: t.description } : { name: t.name });
  }
  Object.assign(p.metadata, pick(body, CHAT_FIELDS));
}

function parse(head: RequestHead, body: unknown): ParsedRequest {
  const endpoint = endpointOf(head);
  return safeParse('augment', endpoint, (p) => {
    p.metadata = { ...identityHeaders(head, IDENTITY_HEADERS) };
    if (!isRecord(body)) return;
    if (endpoint === 'chat-stream' || endpoint === 'chat') readChat(p, body);
    // report-error carries the client's stack trace and the failing request id.
    else Object.assign(p.metadata, pick(body, ['original_request_id', 'sanitized_message', 'product_type', 'tool_id_list']));
  });
}

export const AUGMENT_STUB_MODEL = 'promptdiff-stub';

function stub(head: RequestHead, _body: unknown, options: StubOptions): StubReply {
  const endpoint = endpointOf(head);
  if (endpoint === 'get-models') {
    // Checked by Auggie: default_model a string, models an array of {name, suggested_*_char_count}.
    return jsonReply({
      default_model: AUGMENT_STUB_MODEL,
      models: [{ name: AUGMENT_STUB_MODEL, suggested_prefix_char_count: 4000, suggested_suffix_char_count: 1000 }],
      languages: [],
      feature_flags: {},
    });
  }
  if (endpoint === 'agents/list-remote-tools') return jsonReply({ tools: [] });
  if (endpoint === 'chat-stream') {
    // One JSON object per line; stop_reason 1 is END_TURN in Augment's enum.
    return {
      status: 200,
      headers: { 'content-type': 'application/json', [STUB_HEADER]: '1' },
      chunks: [`${JSON.stringify({ text: options.text })}\n`, `${JSON.stringify({ text: '', stop_reason: 1 })}\n`],
    };
  }
  if (endpoint === 'chat') return jsonReply({ text: options.text });
  return jsonReply({});
}

export const augment: Dialect = {
  name: 'augment',
  // The host the client calls first; its model list is not asked for (the vendor API picks the model).
  origin: 'https://api.augmentcode.com',
  baseUrl: 'https://api.augmentcode.com',
  models: [],
  matches,
  parse,
  stub,
  // chat-stream is newline-delimited JSON, not SSE: a passthrough capture keeps it as the body.
  assembleText: () => '',
  // Auggie's tool calls come back as response nodes the stub script does not write (yet).
  conversation: () => null,
  toolCall: (head, body) => stub(head, body, { text: '' }),
};
