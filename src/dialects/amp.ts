import type { ParsedRequest } from '../capture/schema.js';
import { hostName, identityHeaders, isRecord, jsonReply, pathname, pick, safeParse, str } from './common.js';
import type { Dialect, RequestHead, StubReply } from './types.js';

/*
 * Amp's own API (AMP_URL, default https://ampcode.com), as Amp 0.0.1790142911 uses it before any
 * model call: a JSON-RPC-like `POST /api/internal?<method>` with `{method, params}` answered
 * `{ok: true, result}` (or `{ok: false, error: {code}}`), then `POST /api/thread-actors` to create
 * the thread and a WebSocket to its "thread actor" (`/actors/gateway/threadActor/websocket/`),
 * which runs the agent loop — and builds the prompt — on Amp's server. Every request carries
 * `X-Amp-Device-Fingerprint` and `X-Amp-Installation-ID`. What was observed: docs/agents.md.
 */

const IDENTITY_HEADERS = [
  'x-amp-device-fingerprint',
  'x-amp-installation-id',
  'x-amp-client-version',
  'x-amp-client-application',
  'x-amp-client-type',
  'user-agent',
] as const;

const THREAD_FIELDS = ['executorType', 'agentMode', 'features', 'threadMeta', 'threadId'] as const;

/** A fixed thread id: the stub cannot host the thread, and a fixed one keeps repetitions comparable. */
export const AMP_STUB_THREAD_ID = 'T-00000000-0000-4000-8000-000000000000';

type Endpoint = { kind: 'rpc'; method: string } | { kind: 'thread-actors' } | { kind: 'thread-actor-websocket' };

function endpointOf(head: RequestHead): Endpoint | null {
  const p = pathname(head.path).replace(/\/+$/, '');
  if (p === '/api/internal') {
    const q = head.path.indexOf('?');
    // The method is the whole query string (`?getUserInfo`), not a key=value pair.
    const method = q === -1 ? '' : decodeURIComponent(head.path.slice(q + 1).split(/[&#=]/)[0] ?? '');
    return { kind: 'rpc', method };
  }
  if (p === '/api/thread-actors' || p.startsWith('/api/thread-actors/')) return { kind: 'thread-actors' };
  if (p.startsWith('/actors/gateway/threadActor/')) return { kind: 'thread-actor-websocket' };
  return null;
}

function matches(head: RequestHead): boolean {
  if (endpointOf(head) !== null) return true;
  const host = hostName(head);
  return host === 'ampcode.com' || host.endsWith('.ampcode.com');
}

function endpointName(head: RequestHead, body: unknown): string {
  const e = endpointOf(head);
  if (e === null) return pathname(head.path);
  if (e.kind !== 'rpc') return e.kind;
  return e.method || (isRecord(body) ? (str(body.method) ?? '') : '');
}

function parse(head: RequestHead, body: unknown): ParsedRequest {
  return safeParse('amp', endpointName(head, body), (p) => {
    p.metadata = { ...identityHeaders(head, IDENTITY_HEADERS) };
    if (isRecord(body) && isRecord(body.params)) p.metadata.params = body.params;
    Object.assign(p.metadata, pick(body, THREAD_FIELDS));
  });
}

/** What Amp reads of `getUserInfo`: an identity (`email`) and the feature list it filters on. */
const STUB_USER = {
  id: 'user-promptdiff-stub',
  email: 'stub@promptdiff.invalid',
  emailVerified: false,
  username: 'promptdiff-stub',
  features: [],
  team: null,
};

function stub(head: RequestHead, body: unknown): StubReply {
  const e = endpointOf(head);
  if (e?.kind === 'thread-actors') {
    // Checked by Amp: threadId and wsToken, ownerUserId, a numeric threadVersion.
    return jsonReply({ threadId: AMP_STUB_THREAD_ID, wsToken: 'ws-promptdiff-stub', ownerUserId: STUB_USER.id, threadVersion: 1 });
  }
  if (e?.kind === 'thread-actor-websocket') {
    // The agent loop runs in this actor on Amp's server; the stub does not play it.
    return jsonReply({ error: 'promptdiff stub: Amp thread actors (the server-side agent loop) are not emulated' }, {}, 501);
  }
  if (e?.kind === 'rpc' && endpointName(head, body) === 'getUserInfo') return jsonReply({ ok: true, result: STUB_USER });
  // Other RPCs (loadPlugins, loadSkills, …) accept an empty result.
  return jsonReply({ ok: true, result: {} });
}

export const amp: Dialect = {
  name: 'amp',
  // The host the client calls first; its model list is not asked for (the vendor API picks the model).
  origin: 'https://ampcode.com',
  baseUrl: 'https://ampcode.com',
  models: [],
  matches,
  parse,
  stub: (head, body) => stub(head, body),
  assembleText: () => '',
  // No model turn is ever sent to this API by the client: nothing for a stub script to play.
  conversation: () => null,
  toolCall: (head, body) => stub(head, body),
};
