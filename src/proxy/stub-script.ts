import type { StubTurn } from '../capture/schema.js';
import { isRecord } from '../dialects/common.js';
import { qualifiedName, scriptErrorReply, type Conversation, type DeclaredTool, type ToolCall } from '../dialects/tool-turns.js';
import type { Dialect, RequestHead, StubReply } from '../dialects/types.js';
import { isGenericTool, type GenericInput, type StubScript, type StubScriptItem, type ToolMap } from './stub-script-definition.js';

/*
 * The stub playing a script. Stateless: the turn is read off the conversation each request carries
 * (how many tool results it holds), so parallel runs, retries and resumed runs all get the turn
 * their conversation is at, and the proxy keeps nothing between requests.
 */

export interface StubScriptOptions {
  items: StubScript;
  /** The agent's tools for each generic name: its preset's map, or the synonym table for a plain command. */
  tools: ToolMap;
  /** Whose tools these are, for messages: a preset name, or "agent.command". */
  agent: string;
}

export type TurnPlan =
  | { kind: 'none'; reason: string }
  | { kind: 'text'; index: number; text: string; reason: string }
  | { kind: 'tool'; index: number; call: ToolCall; generic?: string; reason: string }
  | { kind: 'error'; index: number; message: string; reason: string };

function schemaProps(schema: unknown): Set<string> {
  return isRecord(schema) && isRecord(schema.properties) ? new Set(Object.keys(schema.properties)) : new Set();
}

function findDeclared(tools: DeclaredTool[], name: string): DeclaredTool | undefined {
  return tools.find((t) => t.name === name || qualifiedName(t) === name);
}

function declaredList(tools: DeclaredTool[]): string {
  return tools.map(qualifiedName).join(', ');
}

/** The call an item makes given what the request declares, or why it cannot be made. */
function resolveCall(item: StubScriptItem & { tool: string }, tools: DeclaredTool[], script: StubScriptOptions, workDir: string | undefined): { call: ToolCall } | { error: string } {
  let declared: DeclaredTool | undefined;
  let input: Record<string, unknown> | string;
  if (isGenericTool(item.tool)) {
    const targets = script.tools[item.tool] ?? [];
    if (targets.length === 0) return { error: `${script.agent} has no tool for the generic tool ${item.tool}` };
    const target = targets.find((t) => findDeclared(tools, t.name));
    if (!target) {
      const names = targets.map((t) => t.name);
      const lacks = names.length === 1 ? 'does not declare it' : 'declares none of them';
      return { error: `the generic tool ${item.tool} is ${names.join(' or ')} for ${script.agent}, but the request ${lacks}; it declares: ${declaredList(tools)}` };
    }
    declared = findDeclared(tools, target.name)!;
    input = target.input((item.input ?? {}) as GenericInput, { props: schemaProps(declared.schema), ...(workDir !== undefined ? { workDir } : {}) });
  } else {
    declared = findDeclared(tools, item.tool);
    if (!declared) return { error: `the tool ${item.tool} is not declared by the request (${script.agent}); it declares: ${declaredList(tools)}` };
    input = item.input ?? {};
  }
  const name = qualifiedName(declared);
  if (declared.kind === 'custom' && typeof input !== 'string') return { error: `${name} is a free-form tool: give its input as a string` };
  if (declared.kind === 'function' && typeof input === 'string') return { error: `${name} takes JSON arguments: give its input as a mapping` };
  return { call: { name: declared.name, kind: declared.kind, input } };
}

/**
 * Which turn of the script answers a request. Only a model turn that offers tools and wants no
 * structured output can be one: a title or topic request, a router or next-speaker check,
 * count_tokens and compaction get the ordinary stub reply.
 */
export function planTurn(conv: Conversation | null, script: StubScriptOptions, workDir?: string): TurnPlan {
  if (conv === null) return { kind: 'none', reason: 'not a model turn' };
  if (conv.structured) return { kind: 'none', reason: 'asks for structured output' };
  if (conv.tools.length === 0) return { kind: 'none', reason: 'declares no tools' };
  const index = conv.toolResults;
  const reason = `${index} tool result${index === 1 ? '' : 's'} so far`;
  const item = script.items[index];
  if (item === undefined) return { kind: 'none', reason: `${reason}, past the script's ${script.items.length} turns` };
  if (item.tool === undefined) return { kind: 'text', index, text: item.text ?? '', reason };
  const resolved = resolveCall({ ...item, tool: item.tool }, conv.tools, script, workDir);
  if ('error' in resolved) return { kind: 'error', index, message: `stub_script[${index}]: ${resolved.error}`, reason };
  return { kind: 'tool', index, call: resolved.call, ...(isGenericTool(item.tool) ? { generic: item.tool } : {}), reason };
}

export function continued(conv: Conversation | null, prior: Conversation | undefined): Conversation | null {
  if (!conv || !prior) return conv;
  return { ...conv, toolResults: prior.toolResults + conv.toolResults, tools: conv.tools.length > 0 ? conv.tools : prior.tools };
}

export interface ScriptedAnswer {
  /** null: not a turn of the script; answer with the ordinary stub reply. */
  reply: StubReply | null;
  turn: StubTurn;
}

/** The script's answer to one request of a recognised dialect, and what the capture records about it. */
/**
 * `prior`: the conversation a request continues without repeating it (a WebSocket turn naming a
 * `previous_response_id` sends only what is new): its tool results count, its tools stay declared.
 */
export function answerFromScript(dialect: Dialect, head: RequestHead, body: unknown, script: StubScriptOptions, workDir?: string, prior?: Conversation): ScriptedAnswer {
  const plan = planTurn(continued(dialect.conversation(head, body), prior), script, workDir);
  switch (plan.kind) {
    case 'none':
      return { reply: null, turn: { index: null, reason: plan.reason } };
    case 'text':
      return { reply: dialect.stub(head, body, { text: plan.text }), turn: { index: plan.index, reason: plan.reason } };
    case 'tool':
      return {
        reply: dialect.toolCall(head, body, plan.call),
        turn: { index: plan.index, tool: plan.call.name, ...(plan.generic ? { generic: plan.generic } : {}), reason: plan.reason },
      };
    case 'error':
      return { reply: scriptErrorReply(`promptdiff ${plan.message}`), turn: { index: plan.index, reason: plan.reason, error: plan.message } };
  }
}
