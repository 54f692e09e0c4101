import { storedText } from './helpers/stored-text.js';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http from 'node:http';
import type net from 'node:net';
import { rm } from 'node:fs/promises';
import { startProxy } from '../src/proxy/server.js';
import { readExchanges } from '../src/capture/store.js';
import { ensureCA } from '../src/ca/index.js';
import { redactJsonText } from '../src/capture/redact.js';
import { isSecretField, SecretValues } from '../src/capture/secret-values.js';
import { log } from '../src/log.js';
import { reverseRequest, tmp } from './helpers/clients.js';

/* Secrets inside JSON bodies (issue 10 #5, the capture part): never stored as sent unless asked. */

describe('which JSON fields hold secrets', () => {
  it('by name: keys, tokens, secrets and passwords, not counts or words that contain them', () => {
    for (const name of ['api_key', 'apiKey', 'x-api-key', 'key', 'access_token', 'refreshToken', 'id_token', 'client_secret', 'password', 'db_passwd', 'prompt_cache_key', 'API_KEY'])
      expect(isSecretField(name), name).toBe(true);
    for (const name of ['max_tokens', 'input_tokens', 'tokenizer', 'keywords', 'monkey', 'passage', 'text', 'model', 'keys'])
      expect(isSecretField(name), name).toBe(false);
  });

  it('only their string values change, everything else byte for byte', () => {
    const secrets = new SecretValues(['k-material']);
    const mark = (v: string) => secrets.tag(v);
    const text = '{ "model" : "m",\n "metadata": {"api_key" :  "sk-1\\"x", "n": 2},"max_tokens":5, "text":"say \\"token\\": \\"abc\\"", "list":["token","x"], "token": 3}';
    const r = redactJsonText(text, mark)!;
    expect(r.names).toEqual(['api_key']);
    expect(r.text).toBe(text.replace('sk-1\\"x', mark('sk-1"x')));
    expect(mark('a')).toBe(mark('a'));
    expect(mark('a')).not.toBe(mark('b'));
    expect(redactJsonText('{"model":"m"}', mark)).toBeNull();
    // A field the word rule cannot tell (Qoder-style), named by the request's dialect (secretBodyFields).
    expect(redactJsonText('{"pat":"pt-123456789","n":"x"}', mark)).toBeNull();
    expect(redactJsonText('{"pat":"pt-123456789","n":"x"}', mark, false, ['pat'])).toEqual({ text: `{"pat":"${mark('pt-123456789')}","n":"x"}`, names: ['pat'] });
  });
});

describe('through the proxy', () => {
  let certsDir: string;
  let upstream: http.Server;
  let upstreamUrl: string;
  const dirs: string[] = [];
  const body = (secret: string) =>
    JSON.stringify({
      model: 'claude-sonnet-4-5',
      max_tokens: 16,
      metadata: { user_id: 'u1', api_key: secret },
      messages: [{ role: 'user', content: 'caf\u00e9 '.repeat(100) }],
      tools: [{ name: 'Login', input_schema: { type: 'object', properties: { password: { type: 'string' } } } }],
    });

  beforeAll(async () => {
    log.level = 'silent';
    certsDir = await tmp('certs');
    dirs.push(certsDir);
    await ensureCA(certsDir);
    upstream = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ access_token: 'oauth-secret-token', expires_in: 3600, token_type: 'Bearer' }));
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as net.AddressInfo).port}`;
  });
  afterAll(async () => {
    upstream.close();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('stores the tag of secret fields of request bodies: equal secrets equal, different ones different', async () => {
    const out = await tmp('secrets');
    dirs.push(out);
    const proxy = await startProxy({ outDir: out, certsDir });
    for (const s of ['sk-ant-one', 'sk-ant-one', 'sk-ant-two']) {
      expect((await reverseRequest(proxy.port, { path: '/v1/messages', headers: { 'content-type': 'application/json' }, body: body(s) })).status).toBe(200);
    }
    await proxy.close();
    const { records } = await readExchanges(out);
    const stored = JSON.stringify(records);
    // Before: the body and the parsed metadata kept the key as sent.
    expect(stored).not.toContain('sk-ant-');
    const markers = records.map((r) => (JSON.parse(r.request.body.text) as { metadata: { api_key: string } }).metadata.api_key);
    expect(markers[0]).toMatch(/^\[redacted:[0-9a-f]{8}\]$/);
    expect(markers[1]).toBe(markers[0]);
    expect(markers[2]).not.toBe(markers[0]);
    expect(records[0]!.parsed!.metadata).toMatchObject({ metadata: { user_id: 'u1', api_key: markers[0] } });
    expect(records[0]!.redacted).toContain('body:api_key');
    // The schema's "password" is a property name whose value is an object: left alone.
    expect(records[0]!.request.body.text).toContain('"password":{"type":"string"}');
    expect(records[0]!.request.body.text).toContain('caf\u00e9');
  });

  it("a scenario's secrets: a key in a body gets the tag the scenario gives it, and is then searched for everywhere", async () => {
    const out = await tmp('secrets-scenario');
    dirs.push(out);
    const scenario = new SecretValues(['sk-ant-from-env-set']);
    const proxy = await startProxy({ outDir: out, certsDir, secrets: scenario });
    await reverseRequest(proxy.port, { path: '/v1/messages', headers: { 'content-type': 'application/json' }, body: body('sk-ant-from-env-set') });
    await reverseRequest(proxy.port, { path: '/v1/messages', headers: { 'content-type': 'application/json' }, body: body('sk-ant-only-in-a-body') });
    await proxy.close();
    const { records } = await readExchanges(out);
    const tags = records.map((r) => (JSON.parse(r.request.body.text) as { metadata: { api_key: string } }).metadata.api_key);
    expect(tags[0]).toBe(scenario.tag('sk-ant-from-env-set'));
    expect(tags[1]).toBe(scenario.tag('sk-ant-only-in-a-body'));
    // Found in a body, the value is known from then on: the runner's pass over the agent's output replaces it.
    expect(scenario.text('the agent printed sk-ant-only-in-a-body')).toBe(`the agent printed ${tags[1]}`);
  });

  it('a known secret value is replaced wherever it appears in a record, as the record is written (not only after the run)', async () => {
    const out = await tmp('secrets-anywhere');
    dirs.push(out);
    const scenario = new SecretValues(['sk-ant-scenario-value-1234']);
    const proxy = await startProxy({ outDir: out, certsDir, secrets: scenario });
    const said = (text: string) => JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 16, system: `key: ${text} caf\u00e9`, messages: [{ role: 'user', content: `${text} ${'x'.repeat(300)}` }] });
    // The scenario's value in the prompt; then a value first met in a body field, and later in a prompt.
    await reverseRequest(proxy.port, { path: '/v1/messages', headers: { 'content-type': 'application/json' }, body: said('sk-ant-scenario-value-1234') });
    await reverseRequest(proxy.port, { path: '/v1/messages', headers: { 'content-type': 'application/json' }, body: body('sk-ant-body-field-5678') });
    await reverseRequest(proxy.port, { path: '/v1/messages', headers: { 'content-type': 'application/json' }, body: said('sk-ant-body-field-5678') });
    // A body marked compressed that is not: stored as the wire's bytes, the value replaced in them all the same.
    await reverseRequest(proxy.port, { path: '/v1/messages', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: said('sk-ant-scenario-value-1234') });
    await proxy.flush();
    // Read while the proxy still runs: nothing waits for the end of a run.
    const text = storedText(`${out}/exchanges.jsonl`);
    await proxy.close();
    expect(text).not.toContain('sk-ant-scenario-value-1234');
    expect(text).not.toContain('sk-ant-body-field-5678');
    const { records } = await readExchanges(out);
    expect(records[0]!.parsed!.system[0]).toBe(`key: ${scenario.tag('sk-ant-scenario-value-1234')} caf\u00e9`);
    expect(records[2]!.parsed!.messages[0]!.text.startsWith(`${scenario.tag('sk-ant-body-field-5678')} x`)).toBe(true);
  });

  it('without a scenario, tags are keyed per proxy session: the same secret tags differently in two sessions', async () => {
    const tagOf = async () => {
      const out = await tmp('secrets-session');
      dirs.push(out);
      const proxy = await startProxy({ outDir: out, certsDir });
      await reverseRequest(proxy.port, { path: '/v1/messages', headers: { 'content-type': 'application/json' }, body: body('sk-ant-same') });
      await proxy.close();
      const [rec] = (await readExchanges(out)).records;
      return (JSON.parse(rec!.request.body.text) as { metadata: { api_key: string } }).metadata.api_key;
    };
    const [a, b] = [await tagOf(), await tagOf()];
    expect(a).toMatch(/^\[redacted:[0-9a-f]{8}\]$/);
    expect(b).toMatch(/^\[redacted:[0-9a-f]{8}\]$/);
    expect(a).not.toBe(b);
  });

  it('redacts a credential in a JSON response while the client gets it as sent; --keep-secrets stores both as sent', async () => {
    for (const keepSecrets of [false, true]) {
      const out = await tmp('secrets-pass');
      dirs.push(out);
      const proxy = await startProxy({ outDir: out, certsDir, upstream: 'passthrough', upstreamUrl, keepSecrets });
      const res = await reverseRequest(proxy.port, { path: '/v1/oauth/token', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: 'refresh-secret-\u00e9', grant_type: 'refresh_token', scope: 'caf\u00e9 '.repeat(100) }) });
      expect(JSON.parse(res.body).access_token).toBe('oauth-secret-token');
      await proxy.close();
      const [rec] = (await readExchanges(out)).records;
      const stored = JSON.stringify(rec);
      expect(stored.includes('oauth-secret-token'), `keepSecrets ${keepSecrets}`).toBe(keepSecrets);
      // As stored, and as read: the line, its bodies' bytes, and the view derived from them.
      expect(storedText(`${out}/exchanges.jsonl`).includes('refresh-secret'), `keepSecrets ${keepSecrets}`).toBe(keepSecrets);
      expect(stored.includes('refresh-secret'), `keepSecrets ${keepSecrets}`).toBe(keepSecrets);
      expect(rec!.request.body.text).toContain('caf\u00e9 caf\u00e9');
      if (!keepSecrets) expect(rec!.redacted).toEqual(expect.arrayContaining(['body:refresh_token', 'response.body:access_token']));
      // grant_type's value is not a secret, and stays.
      expect(rec!.request.body.text).toContain('"grant_type":"refresh_token"');
    }
  });
});
