import { z } from 'zod';
import type { FactorKind } from './types.js';

const url = z.string().regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, 'expected an http(s) URL');

/** One provider's endpoint per API family: the agent gets the one its dialect speaks. */
const ByDialect = z.union([
  url,
  z.strictObject({
    'anthropic-messages': url.optional(),
    'openai-chat': url.optional(),
    'openai-responses': url.optional(),
    gemini: url.optional(),
  }),
]);
type ByDialect = z.infer<typeof ByDialect>;

export function baseUrlFor(params: ByDialect, dialect: string): string | undefined {
  return typeof params === 'string' ? params : (params as Record<string, string | undefined>)[dialect];
}

export const baseUrl: FactorKind<ByDialect> = {
  kind: 'base-url',
  summary: "the API base URL the agent is configured with (the preset's base-URL variable or flag)",
  readers: ["the agent's base-URL setting (ANTHROPIC_BASE_URL, OPENAI_BASE_URL, GOOGLE_GEMINI_BASE_URL, Codex's provider base_url)"],
  needs: [],
  plainValues: true,
  params: ByDialect,
  apply(params, plan, ctx) {
    const chosen = baseUrlFor(params, ctx.dialect);
    if (chosen) plan.baseUrl = chosen;
    else plan.notes.push(`no ${ctx.dialect} endpoint for this base-URL value: the agent keeps its default`);
  },
};
