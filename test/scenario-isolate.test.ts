import { describe, expect, test } from 'vitest';
import { clockEnv, isInstant } from '../src/scenario/clock.js';
import { isolatedEnv, launchCommand, redactEnv, SANDBOX_ROOT, type Sandbox } from '../src/scenario/isolate.js';
import { hostnameOf, hostsFile, rewriteUrl, routeEnv } from '../src/scenario/routing.js';

const sandbox: Sandbox = {
  dir: '/real/scratch/c001-r1',
  root: SANDBOX_ROOT,
  home: `${SANDBOX_ROOT}/home`,
  work: `${SANDBOX_ROOT}/work`,
  tmp: `${SANDBOX_ROOT}/tmp`,
  caCertPath: `${SANDBOX_ROOT}/ca.pem`,
};

const caller = {
  PATH: '/usr/bin:/bin',
  HOME: '/home/alice',
  USER: 'alice',
  LANG: 'de_DE.UTF-8',
  TZ: 'Europe/Berlin',
  ANTHROPIC_API_KEY: 'sk-ant-real',
  HTTPS_PROXY: 'http://alice-proxy:8080',
  SSH_AUTH_SOCK: '/run/alice/ssh',
  NODE_OPTIONS: '--inspect',
  EDITOR: 'vim',
};

describe('isolated environment', () => {
  const base = { caller, allow: [], set: {}, cell: {}, routing: {}, clock: {}, sandbox, namespaces: true };

  test('nothing of the caller leaks except the allow-list', () => {
    const env = isolatedEnv(base);
    expect(env.PATH).toBe('/usr/bin:/bin');
    for (const name of ['ANTHROPIC_API_KEY', 'SSH_AUTH_SOCK', 'NODE_OPTIONS', 'EDITOR']) expect(env[name]).toBeUndefined();
    expect(Object.values(env).join('\n')).not.toMatch(/alice|Berlin|de_DE|sk-ant-real/);
    expect(env).toMatchObject({
      HOME: `${SANDBOX_ROOT}/home`,
      PWD: `${SANDBOX_ROOT}/work`,
      TMPDIR: `${SANDBOX_ROOT}/tmp`,
      XDG_CONFIG_HOME: `${SANDBOX_ROOT}/home/.config`,
      XDG_CACHE_HOME: `${SANDBOX_ROOT}/home/.cache`,
      USER: 'root',
      LANG: 'C.UTF-8',
      TZ: 'UTC',
    });
  });

  test('allow-list, env.set, cell values, routing and clock, in that precedence', () => {
    const env = isolatedEnv({
      ...base,
      allow: ['EDITOR'],
      set: { FOO: 'set', TZ: 'set' },
      cell: { TZ: 'Asia/Shanghai', LANG: 'zh_CN.UTF-8' },
      routing: { HTTPS_PROXY: 'http://corp:4000' },
      clock: { FAKETIME: '@1' },
    });
    expect(env).toMatchObject({ EDITOR: 'vim', FOO: 'set', TZ: 'Asia/Shanghai', LANG: 'zh_CN.UTF-8', HTTPS_PROXY: 'http://corp:4000', FAKETIME: '@1' });
  });

  test('two cells differ only in their values', () => {
    const a = isolatedEnv({ ...base, cell: { TZ: 'UTC' } });
    const b = isolatedEnv({ ...base, cell: { TZ: 'Asia/Tokyo' } });
    const differing = Object.keys({ ...a, ...b }).filter((k) => a[k] !== b[k]);
    expect(differing).toEqual(['TZ']);
    expect(Object.keys(a)).toEqual(Object.keys(b));
  });

  test('secrets are redacted in the stored environment', () => {
    const env = redactEnv({ ANTHROPIC_API_KEY: 'x', GH_TOKEN: 'y', GITHUB_PAT_X: 'z', GIT_AUTHOR_NAME: 'Dev', MAX_TOKENS: '100', PWD: '/w', TZ: 'UTC' });
    expect(env.ANTHROPIC_API_KEY).toMatch(/^\[redacted:[0-9a-f]{8}\]$/);
    expect(env.GH_TOKEN).toMatch(/^\[redacted:[0-9a-f]{8}\]$/);
    expect(env.GITHUB_PAT_X).toMatch(/^\[redacted:[0-9a-f]{8}\]$/);
    // Different values, different tags: the differ can still tell them apart.
    expect(env.ANTHROPIC_API_KEY).not.toBe(env.GH_TOKEN);
    expect({ GIT_AUTHOR_NAME: env.GIT_AUTHOR_NAME, MAX_TOKENS: env.MAX_TOKENS, PWD: env.PWD, TZ: env.TZ }).toEqual({ GIT_AUTHOR_NAME: 'Dev', MAX_TOKENS: '100', PWD: '/w', TZ: 'UTC' });
  });

  test('launch: wrapped in unshare with namespaces, direct otherwise', () => {
    const ns = { available: true, detail: '', unshare: '/usr/bin/unshare', mount: '/usr/bin/mount', sh: '/bin/sh' };
    const mounts = { mountLines: ["'/usr/bin/mount' --bind '/x/hosts' /etc/hosts"], homeLines: [], unshareFlags: ['-u'], hide: ['/x', '/ca/keys'] };
    const wrapped = launchCommand(['node', 'a.mjs'], sandbox, ns, mounts);
    expect(wrapped.file).toBe('/usr/bin/unshare');
    expect(wrapped.args.slice(0, 6)).toEqual(['-r', '-m', '-u', '--', '/bin/sh', '-c']);
    expect(wrapped.args.slice(-3)).toEqual(['promptdiff-sandbox', 'node', 'a.mjs']);
    const script = wrapped.args[6]!.split('\n');
    // The /etc view first, then the sandbox, a private /dev/shm, then the scratch and the CA keys hidden, then the agent
    // in a nested namespace (where those mounts are locked).
    expect(script).toEqual([
      'set -e',
      "'/usr/bin/mount' --bind '/x/hosts' /etc/hosts",
      `'/usr/bin/mount' --bind '${sandbox.dir}' '${SANDBOX_ROOT}'`,
      "if [ -d /dev/shm ]; then '/usr/bin/mount' -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm; fi",
      "'/usr/bin/mount' -t tmpfs -o mode=0700 tmpfs '/x'",
      "'/usr/bin/mount' -t tmpfs -o mode=0700 tmpfs '/ca/keys'",
      `cd '${SANDBOX_ROOT}/work'`,
      'if [ -n "${PROMPTDIFF_AGENT_LD_PRELOAD+x}" ]; then export LD_PRELOAD="$PROMPTDIFF_AGENT_LD_PRELOAD"; unset PROMPTDIFF_AGENT_LD_PRELOAD; fi',
      `exec '/usr/bin/unshare' -r -m -- "$@"`,
    ]);
    // The wrapper runs without the clock's LD_PRELOAD (libfaketime would leave segments on the host's /dev/shm): only the agent gets it.
    expect(wrapped.env({ LD_PRELOAD: '/lib/faketime.so', TZ: 'UTC' })).toEqual({ PROMPTDIFF_AGENT_LD_PRELOAD: '/lib/faketime.so', TZ: 'UTC' });
    const direct = launchCommand(['node', 'a.mjs'], { ...sandbox, work: '/real/work' }, { available: false, detail: 'no' }, mounts);
    expect({ file: direct.file, args: direct.args, cwd: direct.cwd }).toEqual({ file: 'node', args: ['a.mjs'], cwd: '/real/work' });
    expect(direct.env({ LD_PRELOAD: '/lib/faketime.so' })).toEqual({ LD_PRELOAD: '/lib/faketime.so' });
  });

  test('machine variables sit above the preset and below env.set; unset drops a runner default', () => {
    const env = isolatedEnv({
      ...base,
      preset: { LANG: 'preset', X: 'preset' },
      machine: { LANG: 'zh_CN.UTF-8', X: 'machine', Y: 'machine' },
      unset: ['TZ'],
      set: { Y: 'set' },
    });
    expect(env).toMatchObject({ LANG: 'zh_CN.UTF-8', X: 'machine', Y: 'set' });
    expect('TZ' in env).toBe(false);
    expect(isolatedEnv({ ...base, unset: ['TZ'], cell: { TZ: 'Asia/Tokyo' } }).TZ).toBe('Asia/Tokyo');
  });
});

describe('routing', () => {
  test('rewriteUrl keeps everything but the replaced parts', () => {
    expect(rewriteUrl('http://corp-proxy.example.com:3128', { port: 4000 })).toBe('http://corp-proxy.example.com:4000');
    expect(rewriteUrl('http://127.0.0.1', { port: 4000 })).toBe('http://127.0.0.1:4000');
    expect(rewriteUrl('http://user:pw@proxy/', { port: 1, host: '127.0.0.1' })).toBe('http://user:pw@127.0.0.1:1/');
    expect(rewriteUrl('https://gw.example.cn/anthropic', { port: 9, scheme: 'http://' })).toBe('http://gw.example.cn:9/anthropic');
    expect(hostnameOf('http://[::1]:80')).toBe('::1');
  });

  test('forward: proxy vars keep the hostname and take the listener port', () => {
    const env = routeEnv({
      route: 'forward',
      proxyUrl: 'http://corp-proxy.example.com:3128',
      baseUrlVar: 'ANTHROPIC_BASE_URL',
      listenerPort: 41000,
      hostsMapped: true,
      caCertPath: '/ca.pem',
    });
    expect(env).toEqual({
      HTTPS_PROXY: 'http://corp-proxy.example.com:41000',
      HTTP_PROXY: 'http://corp-proxy.example.com:41000',
      https_proxy: 'http://corp-proxy.example.com:41000',
      http_proxy: 'http://corp-proxy.example.com:41000',
      NODE_EXTRA_CA_CERTS: '/ca.pem',
      SSL_CERT_FILE: '/ca.pem',
      REQUESTS_CA_BUNDLE: '/ca.pem',
    });
    const fallback = routeEnv({ route: 'forward', proxyUrl: 'http://corp-proxy.example.com:3128', baseUrlVar: 'X', listenerPort: 5, hostsMapped: false, caCertPath: '/c' });
    expect(fallback.HTTPS_PROXY).toBe('http://127.0.0.1:5');
  });

  test('reverse: the base URL points at the listener, over http, keeping host and path', () => {
    const input = { route: 'reverse' as const, baseUrlVar: 'OPENAI_BASE_URL', baseUrl: 'https://gw.example.cn/v1', listenerPort: 7, caCertPath: '/c' };
    expect(routeEnv({ ...input, hostsMapped: true })).toEqual({ OPENAI_BASE_URL: 'http://gw.example.cn:7/v1' });
    expect(routeEnv({ ...input, hostsMapped: false })).toEqual({ OPENAI_BASE_URL: 'http://127.0.0.1:7/v1' });
  });

  test('hosts file maps invented names to IPv4 loopback only, deterministically', () => {
    const text = hostsFile(['corp-proxy.example.com', '127.0.0.1', 'localhost', 'Corp-Proxy.example.com', 'a.example']);
    expect(text).toBe(
      '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.0.1\ta.example\n127.0.0.1\tcorp-proxy.example.com\n',
    );
  });
});

describe('clock', () => {
  test('an instant becomes epoch seconds; a wall-clock time stays local', () => {
    expect(isInstant('2026-07-01T12:00:00Z')).toBe(true);
    expect(isInstant('2026-07-01 12:00')).toBe(false);
    expect(clockEnv('2026-07-01T12:00:00Z', '/lib.so')).toEqual({
      LD_PRELOAD: '/lib.so',
      DONT_FAKE_MONOTONIC: '1',
      FAKETIME_FMT: '%s',
      FAKETIME: '@1782907200',
    });
    expect(clockEnv('2026-07-01T08:00:00+08:00', '/l').FAKETIME).toBe('@1782864000');
    expect(clockEnv('2026-07-01 12:00', '/l')).toEqual({ LD_PRELOAD: '/l', DONT_FAKE_MONOTONIC: '1', FAKETIME: '@2026-07-01 12:00:00' });
  });
});
