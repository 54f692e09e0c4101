import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

// The canary against a fake Anthropic server over plain http (its reverse-route path). The forward
// route (CONNECT + TLS) is covered by test/runner-e2e.test.ts through the real proxy.
const here = path.dirname(fileURLToPath(import.meta.url));
const canary = path.join(here, '..', 'agents', 'canary', 'index.mjs');
const fake = path.join(here, 'fixtures', 'scenario', 'fake-anthropic.mjs');

let server: ChildProcess;
let port = 0;
let log = '';
beforeAll(async () => {
  server = spawn(process.execPath, [fake], { stdio: ['ignore', 'pipe', 'pipe'] });
  server.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  port = await new Promise<number>((resolve) => server.stdout!.once('data', (c: Buffer) => resolve(Number(c.toString().trim()))));
});
afterAll(() => {
  server.kill();
});

interface Seen {
  path: string;
  headers: Record<string, string>;
  body: string;
}

function runCanary(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string; seen: Seen[] }> {
  const before = log.length;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [canary, '--task', 'say hi', ...args],
      { env: { PATH: process.env.PATH, ANTHROPIC_BASE_URL: `http://127.0.0.1:${port}`, TZ: 'UTC', ...env } },
      (err, stdout, stderr) => {
        const seen = log.slice(before).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Seen);
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr, seen });
      },
    );
  });
}

const system = (s: Seen) => (JSON.parse(s.body) as { system: string }).system;

describe('canary agent', () => {
  test('three requests per task: a title call, then two streamed turns; prints the assistant text', async () => {
    const r = await runCanary([], {});
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Hello from the fake.\n');
    expect(r.seen).toHaveLength(3);
    expect(r.seen.map((s) => (JSON.parse(s.body) as { stream?: boolean }).stream ?? false)).toEqual([false, true, true]);
    const sys = system(r.seen[1]!);
    expect(sys).toMatch(/Today's date: \d{4}-\d{2}-\d{2}/);
    expect(sys).toContain(`Working directory: ${process.cwd()}`);
    expect(sys).toMatch(/Session: [0-9a-f-]{36}/);
    // Noise: each request has its own id.
    expect(new Set(r.seen.map((s) => s.headers['x-request-id'])).size).toBe(3);
  });

  test('each plant kind changes exactly its bytes when its trigger matches', async () => {
    const plants = ['apostrophe:locale=^zh', 'homoglyph:tz=^Asia/', 'zwsp:base=^127\\.', 'date-format:tz=^Asia/', 'header:proxy=corp'];
    const off = await runCanary(plants.flatMap((p) => ['--plant', p]), { LANG: 'en_US.UTF-8', TZ: 'UTC' });
    const on = await runCanary(plants.flatMap((p) => ['--plant', p]), { LANG: 'zh_CN.UTF-8', TZ: 'Asia/Shanghai' });
    const a = system(off.seen[1]!);
    const b = system(on.seen[1]!);
    expect(a).toContain("Don't guess");
    expect(b).toContain('Don\u2019t guess');
    expect(a).not.toMatch(/[\u0430\u2019]/);
    expect(b).toContain('\u0430nswer');
    // zwsp triggers on the base URL host (127.0.0.1 in both runs).
    expect(a).toContain('tools\u200B provided');
    expect(b).toContain('tools\u200B provided');
    expect(a).toMatch(/Today's date: \d{4}-\d{2}-\d{2}\n/);
    expect(b).toMatch(/Today's date: \d{4}\/\d{2}\/\d{2}\n/);
    // header triggers on the proxy hostname; no proxy here.
    expect(on.seen[1]!.headers['x-client-build']).toBe('2026.07.1');
  });

  test('HTTP errors and unreachable endpoints exit non-zero with a clear message', async () => {
    const refused = await runCanary([], { ANTHROPIC_BASE_URL: 'http://127.0.0.1:1' });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^canary: POST http:\/\/127\.0\.0\.1:1\/v1\/messages failed: connect ECONNREFUSED/);
    const noProxy = await runCanary([], { ANTHROPIC_BASE_URL: 'https://api.anthropic.com', HTTPS_PROXY: 'http://127.0.0.1:1' });
    expect(noProxy.code).toBe(1);
    expect(noProxy.stderr).toMatch(/cannot reach proxy http:\/\/127\.0\.0\.1:1/);
    const overloaded = await runCanary(['--model', 'overloaded'], {});
    expect(overloaded.code).toBe(1);
    expect(overloaded.stderr).toMatch(/→ HTTP 529: .*overloaded_error/);
  });

  test('bad flags exit 2 with usage', async () => {
    const r = await runCanary(['--plant', 'sparkle:tz=x'], {});
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown plant kind sparkle\nusage:/);
  });
});
