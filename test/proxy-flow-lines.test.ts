import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { ensureCA } from '../src/ca/index.js';
import { shortSize } from '../src/proxy/flow-lines.js';
import { removeAll, send, startCliProxy, tempDir, type CliProxy } from './helpers/faults.js';

/* The proxy's live line per exchange (issue 11 item 3), through the CLI as a user runs it. */

const dirs: string[] = [];
let certsDir: string;
let caPem: string;

beforeAll(async () => {
  certsDir = await tempDir('certs', dirs);
  caPem = (await ensureCA(certsDir)).certPem;
});
afterAll(() => removeAll(dirs));

const messages = (system: string, extra = '') =>
  Buffer.from(JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 16, system: `${system} ${'é'.repeat(200)}`, messages: [{ role: 'user', content: `hi${extra}` }] }));

/** The flow lines on the proxy's stderr (log lines are JSON). */
async function flowLines(p: CliProxy, count: number): Promise<string[]> {
  const lines = () =>
    p
      .stderr()
      .split('\n')
      .filter((l) => /^\d\d:\d\d:\d\d /.test(l));
  for (const t0 = Date.now(); lines().length < count && Date.now() - t0 < 5000; ) await new Promise((r) => setTimeout(r, 20));
  return lines();
}

describe('live line per exchange', () => {
  it('one line as each exchange completes: route, method, host+path, dialect, model, status, sizes; marks a changed system prompt per endpoint', async () => {
    const p = await startCliProxy({ out: await tempDir('out', dirs), certsDir });
    const reverse = { kind: 'reverse' as const };
    const json = { 'content-type': 'application/json' };
    await send(p.port, { route: reverse, path: '/v1/messages', headers: json, body: messages('You are A.') });
    await send(p.port, { route: reverse, path: '/v1/messages', headers: json, body: messages('You are A.', ' again') });
    await send(p.port, { route: reverse, path: '/v1/messages?beta=true', headers: json, body: messages('You are B.') });
    // Another endpoint has its own last system prompt: B there is no change.
    await send(p.port, { route: { kind: 'forward', target: 'api.anthropic.com:443', ca: caPem }, path: '/v1/messages', headers: json, body: messages('You are B.') });
    // A client's control characters reach the terminal escaped, never raw.
    await send(p.port, { route: reverse, method: 'GET', path: '/v1/models?x=%1b', headers: { 'x-y': 'z' } });
    const lines = await flowLines(p, 5);
    expect(p.alive()).toBe(true);
    await p.stop();
    expect(lines).toHaveLength(5);
    const size = String.raw`\d+(?:\.\d[kMG])?`;
    const host = `127\\.0\\.0\\.1:${p.port}`;
    expect(lines[0]).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d reverse POST ${host}/v1/messages anthropic-messages claude-sonnet-4-5 200 ${size}>${size}$`));
    expect(lines[1]).not.toMatch(/system changed/);
    expect(lines[2]).toMatch(new RegExp(`reverse POST ${host}/v1/messages\\?beta=true anthropic-messages claude-sonnet-4-5 200 ${size}>${size} system changed$`));
    expect(lines[3]).toMatch(/ forward POST api\.anthropic\.com(?::443)?\/v1\/messages anthropic-messages claude-sonnet-4-5 200 \S+$/);
    expect(lines[4]).toMatch(new RegExp(`reverse GET ${host}/v1/models\\?x=%1b `));
    for (const l of lines) expect(l).not.toMatch(/[\x00-\x1f\x7f]/);
  }, 30_000);

  it('--quiet prints none', async () => {
    const p = await startCliProxy({ out: await tempDir('out', dirs), certsDir, args: ['--quiet'] });
    await send(p.port, { route: { kind: 'reverse' }, path: '/v1/messages', headers: { 'content-type': 'application/json' }, body: messages('You are A.') });
    await new Promise((r) => setTimeout(r, 200));
    await p.stop();
    expect(p.stderr().split('\n').filter((l) => /^\d\d:\d\d:\d\d /.test(l))).toEqual([]);
  }, 30_000);

  it('sizes read as mitmdump prints them', () => {
    expect([0, 999, 1000, 52_149, 1_000_000, 3_400_000_000].map(shortSize)).toEqual(['0', '999', '1.0k', '52.1k', '1.0M', '3.4G']);
  });
});
