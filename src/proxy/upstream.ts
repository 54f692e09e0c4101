import type { IncomingHttpHeaders } from 'node:http';
import { anthropicMessages, gemini, openaiChat } from '../dialects/index.js';

/**
 * Reverse route + passthrough without --upstream-url: the client's base URL points at us, so the
 * real API host is inferred from the request's shape. Returns null when nothing fits.
 */
export function defaultUpstreamFor(path: string, headers: IncomingHttpHeaders): string | null {
  const p = path.split('?')[0] ?? '';
  if (headers['anthropic-version'] || /\/v1\/messages(\/count_tokens)?$/.test(p)) return anthropicMessages.origin;
  if (/:(stream)?generateContent$|:countTokens$|^\/v1beta\//.test(p)) return gemini.origin;
  if (/\/(chat\/completions|responses|embeddings|models)$/.test(p)) return openaiChat.origin;
  return null;
}
