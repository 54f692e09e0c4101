import type { ParsedRequest, SseEvent } from '../capture/schema.js';
import {
  arr,
  bodyTokens,
  eventJson,
  isRecord,
  jsonReply,
  pathname,
  pick,
  queryParam,
  safeParse,
  splitText,
  sseReply,
  str,
  stubId,
  textTokens,
} from './common.js';
import { exampleFromJsonSchema } from './json-schema-example.js';
import { formatSse } from './sse.js';
import type { Conversation, DeclaredTool, ToolCall } from './tool-turns.js';
import type { Dialect, RequestHead, StubOptions, StubReply } from './types.js';

type Endpoint = 'generateContent' | 'streamGenerateContent' | 'countTokens';

interface Route {
  endpoint: Endpoint;
  /** From the path; null for Code Assist, which names the model in the body. */
  model: string | null;
  /**
   * Gemini CLI signed in with Google talks to Code Assist (`/v1internal:generateContent`), which
   * wraps the same request as `{model, project, request}` and each reply as `{response}`.
   */
  wrapped: boolean;
}

// The model may sit under a prefix (Vertex: /v1/projects/P/locations/L/publishers/google/models/M).
const MODEL_PATH = /\/v1(?:alpha|beta)?\d*\/(?:.*\/)?models\/([^/:]+):(generateContent|streamGenerateContent|countTokens)$/;
const CODE_ASSIST_PATH = /\/v1internal:(generateContent|streamGenerateContent|countTokens)$/;

const DEFAULT_ROUTE: Route = { endpoint: 'generateContent', model: null, wrapped: false };

function route(head: RequestHead): Route | null {
  if (head.method.toUpperCase() !== 'POST') return null;
  const p = pathname(head.path);
  const m = MODEL_PATH.exec(p);
  if (m) return { endpoint: m[2] as Endpoint, model: safeDecode(m[1] ?? ''), wrapped: false };
  const c = CODE_ASSIST_PATH.exec(p);
  if (c) return { endpoint: c[1] as Endpoint, model: null, wrapped: true };
  return null;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The GenerateContentRequest itself, whichever envelope it came in. */
function innerRequest(r: Route, body: unknown): Record<string, unknown> {
  if (!isRecord(body)) return {};
  if (r.wrapped) return isRecord(body.request) ? body.request : {};
  return body;
}

function modelOf(r: Route, body: unknown): string | null {
  if (r.model !== null) return r.model;
  const m = isRecord(body) ? str(body.model) : undefined;
  return m === undefined ? null : m.replace(/^models\//, '');
}

const PART_KINDS = [
  'functionCall',
  'functionResponse',
  'inlineData',
  'fileData',
  'executableCode',
  'codeExecutionResult',
  'function_call',
  'function_response',
  'inline_data',
  'file_data',
] as const;

function partKind(part: Record<string, unknown>): string {
  // A thought is a text part flagged `thought: true`; it is not what the user said.
  if (part.thought === true) return 'thought';
  if (typeof part.text === 'string') return 'text';
  return PART_KINDS.find((k) => k in part) ?? Object.keys(part)[0] ?? 'unknown';
}

/**
 * What a part shows the model as text: its text (thoughts aside), or what a tool told it (a
 * functionResponse's `response.output` or `.error`, as Gemini CLI sends them), as the other
 * dialects count a tool result's text.
 */
function partText(part: Record<string, unknown>): string[] {
  if (typeof part.text === 'string') return part.thought === true ? [] : [part.text];
  const fr = part.functionResponse ?? part.function_response;
  if (!isRecord(fr) || !isRecord(fr.response)) return [];
  return [fr.response.output, fr.response.error].filter((v): v is string => typeof v === 'string');
}

function partsText(content: unknown): string[] {
  if (typeof content === 'string') return [content];
  const parts = isRecord(content) ? arr(content.parts) : arr(content);
  return parts.flatMap((x) => (isRecord(x) && typeof x.text === 'string' ? [x.text] : []));
}

const METADATA_KEYS = ['toolConfig', 'tool_config', 'cachedContent', 'cached_content', 'safetySettings'] as const;
const CONFIG_KEYS = [
  'temperature',
  'topP',
  'topK',
  'maxOutputTokens',
  'candidateCount',
  'responseMimeType',
  'thinkingConfig',
  'stopSequences',
] as const;

function read(p: ParsedRequest, r: Route, body: unknown): void {
  p.model = modelOf(r, body);
  p.stream = r.endpoint === 'streamGenerateContent';
  const req = innerRequest(r, body);
  p.system = partsText(req.systemInstruction ?? req.system_instruction);
  // countTokens may nest its contents in a full request.
  const contents = req.contents ?? (isRecord(req.generateContentRequest) ? req.generateContentRequest.contents : undefined);
  for (const c of arr(contents)) {
    if (!isRecord(c)) continue;
    const parts = arr(c.parts).filter(isRecord);
    p.messages.push({
      role: str(c.role) ?? 'user',
      text: parts.flatMap(partText).join('\n'),
      parts: parts.map(partKind),
    });
  }
  for (const t of arr(req.tools)) {
    if (!isRecord(t)) continue;
    const decls = t.functionDeclarations ?? t.function_declarations;
    if (decls === undefined) {
      // Built-in tools are keyed by kind: {googleSearch: {}}, {codeExecution: {}}.
      for (const k of Object.keys(t)) p.tools.push({ name: k });
      continue;
    }
    for (const d of arr(decls)) {
      if (!isRecord(d) || typeof d.name !== 'string') continue;
      const description = str(d.description);
      p.tools.push(description === undefined ? { name: d.name } : { name: d.name, description });
    }
  }
  p.metadata = pick(req, METADATA_KEYS);
  const cfg = req.generationConfig ?? req.generation_config;
  if (isRecord(cfg)) {
    const small = pick(cfg, CONFIG_KEYS);
    if (Object.keys(small).length > 0) p.metadata.generationConfig = small;
  }
}

function generationConfig(req: Record<string, unknown>): Record<string, unknown> | undefined {
  const cfg = req.generationConfig ?? req.generation_config;
  return isRecord(cfg) ? cfg : undefined;
}

function responseSchema(cfg: Record<string, unknown>): unknown {
  return cfg.responseJsonSchema ?? cfg.responseSchema ?? cfg.response_json_schema ?? cfg.response_schema;
}

function asksForJson(cfg: Record<string, unknown>): boolean {
  return (cfg.responseMimeType ?? cfg.response_mime_type) === 'application/json';
}

/**
 * Gemini CLI's router and next-speaker checks ask for JSON with a schema and retry until it parses,
 * so a JSON request gets a value the schema accepts.
 */
function replyText(req: Record<string, unknown>, text: string): string {
  const cfg = generationConfig(req);
  if (!cfg) return text;
  const schema = responseSchema(cfg);
  if (schema !== undefined) return JSON.stringify(exampleFromJsonSchema(schema, text));
  if (asksForJson(cfg)) return JSON.stringify({ text });
  return text;
}

function stub(head: RequestHead, body: unknown, options: StubOptions): StubReply {
  const r = route(head) ?? DEFAULT_ROUTE;
  if (r.endpoint === 'countTokens') return jsonReply({ totalTokens: bodyTokens(body) });
  const text = replyText(innerRequest(r, body), options.text);
  // Streamed text comes in pieces, each a response of its own; the last one says STOP.
  const pieces = r.endpoint === 'generateContent' ? [text] : splitText(text);
  if (pieces.length === 0) pieces.push('');
  return candidatesReply(head, r, body, textTokens(text), pieces.map((piece) => [{ text: piece }]));
}

/** Gemini sends a function call whole, in one response, never split across a stream. */
function toolCall(head: RequestHead, body: unknown, call: ToolCall): StubReply {
  const r = route(head) ?? DEFAULT_ROUTE;
  const args = typeof call.input === 'string' ? { input: call.input } : call.input;
  const part = { functionCall: { id: stubId('call_stub_'), name: call.name, args } };
  return candidatesReply(head, r, body, textTokens(JSON.stringify(args)), [[part]]);
}

/** One response per entry of `parts` (generateContent: one entry), the last one finished. */
function candidatesReply(head: RequestHead, r: Route, body: unknown, candidatesTokenCount: number, parts: unknown[][]): StubReply {
  const promptTokens = bodyTokens(body);
  const wrap = (v: unknown): unknown => (r.wrapped ? { response: v } : v);
  const modelVersion = modelOf(r, body) ?? 'gemini-stub';
  const responseId = stubId('stub');
  const usageMetadata = {
    promptTokenCount: promptTokens,
    candidatesTokenCount,
    totalTokenCount: promptTokens + candidatesTokenCount,
  };
  const response = (p: unknown[], last: boolean): unknown =>
    wrap({
      candidates: [
        {
          content: { role: 'model', parts: p },
          ...(last ? { finishReason: 'STOP' } : {}),
          index: 0,
        },
      ],
      usageMetadata,
      modelVersion,
      responseId,
    });

  if (r.endpoint === 'generateContent') return jsonReply(response(parts.flat(), true));
  const responses = parts.map((p, i) => response(p, i === parts.length - 1));
  // Without alt=sse the stream is one JSON array delivered over time; the SDKs all ask for SSE.
  if (queryParam(head.path, 'alt') !== 'sse') return jsonReply(responses);
  return sseReply(responses.map((v) => formatSse({ data: JSON.stringify(v) })));
}

/** Tool results are functionResponse parts; tools are the function declarations (built-in tools such as googleSearch run at the API). */
function conversation(head: RequestHead, body: unknown): Conversation | null {
  const r = route(head) ?? DEFAULT_ROUTE;
  if (r.endpoint === 'countTokens') return null;
  const req = innerRequest(r, body);
  let toolResults = 0;
  for (const c of arr(req.contents)) {
    if (!isRecord(c)) continue;
    for (const part of arr(c.parts)) if (isRecord(part) && (isRecord(part.functionResponse) || isRecord(part.function_response))) toolResults += 1;
  }
  const tools: DeclaredTool[] = [];
  for (const t of arr(req.tools)) {
    if (!isRecord(t)) continue;
    for (const d of arr(t.functionDeclarations ?? t.function_declarations)) {
      if (isRecord(d) && typeof d.name === 'string')
        tools.push({ name: d.name, kind: 'function', schema: d.parametersJsonSchema ?? d.parameters ?? d.parameters_json_schema });
    }
  }
  const cfg = generationConfig(req);
  return { toolResults, tools, structured: cfg !== undefined && (responseSchema(cfg) !== undefined || asksForJson(cfg)) };
}

function assembleText(events: SseEvent[]): string {
  let out = '';
  for (const e of events) {
    let d = eventJson(e);
    if (isRecord(d) && isRecord(d.response)) d = d.response;
    if (!isRecord(d)) continue;
    const first = arr(d.candidates)[0];
    if (!isRecord(first) || !isRecord(first.content)) continue;
    for (const part of arr(first.content.parts)) {
      if (isRecord(part) && typeof part.text === 'string' && part.thought !== true) out += part.text;
    }
  }
  return out;
}

export const gemini: Dialect = {
  name: 'gemini',
  origin: 'https://generativelanguage.googleapis.com',
  baseUrl: 'https://generativelanguage.googleapis.com',
  models: ['gemini-2.5-pro', 'gemini-2.5-flash'],
  matches: (head) => route(head) !== null,
  parse: (head, body) => {
    const r = route(head) ?? DEFAULT_ROUTE;
    return safeParse('gemini', r.endpoint, (p) => read(p, r, body));
  },
  stub,
  assembleText,
  conversation,
  toolCall,
};
