import type { ParsedRequest } from '../capture/schema.js';
import { headerValue, hostName, identityHeaders, isRecord, jsonReply, pathname, safeParse } from './common.js';
import type { Dialect, RequestHead, StubReply } from './types.js';

/*
 * Qoder's own API, as Qoder CLI 1.1.52 uses it before its login: the region lookup on its
 * "center" host (`GET https://center.qoder.sh/algo/api/v3/service/region/endpoints`) and, with a
 * personal access token, `POST https://openapi.qoder.sh/api/v1/jobToken/exchange`. Every request
 * carries its `Cosy-*` headers: the machine id (a random UUID in ~/.qoder/.auth/machine_id), the
 * client IP and machine token (the same UUID), the OS, the version and a request signature.
 * Recognised by host or by those headers (a reverse route keeps the headers, not the host).
 * What was observed: docs/agents.md.
 */

const IDENTITY_HEADERS = [
  'cosy-machineid',
  'cosy-clientip',
  'cosy-machinetoken',
  'cosy-machineos',
  'cosy-version',
  'cosy-clienttype',
  'cosy-site',
  'cosy-machinehostname',
  'cosy-machinetype',
  'cosy-user',
  'cosy-data-policy',
  'cosy-business-product',
  'user-agent',
] as const;

function matches(head: RequestHead): boolean {
  const host = hostName(head);
  if (host === 'qoder.sh' || host.endsWith('.qoder.sh') || host === 'qoder.com' || host.endsWith('.qoder.com')) return true;
  return headerValue(head, 'cosy-machineid') !== undefined || headerValue(head, 'cosy-version') !== undefined;
}

function endpointOf(head: RequestHead): string {
  const p = pathname(head.path).replace(/\/+$/, '');
  if (p.endsWith('/service/region/endpoints')) return 'region/endpoints';
  if (p.endsWith('/jobToken/exchange')) return 'jobToken/exchange';
  if (p.endsWith('/sse/agent_chat_generation')) return 'agent_chat_generation';
  return p.replace(/^\/+/, '');
}

function parse(head: RequestHead, body: unknown): ParsedRequest {
  return safeParse('qoder', endpointOf(head), (p) => {
    p.metadata = { ...identityHeaders(head, IDENTITY_HEADERS) };
    // The token itself stays out (secretBodyFields redacts it in the stored body); the machine
    // identity beside it is what the request tells Qoder.
    if (isRecord(body)) for (const k of ['machine_id', 'machine_token', 'client_ip', 'device_id'] as const) if (body[k] !== undefined) p.metadata[k] = body[k];
  });
}

/** Fixed, so repetitions compare; far in the future, so the client never tries to refresh it. */
const STUB_TOKEN = { token: 'qoder-promptdiff-stub', refresh_token: 'qoder-promptdiff-stub-refresh', expires_in: 86_400 };

/** `userinfo` must name the user (id / user_id / uid); the rest is optional. */
const STUB_USER = { id: 'qoder-promptdiff-stub', name: 'promptdiff-stub', email: 'stub@promptdiff.invalid' };

/** `user/status`: `featureSwitches.allow_byok` ≥ 2 is what opens Qoder's custom-provider (BYOK) path. */
const STUB_STATUS = { featureSwitches: { allow_byok: 2 } };

function stub(head: RequestHead): StubReply {
  // The exchange is read for token / device_token / access_token (+ expiry); anything else: `{}`.
  const endpoint = endpointOf(head);
  if (endpoint === 'jobToken/exchange') return jsonReply(STUB_TOKEN);
  if (endpoint === 'api/v1/userinfo') return jsonReply(STUB_USER);
  if (endpoint === 'api/v3/user/status') return jsonReply(STUB_STATUS);
  // The model turn on Qoder's own server: its body is encoded (`Encode=1`) and its event stream
  // undocumented, so the stub refuses it plainly instead of letting the client retry a `{}`.
  if (endpoint === 'agent_chat_generation') return jsonReply({ error: 'promptdiff stub: Qoder agent_chat_generation is not emulated' }, {}, 501);
  return jsonReply({});
}

export const qoder: Dialect = {
  name: 'qoder',
  // The host the client calls first; its model list is not asked for (the vendor API picks the model).
  origin: 'https://center.qoder.sh',
  baseUrl: 'https://center.qoder.sh',
  models: [],
  // The token exchange posts the personal access token (and refreshes post the refresh token).
  secretBodyFields: ['personal_token', 'refresh_token', 'access_token', 'token'],
  matches,
  parse,
  stub: (head) => stub(head),
  assembleText: () => '',
  conversation: () => null,
  toolCall: (head) => stub(head),
};
