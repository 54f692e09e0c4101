import { jsonReply } from './common.js';
import type { StubReply } from './types.js';

/*
 * What a stub script needs from a dialect (see proxy/stub-script.ts): how far a conversation has
 * got and which tools it offers (`Dialect.conversation`), and a reply in which the model calls one
 * of them (`Dialect.toolCall`). These are the dialect-neutral shapes both use.
 */

/** A tool as the request declares it to the model. */
export interface DeclaredTool {
  name: string;
  /** A Responses namespace the tool sits in (Codex 0.169: `functions`, `clock`, `collaboration`). */
  namespace?: string;
  /** function: JSON arguments; custom: free-form text input (Responses custom tools, e.g. Codex's `exec`). */
  kind: 'function' | 'custom';
  /** The input's JSON schema, when declared. */
  schema?: unknown;
}

/** A conversation as far as a script cares: how many turns are done, what may be called next. */
export interface Conversation {
  /**
   * Tool results the agent has sent back so far. Each scripted tool turn calls exactly one tool, so
   * this is the number of script turns already played, whatever else the agent put in between (Gemini
   * CLI opens with a model turn of its own; Codex sends reasoning items).
   */
  toolResults: number;
  tools: DeclaredTool[];
  /** The request asks for JSON that fits a schema (a router, a next-speaker check): never a script turn. */
  structured: boolean;
}

/** The one tool call a scripted turn makes. */
export interface ToolCall {
  name: string;
  kind: 'function' | 'custom';
  /** JSON arguments for a function tool; the text for a custom tool. */
  input: Record<string, unknown> | string;
}

/** A declared tool's name as a user would write it: `namespace.name` inside a namespace. */
export function qualifiedName(t: DeclaredTool): string {
  return t.namespace ? `${t.namespace}.${t.name}` : t.name;
}

/** The arguments as the wire carries them: a JSON string for function tools, the text itself for custom ones. */
export function inputText(call: ToolCall): string {
  return typeof call.input === 'string' ? call.input : JSON.stringify(call.input);
}

/**
 * A refusal the agent's client reads whatever its dialect: Anthropic's `{type: "error", error:
 * {type, message}}`, OpenAI's `{error: {message, type, code}}` and Gemini's `{error: {code,
 * message, status}}` share one object. 400, so clients report it instead of retrying.
 */
export function scriptErrorReply(message: string): StubReply {
  return jsonReply({ type: 'error', error: { type: 'invalid_request_error', code: 400, status: 'INVALID_ARGUMENT', message } }, {}, 400);
}
