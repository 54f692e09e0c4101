import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storedText } from './helpers/stored-text.js';
import { ensureCA } from '../src/ca/index.js';
import { ParsedRequest } from '../src/capture/schema.js';
import { readExchanges } from '../src/capture/store.js';
import { amp, augment, detectDialect, qoder, type RequestHead, type StubReply } from '../src/dialects/index.js';
import { DEFAULT_STUB_TEXT, startProxy, type RunningProxy } from '../src/proxy/server.js';
import { forwardRequest, reverseRequest, tmp } from './helpers/clients.js';

/*
 * The vendor APIs of the agents that stop at their vendor's login (docs/agents.md): requests
 * shaped like those recorded from Qoder CLI 1.1.52, Auggie 0.36.0 and Amp 0.0.1790142911-g7618fb
 * on 2026-12-01 (headers and bodies as sent, ids replaced by made-up ones, no tokens).
 */

const MACHINE_ID = '0f6c1d2e-3a4b-4c5d-8e9f-a0b1c2d3e4f5';
const QODER_HEADERS = {
  'cosy-machineid': MACHINE_ID,
  'cosy-clientip': MACHINE_ID,
  'cosy-machinetoken': MACHINE_ID,
  'cosy-machineos': 'x86_64_linux',
  'cosy-version': '1.1.52',
  'cosy-clienttype': '5',
  'user-agent': 'undici',
};
const AUGGIE_UA = 'augment.cli/0.36.0 (commit 7c61e5bb)/noninteractive';
const AMP_HEADERS = {
  'x-amp-client-application': 'CLI',
  'x-amp-client-type': 'cli',
  'x-amp-client-version': '0.0.1790142911-g7618fb',
  'x-amp-device-fingerprint': 'v1:fp_ec1e2cdae87497f5be5b6279ca6992b44923e38bbfdfae53b712c79bd2593e20',
  'x-amp-installation-id': 'c968a4af-7f3c-48f3-944f-80f69040ab32',
  'user-agent': 'Bun/1.4.1',
};

const req = (method: string, path: string, headers: RequestHead['headers'] = {}): RequestHead => ({ method, path, headers });
const json = (r: StubReply): unknown => JSON.parse(r.chunks.join(''));

describe('recognition of vendor APIs', () => {
  const cases: Array<[string, RequestHead, string | null]> = [
    ['Qoder by host (forward route)', req('GET', '/algo/api/v3/service/region/endpoints', { host: 'center.qoder.sh' }), 'qoder'],
    ['Qoder token exchange by host', req('POST', '/api/v1/jobToken/exchange', { host: 'openapi.qoder.sh:443' }), 'qoder'],
    ['Qoder by its Cosy headers (any host)', req('GET', '/algo/api/v2/model/list?Encode=1', { host: '127.0.0.1:8080', ...QODER_HEADERS }), 'qoder'],
    ['Augment by User-Agent', req('POST', '/settings/get-mcp-user-configs', { host: '127.0.0.1:8080', 'user-agent': AUGGIE_UA }), 'augment'],
    ['Augment by path alone', req('POST', '/chat-stream'), 'augment'],
    ['Augment by tenant host', req('POST', '/anything-new', { host: 'd7.api.augmentcode.com' }), 'augment'],
    ['Amp RPC by path', req('POST', '/api/internal?getUserInfo'), 'amp'],
    ['Amp thread creation', req('POST', '/api/thread-actors'), 'amp'],
    ['Amp by host', req('GET', '/news.rss', { host: 'ampcode.com' }), 'amp'],
    // A model call keeps its model dialect whoever sends it.
    ['a Chat Completions call from a vendor client', req('POST', '/v1/chat/completions', { host: 'api2.qoder.sh', ...QODER_HEADERS }), 'openai-chat'],
    ['an Anthropic call to Amp', req('POST', '/api/provider/anthropic/v1/messages', { host: 'ampcode.com' }), 'anthropic-messages'],
    ['Augment paths want POST', req('GET', '/get-models'), null],
    ['not Amp: another internal path', req('POST', '/api/internals'), null],
    ['not Qoder: a look-alike host', req('GET', '/x', { host: 'qoder.sh.example.com' }), null],
  ];
  it.each(cases)('%s', (_what, h, name) => {
    expect(detectDialect(h)?.name ?? null).toBe(name);
  });
});

describe('qoder', () => {
  it('records the machine identity of every request, and the machine id beside a personal token without the token', () => {
    const region = qoder.parse(req('GET', '/algo/api/v3/service/region/endpoints', { host: 'center.qoder.sh', ...QODER_HEADERS }), null);
    expect(ParsedRequest.parse(region)).toEqual(region);
    expect(region.endpoint).toBe('region/endpoints');
    expect(region.metadata).toMatchObject({ 'cosy-machineid': MACHINE_ID, 'cosy-machinetoken': MACHINE_ID, 'cosy-clientip': MACHINE_ID, 'cosy-machineos': 'x86_64_linux' });

    const exchange = qoder.parse(req('POST', '/api/v1/jobToken/exchange', { host: 'openapi.qoder.sh', 'user-agent': 'qoder/1.1.52' }), {
      personal_token: 'pt-not-a-real-token',
      machine_id: MACHINE_ID,
    });
    expect(exchange.endpoint).toBe('jobToken/exchange');
    expect(exchange.metadata.machine_id).toBe(MACHINE_ID);
    expect(JSON.stringify(exchange)).not.toContain('pt-not-a-real-token');
  });

  it('the hostname it sends with its model turn is in the metadata', () => {
    const p = qoder.parse(
      req('POST', '/algo/api/v2/service/pro/sse/agent_chat_generation?FetchKeys=llm_model_result&AgentId=agent_common&Encode=1', {
        host: 'api2.qoder.sh',
        ...QODER_HEADERS,
        'cosy-machinehostname': 'zhangwei-ThinkPad',
        'cosy-data-policy': 'disagree',
      }),
      null,
    );
    expect(p.endpoint).toBe('agent_chat_generation');
    expect(p.metadata).toMatchObject({ 'cosy-machinehostname': 'zhangwei-ThinkPad', 'cosy-data-policy': 'disagree' });
  });

  it('answers the login steps as a logged-in account with BYOK allowed, and refuses the model turn', () => {
    const at = (path: string) => req('GET', path, { host: 'openapi.qoder.sh' });
    const token = json(qoder.stub(req('POST', '/api/v1/jobToken/exchange', { host: 'openapi.qoder.sh' }), {}, { text: 'x' })) as Record<string, unknown>;
    expect(typeof token.token).toBe('string');
    const user = json(qoder.stub(at('/api/v1/userinfo'), null, { text: 'x' })) as Record<string, unknown>;
    expect(typeof user.id).toBe('string');
    const status = json(qoder.stub(at('/api/v3/user/status'), null, { text: 'x' })) as { featureSwitches: { allow_byok: number } };
    expect(status.featureSwitches.allow_byok).toBeGreaterThanOrEqual(2);
    const turn = qoder.stub(req('POST', '/algo/api/v2/service/pro/sse/agent_chat_generation?Encode=1', { host: 'api2.qoder.sh' }), null, { text: 'x' });
    expect(turn.status).toBe(501);
    expect(turn.headers['x-promptdiff-stub']).toBe('1');
  });
});

describe('augment', () => {
  const chatStream = {
    model: '',
    message: '',
    chat_history: [],
    nodes: [
      { id: 1, type: 0, text_node: { content: 'Say hello.' } },
      { id: 2, type: 4, ide_state_node: { workspace_folders: [{ repository_root: '/home/dev/w', folder_root: '/home/dev/w' }], current_terminal: { terminal_id: 0, current_working_directory: '/home/dev/w' } } },
    ],
    tool_definitions: [
      { name: 'launch-process', description: 'Launch a new process with a shell command.', input_schema_json: '{}', tool_safety: 2 },
      { name: 'view', description: 'View a file or directory.', input_schema_json: '{}', tool_safety: 1 },
    ],
    rules: [{ path: 'non-interactive-prompt.md', content: '\n# Automated Workflow Mode\n * NEVER ask clarifying questions.' }],
    user_guidelines: '',
    workspace_guidelines: '',
    mode: 'CLI_NONINTERACTIVE',
    feature_detection_flags: { support_tool_use_start: true, support_parallel_tool_use: false },
    third_party_override: null,
    conversation_id: '1dc31982-d5fb-4253-870d-d2641be879be',
  };
  const h = req('POST', '/chat-stream', { host: '127.0.0.1:8080', 'user-agent': AUGGIE_UA, 'x-request-session-id': 'a187708c-8006-40fe-a3c3-0b03d70d92e7' });

  it('reads chat-stream: the tools, the rules as the only instructions, the task and IDE state as the user turn', () => {
    const p = augment.parse(h, chatStream);
    expect(ParsedRequest.parse(p)).toEqual(p);
    expect(p.endpoint).toBe('chat-stream');
    expect(p.tools.map((t) => t.name)).toEqual(['launch-process', 'view']);
    expect(p.system).toEqual([chatStream.rules[0]!.content]);
    expect(p.messages).toHaveLength(1);
    expect(p.messages[0]!.text).toContain('Say hello.');
    expect(p.messages[0]!.text).toContain('/home/dev/w');
    expect(p.messages[0]!.parts).toEqual(['text', 'ide_state']);
    expect(p.metadata).toMatchObject({ mode: 'CLI_NONINTERACTIVE', 'user-agent': AUGGIE_UA });
  });

  it('answers chat-stream with newline-delimited JSON carrying the stub text, then a stop reason', () => {
    const r = augment.stub(h, chatStream, { text: 'Hello \u2019stub\u2019' });
    expect(r.status).toBe(200);
    const lines = r.chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]!.text).toBe('Hello \u2019stub\u2019');
    expect(lines.at(-1)!.stop_reason).toBeDefined();
  });

  it('answers get-models with a default model Auggie can validate', () => {
    const r = json(augment.stub(req('POST', '/get-models', { 'user-agent': AUGGIE_UA }), {}, { text: 'x' })) as { default_model: unknown; models: Array<Record<string, unknown>> };
    expect(typeof r.default_model).toBe('string');
    expect(r.models.map((m) => m.name)).toContain(r.default_model);
    for (const m of r.models) expect(typeof m.suggested_prefix_char_count).toBe('number');
    const tools = json(augment.stub(req('POST', '/agents/list-remote-tools'), {}, { text: 'x' })) as { tools: unknown[] };
    expect(tools.tools).toEqual([]);
  });
});

describe('amp', () => {
  it('names each RPC by its method and keeps the device fingerprint and installation id', () => {
    const p = amp.parse(req('POST', '/api/internal?loadPlugins', AMP_HEADERS), {
      method: 'loadPlugins',
      params: { supportedPluginFormats: ['directory-v1', 'directory-v2'], knownVersions: {} },
    });
    expect(ParsedRequest.parse(p)).toEqual(p);
    expect(p.endpoint).toBe('loadPlugins');
    expect(p.metadata['x-amp-device-fingerprint']).toBe(AMP_HEADERS['x-amp-device-fingerprint']);
    expect(p.metadata['x-amp-installation-id']).toBe(AMP_HEADERS['x-amp-installation-id']);
    expect(p.metadata.params).toEqual({ supportedPluginFormats: ['directory-v1', 'directory-v2'], knownVersions: {} });
    // The method from the body when the query string is missing.
    expect(amp.parse(req('POST', '/api/internal', AMP_HEADERS), { method: 'getUserInfo', params: {} }).endpoint).toBe('getUserInfo');
    const t = amp.parse(req('POST', '/api/thread-actors', AMP_HEADERS), { executorType: 'local-client', agentMode: 'medium', features: [], threadMeta: { visibility: 'private', sharedGroupIDs: [] } });
    expect(t.endpoint).toBe('thread-actors');
    expect(t.metadata).toMatchObject({ executorType: 'local-client', agentMode: 'medium' });
  });

  it('answers RPCs {ok, result}, a user for getUserInfo, a thread for thread-actors, and refuses the thread actor', () => {
    const user = json(amp.stub(req('POST', '/api/internal?getUserInfo'), { method: 'getUserInfo', params: {} }, { text: 'x' })) as { ok: boolean; result: { email: unknown; features: unknown } };
    expect(user.ok).toBe(true);
    expect(typeof user.result.email).toBe('string');
    expect(Array.isArray(user.result.features)).toBe(true);
    expect(json(amp.stub(req('POST', '/api/internal?loadSkills'), { method: 'loadSkills', params: {} }, { text: 'x' }))).toEqual({ ok: true, result: {} });
    const thread = json(amp.stub(req('POST', '/api/thread-actors'), {}, { text: 'x' })) as Record<string, unknown>;
    for (const k of ['threadId', 'wsToken', 'ownerUserId']) expect(typeof thread[k]).toBe('string');
    expect(typeof thread.threadVersion).toBe('number');
    expect(amp.stub(req('GET', '/actors/gateway/threadActor/websocket/?rvt-key=T-1'), null, { text: 'x' }).status).toBe(501);
  });
});

describe('vendor APIs through the proxy', () => {
  let proxy: RunningProxy;
  let out: string;
  let caPem: string;
  beforeAll(async () => {
    const certsDir = await tmp('certs');
    caPem = (await ensureCA(certsDir)).certPem;
    out = await tmp('out');
    proxy = await startProxy({ outDir: out, certsDir });
  });
  afterAll(() => proxy.close());

  it('records and parses Qoder (forward), Auggie and Amp (reverse), answers each as the client needs, and keeps the token out', async () => {
    const exchange = await forwardRequest({
      proxyPort: proxy.port,
      target: 'openapi.qoder.sh:443',
      path: '/api/v1/jobToken/exchange',
      headers: { 'content-type': 'application/json', 'user-agent': 'qoder/1.1.52', 'cosy-version': '1.1.52' },
      // Over 256 bytes: the record reads such a body as UTF-8 bytes, a path of its own.
      body: JSON.stringify({ personal_token: 'pt-not-a-real-token', machine_id: MACHINE_ID, client: 'x'.repeat(300) }),
      ca: caPem,
    });
    expect(exchange.status).toBe(200);
    expect(typeof (JSON.parse(exchange.body) as { token?: unknown }).token).toBe('string');

    const chat = await reverseRequest(proxy.port, {
      path: '/chat-stream',
      headers: { 'content-type': 'application/json', 'user-agent': AUGGIE_UA },
      body: JSON.stringify({ message: '', nodes: [{ id: 1, type: 0, text_node: { content: 'Say hello.' } }], tool_definitions: [{ name: 'view' }], rules: [] }),
    });
    expect(chat.status).toBe(200);
    expect(chat.body.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { text: string }).text).join('')).toContain(DEFAULT_STUB_TEXT);

    const user = await reverseRequest(proxy.port, {
      path: '/api/internal?getUserInfo',
      headers: { 'content-type': 'application/json', ...AMP_HEADERS },
      body: JSON.stringify({ method: 'getUserInfo', params: {} }),
    });
    expect((JSON.parse(user.body) as { ok: boolean }).ok).toBe(true);

    await proxy.flush();
    const { records } = await readExchanges(out);
    expect(records.map((r) => [r.dialect, r.parsed?.endpoint])).toEqual([
      ['qoder', 'jobToken/exchange'],
      ['augment', 'chat-stream'],
      ['amp', 'getUserInfo'],
    ]);
    expect(records[0]!.parsed!.metadata.machine_id).toBe(MACHINE_ID);
    expect(records[0]!.redacted).toContain('body:personal_token');
    expect(JSON.parse(records[0]!.request.body.text)).toMatchObject({ personal_token: expect.stringMatching(/^\[redacted:[0-9a-f]{8}\]$/), machine_id: MACHINE_ID });
    expect(records[1]!.parsed!.tools.map((t) => t.name)).toEqual(['view']);
    expect(records[2]!.parsed!.metadata['x-amp-device-fingerprint']).toBe(AMP_HEADERS['x-amp-device-fingerprint']);
    for (const r of records) expect(r.errors).toEqual([]);
    // Stored: the lines as written, and every body's bytes (base64 in the line) decoded.
    const stored = storedText(path.join(out, 'exchanges.jsonl'));
    expect(stored).toContain('Say hello.');
    expect(stored).not.toContain('pt-not-a-real-token');
  });
});
