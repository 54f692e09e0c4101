import type { ParsedRequest } from '../capture/schema.js';
import { headerOf } from '../capture/headers.js';
import { anthropicMessages } from './anthropic-messages.js';
import { emptyParsed, jsonReply, pathname, STUB_HEADER, unixSeconds } from './common.js';
import { amp } from './amp.js';
import { augment } from './augment.js';
import { gemini } from './gemini.js';
import { openaiChat } from './openai-chat.js';
import { openaiResponses } from './openai-responses.js';
import { qoder } from './qoder.js';
import type { Dialect, RequestHead, StubReply } from './types.js';

export type { Dialect, RequestHead, StubOptions, StubReply } from './types.js';
export { parseSse, formatSse } from './sse.js';
export { exampleFromJsonSchema } from './json-schema-example.js';
export { STUB_HEADER } from './common.js';
export { anthropicMessages, openaiChat, openaiResponses, gemini, qoder, augment, amp };

/**
 * Model APIs' paths do not overlap. The vendor APIs come last: they also match by host or by the
 * vendor's headers, and a model call a vendor client makes to a provider must stay a model call.
 */
export const dialects: Dialect[] = [anthropicMessages, openaiResponses, openaiChat, gemini, qoder, augment, amp];

export function detectDialect(head: RequestHead): Dialect | null {
  return dialects.find((d) => d.matches(head)) ?? null;
}

function isModelList(head: RequestHead): boolean {
  return head.method.toUpperCase() === 'GET' && /\/models$/.test(pathname(head.path).replace(/\/+$/, ''));
}

/** What an unrecognised request is for, by its first header line only. */
export function parseUnknown(head: RequestHead, _body: unknown): ParsedRequest {
  return emptyParsed('unknown', isModelList(head) ? 'models' : 'unknown');
}

/**
 * One body readable as an Anthropic, OpenAI and Gemini model list at once: each client takes the
 * fields it knows, so we need not guess the caller. Only the ids follow the caller's hints.
 */
function modelList(head: RequestHead): unknown {
  const ids =
    headerOf(head.headers, 'anthropic-version') !== undefined
      ? anthropicMessages.models
      : headerOf(head.headers, 'x-goog-api-key') !== undefined || head.path.includes('/v1beta/')
        ? gemini.models
        : openaiChat.models;
  const created = unixSeconds();
  return {
    object: 'list',
    data: ids.map((id) => ({
      id,
      object: 'model',
      type: 'model',
      display_name: id,
      created,
      created_at: new Date(created * 1000).toISOString(),
      owned_by: 'promptdiff-stub',
    })),
    has_more: false,
    first_id: ids[0],
    last_id: ids[ids.length - 1],
    models: ids.map((id) => ({ name: `models/${id}`, displayName: id, supportedGenerationMethods: ['generateContent'] })),
  };
}

/** A harmless 200 for traffic no dialect claims (health checks, telemetry, model lists). */
export function unknownStub(head: RequestHead): StubReply {
  const method = head.method.toUpperCase();
  const p = pathname(head.path);
  // HEAD replies never carry a body, whatever the path.
  if (method === 'HEAD' || (method === 'GET' && p === '/')) {
    return { status: 200, headers: { 'content-type': 'text/plain', [STUB_HEADER]: '1' }, chunks: [] };
  }
  if (isModelList(head)) return jsonReply(modelList(head));
  // Recent Claude Code releases (measured: 2.1.331; not 2.1.113) validate this answer: `{}` lacks `restrictions`, so it retries
  // with backoff and holds its first /v1/messages call back by ~5 s. An empty policy restricts nothing.
  if (method === 'GET' && p.replace(/\/+$/, '').endsWith('/api/claude_code/policy_limits')) return jsonReply({ restrictions: {} });
  return jsonReply({});
}
