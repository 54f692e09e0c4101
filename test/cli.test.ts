import { describe, it, expect } from 'vitest';
import { once } from 'node:events';
import path from 'node:path';
import { stat } from 'node:fs/promises';
import { runCli, startCli } from './helpers/cli.js';
import { forwardRequest, reverseRequest, tmp } from './helpers/clients.js';
import { readFile, writeFile } from 'node:fs/promises';

describe('promptdiff CLI', () => {
  it('prints help and exits 0; exits 2 without a command', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: promptdiff <command>/);
    const none = await runCli([]);
    expect(none.code).toBe(2);
  });

  it('reports user mistakes in one line with exit 2 and no stack trace', async () => {
    for (const args of [['bogus'], ['proxy', '--out', '/tmp/x', '--port', 'http'], ['proxy', '--out', '/tmp/x', '--upstream', 'magic'], ['proxy', '--out', '/tmp/x', '--passthrough-only', 'api.anthropic.com'], ['proxy', '--out', '/tmp/x', '--upstream', 'passthrough', '--passthrough-only', 'https://api.anthropic.com/v1'], ['har', '/nonexistent-dir'], ['env']]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^promptdiff( [a-z]+)?: /);
      expect(r.stderr).not.toMatch(/^promptdiff: promptdiff/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('a misspelt flag gets one line with a did-you-mean, like a misspelt scenario key', async () => {
    const cases: Array<[string[], string]> = [
      [['report', '--fromat', 'json', 'runs/x'], 'promptdiff report: unknown option --fromat (did you mean --format?); see promptdiff report --help\n'],
      [['diff', '--jsno', 'runs/x'], 'promptdiff diff: unknown option --jsno (did you mean --json?); see promptdiff diff --help\n'],
      [['proxy', '--prot', '8080'], 'promptdiff proxy: unknown option --prot (did you mean --port?); see promptdiff proxy --help\n'],
      [['report', '--bogus-flag', 'runs/x'], 'promptdiff report: unknown option --bogus-flag; see promptdiff report --help\n'],
      [['run', '--out'], 'promptdiff run: --out needs a value; see promptdiff run --help\n'],
      [['demo', 'extra'], 'promptdiff demo: unexpected argument "extra": this command takes options only; see promptdiff demo --help\n'],
    ];
    for (const [args, line] of cases) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toBe(line);
    }
  });

  it('creates the CA on first use with a private key only the owner can read', async () => {
    const certs = await tmp('cli-certs');
    const init = await runCli(['ca', 'init', '--certs', certs]);
    expect(init.code).toBe(0);
    expect(init.stdout).toMatch(/created/);
    const pathOut = await runCli(['ca', 'path', '--certs', certs]);
    expect(pathOut.stdout.trim()).toBe(path.join(certs, 'certs', 'ca.pem'));
    expect((await stat(path.join(certs, 'keys', 'ca.private.key'))).mode & 0o777).toBe(0o600);
    expect(init.stdout + init.stderr).not.toContain('PRIVATE KEY');
  });

  it('prints client exports for each shell', async () => {
    const certs = await tmp('cli-env');
    const bash = await runCli(['env', '--port', '9911', '--certs', certs]);
    expect(bash.stdout).toContain("export HTTPS_PROXY='http://127.0.0.1:9911'");
    expect(bash.stdout).toContain(`export NODE_EXTRA_CA_CERTS='${path.join(certs, 'certs', 'ca.pem')}'`);
    const ps = await runCli(['env', '--port', '9911', '--shell', 'powershell', '--certs', certs]);
    expect(ps.stdout).toContain("$env:SSL_CERT_FILE = '");
  });

  it('runs the proxy until SIGTERM, records both routes, and exports HAR', async () => {
    const certs = await tmp('cli-proxy-certs');
    const out = await tmp('cli-proxy-out');
    const { child, match } = await startCli(['proxy', '--port', '0', '--out', out, '--certs', certs], /on http:\/\/127\.0\.0\.1:(\d+)/);
    const port = Number(match[1]);
    const ca = await readFile(path.join(certs, 'certs', 'ca.pem'), 'utf8');
    const body = JSON.stringify({ model: 'claude-x', stream: true, system: 'Be brief.', messages: [{ role: 'user', content: 'hi' }] });
    const f = await forwardRequest({ proxyPort: port, target: 'api.anthropic.com', path: '/v1/messages', headers: { 'content-type': 'application/json', authorization: 'Bearer sekrit' }, body, ca });
    const r = await reverseRequest(port, { path: '/v1/messages', headers: { 'content-type': 'application/json' }, body });
    expect([f.status, r.status]).toEqual([200, 200]);
    child.kill('SIGTERM');
    const [code] = await once(child, 'close');
    expect(code).toBe(0);
    const har = await runCli(['har', out]);
    expect(har.code).toBe(0);
    const parsed = JSON.parse(har.stdout);
    expect(parsed.log.version).toBe('1.2');
    expect(parsed.log.entries.map((e: { request: { url: string } }) => e.request.url)).toEqual(['https://api.anthropic.com/v1/messages', `http://127.0.0.1:${port}/v1/messages`]);
    expect(har.stdout).not.toContain('sekrit');
    expect(parsed.log.entries[0].response.content.mimeType).toMatch(/^text\/event-stream/);
  });

  it('says once, not twice, that the clock could not be pinned', async () => {
    const dir = await tmp('cli-clock');
    const scenario = path.join(dir, 'one.yaml');
    const canary = path.resolve('agents/canary/index.mjs');
    await writeFile(scenario, `name: one\nagent: {command: [node, ${JSON.stringify(canary)}, --task, hi]}\naxes: {TZ: [UTC]}\nrepetitions: 1\nclock: 2026-07-01T12:00:00Z\n`);
    const r = await runCli(['run', scenario, '--out', path.join(dir, 'run'), '--certs', path.join(dir, 'certs')], { PROMPTDIFF_LIBFAKETIME: path.join(dir, 'no-such-libfaketime.so') });
    expect(r.code, r.stderr).toBe(0);
    expect((r.stdout + r.stderr).match(/libfaketime not found: the clock is NOT pinned/g)).toHaveLength(1);
  });
});
