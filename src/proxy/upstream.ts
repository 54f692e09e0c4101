import type { IncomingHttpHeaders } from 'node:http';

/**
 * Reverse route + passthrough without --upstream-url: the client's base URL points at us, so the
 * real API host is inferred from the request's shape. Returns null when nothing fits.
 */
export function defaultUpstreamFor(path: string, headers: IncomingHttpHeaders): string | null {
  const p = path.split('?')[0] ?? '';
  if (headers['anthropic-version'] || /\/v1\/messages(\/count_tokens)?$/.test(p)) return 'https://api.anthropic.com';
  if (/:(stream)?generateContent$|:countTokens$|^\/v1beta\//.test(p)) return 'https://generativelanguage.googleapis.com';
  if (/\/(chat\/completions|responses|embeddings|models)$/.test(p)) return 'https://api.openai.com';
  return null;
}
