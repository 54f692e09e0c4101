import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
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
  test('a bad argument: exit 2, the reason on the last line of stderr (a runner keeps only its tail)', async () => {
    const r = await runCanary(['--no-such-flag'], {});
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toBe('canary: unknown argument --no-such-flag');
    expect(r.seen).toEqual([]);
  });

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
    expect(r.stderr).toMatch(/^usage:.*\ncanary: unknown plant kind sparkle\n$/s);
  });
});

// ---- Triggers, conjunctions, slots, the tool loop: against a scripted server in this process ----

interface Request {
  headers: http.IncomingHttpHeaders;
  body: {
    model: string;
    stream?: boolean;
    system: string;
    tools?: { name: string; description: string; input_schema: { properties: Record<string, unknown>; required: string[] } }[];
    messages: { role: string; content: string | Record<string, unknown>[] }[];
  };
}
type Block = { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };
interface Reply {
  stream: boolean;
  content: Block[];
}
/** What the server answers the n-th main-turn request (0-based) of the current run. */
type Script = (n: number, req: Request) => Reply;
const textReply = (text: string, stream = true): Reply => ({ stream, content: [{ type: 'text', text }] });

let script: Script = () => textReply('ok');
let requests: Request[] = [];
let mainTurns = 0;

/** The Anthropic stream of a reply, event by event as the API sends it; JSON input in small pieces. */
function writeStream(res: http.ServerResponse, content: Block[]): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const ev = (type: string, data: Record<string, unknown>) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
  ev('message_start', { message: { id: 'msg_script', type: 'message', role: 'assistant', content: [], stop_reason: null } });
  content.forEach((b, index) => {
    if (b.type === 'text') {
      ev('content_block_start', { index, content_block: { type: 'text', text: '' } });
      ev('ping', {});
      for (const piece of [b.text.slice(0, 3), b.text.slice(3)]) ev('content_block_delta', { index, delta: { type: 'text_delta', text: piece } });
    } else {
      ev('content_block_start', { index, content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } });
      const json = JSON.stringify(b.input);
      for (let i = 0; i < json.length; i += 5) ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: json.slice(i, i + 5) } });
    }
    ev('content_block_stop', { index });
  });
  const toolUse = content.some((b) => b.type === 'tool_use');
  ev('message_delta', { delta: { stop_reason: toolUse ? 'tool_use' : 'end_turn' }, usage: { output_tokens: 9 } });
  ev('message_stop', {});
  res.end();
}

const scripted = http.createServer((req, res) => {
  let raw = '';
  req.setEncoding('utf8');
  req.on('data', (c: string) => (raw += c));
  req.on('end', () => {
    const r: Request = { headers: req.headers, body: JSON.parse(raw) as Request['body'] };
    requests.push(r);
    // The title side call declares no tools; every main turn does.
    const reply = r.body.tools ? script(mainTurns++, r) : textReply('A title', false);
    if (reply.stream) {
      writeStream(res, reply.content);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    const toolUse = reply.content.some((b) => b.type === 'tool_use');
    res.end(JSON.stringify({ id: 'msg_json', type: 'message', role: 'assistant', content: reply.content, stop_reason: toolUse ? 'tool_use' : 'end_turn' }));
  });
});
let scriptedPort = 0;
let tmp = '';
beforeAll(async () => {
  await new Promise<void>((resolve) => scripted.listen(0, '127.0.0.1', resolve));
  scriptedPort = (scripted.address() as AddressInfo).port;
  tmp = await mkdtemp(path.join(os.tmpdir(), 'canary-test-'));
});
afterAll(async () => {
  await new Promise((resolve) => scripted.close(resolve));
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  requests: Request[];
  /** The main turns only (the title call left out). */
  main: Request[];
}

/** The canary against the scripted server, with exactly this environment (plus PATH and the base URL). */
function runScripted(args: string[], env: Record<string, string>, options: { cwd?: string; script?: Script } = {}): Promise<Run> {
  script = options.script ?? (() => textReply('ok'));
  requests = [];
  mainTurns = 0;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [canary, '--task', 'say hi', ...args],
      { cwd: options.cwd ?? tmp, env: { PATH: process.env.PATH, ANTHROPIC_BASE_URL: `http://127.0.0.1:${scriptedPort}`, TZ: 'UTC', ...env } },
      (err, stdout, stderr) => {
        const all = requests;
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr, requests: all, main: all.filter((r) => r.body.tools) });
      },
    );
  });
}

const plantArgs = (plants: string[]) => plants.flatMap((p) => ['--plant', p]);
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const pad2 = (n: number) => String(n).padStart(2, '0');
/** The slotted rule lines of a system prompt, by slot number. */
function rules(sys: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of sys.split('\n')) {
    const m = /^Rule (\d\d) /.exec(line);
    if (m) out.set(Number(m[1]), line);
  }
  return out;
}
const mainSystem = (r: Run) => {
  expect(r.code, r.stderr).toBe(0);
  return r.main[0]!.body.system;
};
async function put(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
}
/** Today in a timezone, as YYYY-MM-DD. */
const dateIn = (timeZone: string) => new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date());

describe('canary triggers read machine facts from their real sources', () => {
  const host = os.hostname();
  const user = os.userInfo().username;
  const readme = `🐤${'工作区内容语言'.repeat(40)}`; // 281 code points, one of them outside the BMP
  /** slot → [trigger clause, what it reads when its source is there]. */
  const primary = (home: string, dates: string[]): [number, string][] => [
    [1, 'systz=^Europe/Berlin$'],
    [2, 'intltz=^Pacific/Kiritimati$'],
    [3, `hostname=^${escape(host)}$`],
    [4, `user=^${escape(user)}$`],
    [5, `home=^${escape(home)}$`],
    [6, 'gitemail=^dev@example\\.cn$'],
    [7, 'gitname=^Li Lei$'],
    [8, 'gitremote=^git@gitee\\.com:team/app\\.git$'],
    [9, 'npmrc=^https://registry\\.npmmirror\\.com/$'],
    [10, 'pip=^https://pypi\\.tuna\\.tsinghua\\.edu\\.cn/simple$'],
    [11, 'cargo=^sparse\\+https://rsproxy\\.cn/index/$'],
    [12, 'goproxy=^https://goproxy\\.cn,direct$'],
    [13, 'docker=^https://mirror\\.ccs\\.tencentyun\\.com,https://docker\\.m\\.daocloud\\.io$'],
    [14, 'dns=^223\\.5\\.5\\.5$'],
    [15, 'osrelease=^ubuntu$'],
    [16, 'machineid=^0123456789abcdef0123456789abcdef$'],
    [17, 'syslocale=^zh_CN\\.UTF-8$'],
    [18, `date=^(${dates.join('|')})$`],
    [19, 'noproxy=^localhost,\\.corp\\.cn$'],
    [20, 'env.GTK_IM_MODULE=^fcitx'],
    [21, 'env.CI=^true$'],
    [22, `readme=^${escape(Array.from(readme).slice(0, 200).join(''))}$`],
  ];

  test('each trigger fires on its own source, read the way real code reads it', async () => {
    const root = path.join(tmp, 'primary');
    const home = path.join(root, 'home');
    const cwd = path.join(root, 'work');
    const etcRoot = path.join(root, 'sysroot');
    await mkdir(path.join(etcRoot, 'etc'), { recursive: true });
    // The symlink wins over /etc/timezone; only the part after zoneinfo/ counts.
    await symlink('../usr/share/zoneinfo/Europe/Berlin', path.join(etcRoot, 'etc', 'localtime'));
    await put(path.join(etcRoot, 'etc', 'timezone'), 'Asia/Tokyo\n');
    await put(path.join(etcRoot, 'etc', 'docker', 'daemon.json'), JSON.stringify({ 'registry-mirrors': ['https://mirror.ccs.tencentyun.com', 'https://docker.m.daocloud.io'], debug: true }));
    await put(path.join(etcRoot, 'etc', 'resolv.conf'), '# nameserver 1.1.1.1\nsearch corp.cn\nnameserver 223.5.5.5\nnameserver 8.8.8.8\n');
    await put(path.join(etcRoot, 'etc', 'os-release'), 'NAME="Ubuntu"\nID_LIKE=debian\nID=ubuntu\nVERSION_ID="22.04"\n');
    await put(path.join(etcRoot, 'etc', 'machine-id'), '0123456789abcdef0123456789abcdef\n');
    await put(path.join(etcRoot, 'etc', 'default', 'locale'), 'LANG="zh_CN.UTF-8"\nLANGUAGE="zh_CN:zh"\n');
    // git reads ~/.config/git/config, then ~/.gitconfig: the later one wins; name only in the first.
    await put(path.join(home, '.config', 'git', 'config'), '[user]\n\tname = "Li Lei" # a comment\n\temail = old@example.org\n');
    await put(path.join(home, '.gitconfig'), '[core]\n\teditor = vim\n[User]\n\tEmail = dev@example.cn\n');
    await put(path.join(cwd, '.git', 'config'), '[remote "upstream"]\n\turl = https://github.com/x/app.git\n[remote "origin"]\n\turl = git@gitee.com:team/app.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n');
    await put(path.join(home, '.npmrc'), '@corp:registry=https://npm.corp.example/\nregistry=https://registry.npmmirror.com/\n');
    await put(path.join(home, '.config', 'pip', 'pip.conf'), '[install]\ntrusted-host = example.org\n[global]\nindex-url = https://pypi.tuna.tsinghua.edu.cn/simple\n');
    await put(
      path.join(home, '.cargo', 'config.toml'),
      "[source.crates-io]\nreplace-with = 'rsproxy-sparse'\n\n[source.rsproxy]\nregistry = \"https://rsproxy.cn/crates.io-index\"\n[source.rsproxy-sparse]\nregistry = \"sparse+https://rsproxy.cn/index/\"\n",
    );
    await put(path.join(cwd, 'README.md'), readme);

    const env = {
      HOME: home,
      CANARY_ETC: etcRoot,
      TZ: 'Pacific/Kiritimati', // UTC+14: its date is never the one at UTC-12
      // Decoys: the triggers read the system, not these.
      HOSTNAME: `not-${host}`,
      USER: `not-${user}`,
      LOGNAME: `not-${user}`,
      LANG: 'en_US.UTF-8',
      GOPROXY: 'https://goproxy.cn,direct',
      NO_PROXY: 'localhost,.corp.cn',
      no_proxy: 'ignored-when-NO_PROXY-is-set',
      GTK_IM_MODULE: 'fcitx5',
      CI: 'true',
    };
    // Today there, or tomorrow if midnight passes during the run; UTC-12 is a day or two behind.
    const today = dateIn('Pacific/Kiritimati');
    const dates = [today, new Date(Date.parse(`${today}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10)];
    const plants = (d: string[]) => primary(home, d).map(([n, clause]) => `zwsp@${n}:${clause}`);
    const on = await runScripted(plantArgs(plants(dates)), env, { cwd });
    const onRules = rules(mainSystem(on));
    for (const [n, clause] of primary(home, dates)) expect(onRules.get(n), `slot ${n}: ${clause}`).toContain('\u200B');

    // The same plants where no source is there: nothing fires but what the machine itself is.
    const bare = path.join(root, 'bare');
    await mkdir(bare, { recursive: true });
    const off = await runScripted(plantArgs(plants(dates)), { HOME: bare, CANARY_ETC: bare, TZ: 'Etc/GMT+12' }, { cwd: bare });
    const offRules = rules(mainSystem(off));
    for (const [n, clause] of primary(home, dates)) {
      const machine = clause.startsWith('hostname=') || clause.startsWith('user=');
      expect(offRules.get(n)!.includes('\u200B'), `slot ${n}: ${clause}`).toBe(machine);
    }
    // Nothing else in the rules differs.
    for (const n of offRules.keys()) expect(onRules.get(n)!.replace('\u200B', '')).toBe(offRules.get(n)!.replace('\u200B', ''));
  });

  test('fallback sources: /etc/timezone, the XDG git config, ~/.pip/pip.conf, ~/.cargo/config, /etc/locale.conf, no_proxy', async () => {
    const root = path.join(tmp, 'fallback');
    const home = path.join(root, 'home');
    const xdg = path.join(root, 'xdg');
    const etcRoot = path.join(root, 'sysroot');
    await put(path.join(etcRoot, 'etc', 'localtime'), 'TZif2 not a symlink');
    await put(path.join(etcRoot, 'etc', 'timezone'), 'Asia/Tokyo\nignored\n');
    await put(path.join(etcRoot, 'etc', 'os-release'), 'ID="opensuse-leap"\n');
    await put(path.join(etcRoot, 'etc', 'locale.conf'), 'LANG=ja_JP.UTF-8\n');
    await put(path.join(xdg, 'git', 'config'), '[user]\n\temail = xdg@example.jp\n\tname = Taro\n');
    await put(path.join(home, '.pip', 'pip.conf'), '[global]\nindex-url: https://mirrors.aliyun.com/pypi/simple/\n');
    await put(path.join(home, '.cargo', 'config'), '[source.crates-io]\nreplace-with = "ustc"\n[source.ustc]\nregistry = "git://mirrors.ustc.edu.cn/crates.io-index"\n');
    const plants = [
      'zwsp@1:systz=^Asia/Tokyo$',
      'zwsp@2:gitemail=^xdg@example\\.jp$',
      'zwsp@3:gitname=^Taro$',
      'zwsp@4:pip=^https://mirrors\\.aliyun\\.com/pypi/simple/$',
      'zwsp@5:cargo=^git://mirrors\\.ustc\\.edu\\.cn/crates\\.io-index$',
      'zwsp@6:osrelease=^opensuse-leap$',
      'zwsp@7:syslocale=^ja_JP\\.UTF-8$',
      'zwsp@8:noproxy=^127\\.0\\.0\\.1$',
    ];
    const r = await runScripted(plantArgs(plants), { HOME: home, XDG_CONFIG_HOME: xdg, CANARY_ETC: etcRoot, no_proxy: '127.0.0.1' });
    const got = rules(mainSystem(r));
    plants.forEach((p, i) => expect(got.get(i + 1), p).toContain('\u200B'));
  });

  test('without CANARY_ETC the real /etc is read', async () => {
    let id: string | undefined;
    try {
      id = /^ID=(.*)$/m.exec(await readFile('/etc/os-release', 'utf8'))?.[1]?.replace(/^["']|["']$/g, '');
    } catch {
      id = undefined;
    }
    const plant = id ? `zwsp@1:osrelease=^${escape(id)}$` : 'zwsp@1:osrelease=^$';
    const r = await runScripted(['--plant', plant], {});
    expect(rules(mainSystem(r)).get(1)).toContain('\u200B');
  });
});

describe('canary conjunction plants', () => {
  test('a conjunction fires only when every clause matches; \\x26 is a literal &', async () => {
    const plants = [
      'homoglyph:tz=^Asia/&locale=^zh',
      'zwsp@1:env.A=^1$&env.B=^1$',
      'zwsp@2:env.A=^1$&env.B=^0$',
      'zwsp@3:env.A=^0$&env.B=^1$',
      'zwsp@4:env.C=^a\\x26b$',
      'zwsp@5:env.A=^1$&env.B=^1$&env.C=^a\\x26b$',
      'zwsp@6:env.A=^1$&env.B=^1$&env.C=^nope$',
    ];
    const cells: [Record<string, string>, boolean][] = [
      [{ TZ: 'Asia/Shanghai', LANG: 'zh_CN.UTF-8' }, true],
      [{ TZ: 'Asia/Shanghai', LANG: 'en_US.UTF-8' }, false],
      [{ TZ: 'UTC', LANG: 'zh_CN.UTF-8' }, false],
    ];
    for (const [env, both] of cells) {
      const sys = mainSystem(await runScripted(plantArgs(plants), { ...env, A: '1', B: '1', C: 'a&b' }));
      expect(sys.includes('Alw\u0430ys \u0430nswer'), JSON.stringify(env)).toBe(both);
      expect(sys.includes('Always answer'), JSON.stringify(env)).toBe(!both);
      const got = rules(sys);
      expect([1, 2, 3, 4, 5, 6].map((n) => got.get(n)!.includes('\u200B'))).toEqual([true, false, false, true, true, false]);
    }
  });

  test('an empty clause or a bad trigger in a conjunction is a usage error', async () => {
    for (const [spec, message] of [
      ['zwsp:tz=x&', /bad --plant "zwsp:tz=x&"/],
      ['zwsp:tz=x&&locale=y', /bad --plant/],
      ['zwsp:tz=x&sparkle=y', /unknown plant trigger sparkle/],
      ['zwsp@0:tz=x', /plant slot 0 out of range: 1\.\.24/],
      ['zwsp@25:tz=x', /plant slot 25 out of range/],
    ] as const) {
      const r = await runScripted(['--plant', spec], {});
      expect(r.code, spec).toBe(2);
      expect(r.stderr, spec).toMatch(message);
      expect(r.stderr).toMatch(/^usage:/);
      expect(r.requests).toHaveLength(0);
    }
  });
});

describe('canary slotted plants', () => {
  const KINDS = ['apostrophe', 'homoglyph', 'zwsp', 'date-format'] as const;
  /** What each kind does to its rule line, written independently of the canary. */
  const planted: Record<(typeof KINDS)[number], (line: string) => string> = {
    apostrophe: (l) => l.replace(/^(Rule \d\d \(since [^)]*\): [^']*)'/, '$1\u2019'),
    homoglyph: (l) => l.replace(/^(Rule \d\d \(since [^)]*\): )(.*)$/, (_, head: string, s: string) => head + s.replace(/a/g, '\u0430')),
    zwsp: (l) => l.replace(/^(Rule \d\d \(since [^)]*\): \S+) /, '$1\u200B '),
    'date-format': (l) => l.replace(/since (\d{4})-(\d\d)-(\d\d)/, 'since $1/$2/$3'),
  };
  const plants = [
    ...Array.from({ length: 24 }, (_, i) => `${KINDS[i % 4]}@${i + 1}:env.SLOT_${i + 1}=^on$`),
    ...[1, 2, 3, 4].map((n) => `header@${n}:env.HDR_${n}=^on$`),
    // An unslotted plant keeps its old place while slotted ones are active.
    'homoglyph:env.ALL=^on$',
  ];
  const envFor = (on: (n: number) => boolean) =>
    Object.fromEntries([
      ...Array.from({ length: 24 }, (_, i) => [`SLOT_${i + 1}`, on(i + 1) ? 'on' : 'off']),
      ...[1, 2, 3, 4].map((n) => [`HDR_${n}`, on(n) ? 'on' : 'off']),
      ['ALL', on(0) ? 'on' : 'off'],
    ]);
  const unsession = (s: string) => s.replace(/Session: [0-9a-f-]{36}/, 'Session: S');

  test('28 plants at once: each one changes only its own rule line or its own header', async () => {
    const none = await runScripted(plantArgs(plants), envFor(() => false));
    const all = await runScripted(plantArgs(plants), envFor(() => true));
    const odd = await runScripted(plantArgs(plants), envFor((n) => n % 2 === 1));
    const base = unsession(mainSystem(none));
    const baseRules = rules(base);
    expect([...baseRules.keys()]).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
    for (const [n, line] of baseRules) {
      expect(line).toMatch(new RegExp(`^Rule ${pad2(n)} \\(since 2025-01-${pad2(n)}\\): .*'.*$`));
      expect(line).toMatch(/: .*a/);
      // Every kind would change every line: a slot that stays the same is a slot that did not fire.
      for (const kind of KINDS) expect(planted[kind](line), `${kind}@${n}`).not.toBe(line);
    }
    const expected = (on: (n: number) => boolean) => {
      let sys = base.replace(/^Always answer as a careful, concise assistant\./m, (s) => (on(0) ? s.replace(/a/g, '\u0430') : s));
      for (const [n, line] of baseRules) if (on(n)) sys = sys.replace(line, planted[KINDS[(n - 1) % 4]!](line));
      return sys;
    };
    // The whole prompt, byte for byte: the planted lines changed as their kind says, nothing else.
    expect(unsession(mainSystem(all))).toBe(expected(() => true));
    expect(unsession(mainSystem(odd))).toBe(expected((n) => n % 2 === 1));
    expect(base).toBe(expected(() => false));
    const changed = (r: Run) => [...rules(unsession(mainSystem(r))).entries()].filter(([n, l]) => l !== baseRules.get(n)).map(([n]) => n);
    expect(changed(all)).toHaveLength(24);
    expect(changed(odd)).toEqual([1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23]);

    // header@N: its own header on every request; x-client-build is the unslotted plant's and stays.
    const hdrs = (r: Run) => r.requests.map((q) => [1, 2, 3, 4].map((n) => q.headers[`x-canary-slot-${n}`]));
    expect(hdrs(none)).toEqual(Array(3).fill(Array(4).fill('2026.07.1')));
    expect(hdrs(all)).toEqual(Array(3).fill(Array(4).fill('2026.07.1-r')));
    expect(hdrs(odd)).toEqual(Array(3).fill(['2026.07.1-r', '2026.07.1', '2026.07.1-r', '2026.07.1']));
    for (const r of [none, all, odd]) for (const q of r.requests) expect(q.headers['x-client-build']).toBe('2026.07.1');
  });

  test('without a slotted plant the system prompt is exactly the old one; unslotted kinds keep their places', async () => {
    const home = path.join(tmp, 'home-plain');
    const r = await runScripted(
      plantArgs(['apostrophe:env.X=^1$', 'zwsp:env.X=^1$', 'date-format:env.X=^1$', 'header:env.X=^1$']),
      { X: '1', HOME: home },
    );
    expect(unsession(mainSystem(r))).toBe(
      [
        'You are Canary, an interactive coding agent that helps users with software engineering tasks.',
        'Always answer as a careful, concise assistant. Don\u2019t guess what a file contains; read it first. Use the tools\u200B provided to inspect the workspace.',
        '<env>',
        `Working directory: ${tmp}`,
        `Home directory: ${home}`,
        `Platform: ${process.platform}`,
        `OS version: ${os.type()} ${os.release()}`,
        `Today's date: ${dateIn('UTC').replace(/-/g, '/')}`,
        'Session: S',
        '</env>',
      ].join('\n'),
    );
    expect(r.requests.map((q) => q.headers['x-client-build'])).toEqual(['2026.07.1-r', '2026.07.1-r', '2026.07.1-r']);
    expect(Object.keys(r.requests[0]!.headers).filter((h) => h.startsWith('x-canary-slot'))).toEqual([]);
    // Slotted plants that do not write into the prompt (header@N, toolwrap@N) leave it alone too.
    const other = await runScripted(plantArgs(['header@3:env.X=^1$', 'toolwrap@2:env.X=^1$']), { X: '1', HOME: home });
    expect(rules(mainSystem(other)).size).toBe(0);
    expect(unsession(mainSystem(other))).toBe(unsession(mainSystem(await runScripted([], { HOME: home }))));
    expect(other.requests.map((q) => q.headers['x-canary-slot-3'])).toEqual(['2026.07.1-r', '2026.07.1-r', '2026.07.1-r']);
  });
});

describe('canary tool loop', () => {
  const bash = (id: string, command: string): Block => ({ type: 'tool_use', id, name: 'Bash', input: { command } });
  const toolResults = (q: Request) => {
    const last = q.body.messages.at(-1)!;
    expect(last.role).toBe('user');
    return last.content as { type: string; tool_use_id: string; content: string; is_error?: boolean }[];
  };

  /** Turn 1 streamed Bash, turn 2 JSON Read, turn 3 text. */
  async function threeTurns(file: string, args: string[] = [], env: Record<string, string> = {}) {
    const turn2: Reply = { stream: false, content: [{ type: 'text', text: 'Now the file.' }, { type: 'tool_use', id: 'toolu_read', name: 'Read', input: { file_path: file } }] };
    return runScripted(args, env, {
      script: (n) =>
        n === 0
          ? { stream: true, content: [{ type: 'text', text: 'Let me compute.' }, bash('toolu_bash', 'echo $((6*7))-probe')] }
          : n === 1
            ? turn2
            : textReply('All done.'),
    });
  }

  test('streamed and JSON tool_use replies are run and answered with tool_result blocks until a text reply', async () => {
    const file = path.join(tmp, 'notes.txt');
    await writeFile(file, 'read-probe: 你好\n');
    const r = await threeTurns(file);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('All done.\n');
    // The title side call, then three model turns; no follow-up once a tool was called.
    expect(r.requests).toHaveLength(4);
    expect(r.requests[0]!.body.tools).toBeUndefined();
    expect(r.main).toHaveLength(3);
    for (const q of r.main) {
      expect(q.body.stream).toBe(true);
      expect(q.body.tools!.map((t) => [t.name, Object.keys(t.input_schema.properties), t.input_schema.required])).toEqual([
        ['Bash', ['command'], ['command']],
        ['Read', ['file_path'], ['file_path']],
        ['LS', ['path'], ['path']],
      ]);
      expect(JSON.stringify(q.body.messages)).not.toContain('Anything else to check?');
    }
    // Turn 2 carries the assistant's blocks as streamed (the tool_use input assembled from partial_json).
    const m2 = r.main[1]!.body.messages;
    expect(m2.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(m2[1]!.content).toEqual([{ type: 'text', text: 'Let me compute.' }, bash('toolu_bash', 'echo $((6*7))-probe')]);
    const [bashResult, ...more] = toolResults(r.main[1]!);
    expect(more).toEqual([]);
    expect(bashResult).toEqual({ type: 'tool_result', tool_use_id: 'toolu_bash', content: '<stdout>42-probe\n</stdout>' });
    // Turn 3: the JSON reply's content exactly, then the file's text.
    const m3 = r.main[2]!.body.messages;
    expect(m3.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant', 'user']);
    expect(m3.slice(0, 3)).toEqual(m2);
    expect(m3[3]!.content).toEqual([{ type: 'text', text: 'Now the file.' }, { type: 'tool_use', id: 'toolu_read', name: 'Read', input: { file_path: file } }]);
    expect(toolResults(r.main[2]!)).toEqual([{ type: 'tool_result', tool_use_id: 'toolu_read', content: '<file>read-probe: 你好\n</file>' }]);
  });

  test('several calls in one reply: LS, stderr and exit codes, a missing file, an unknown tool', async () => {
    const dir = path.join(tmp, 'ls-me');
    await mkdir(path.join(dir, 'sub'), { recursive: true });
    for (const f of ['b.txt', 'a.txt', 'C.md']) await writeFile(path.join(dir, f), '');
    const r = await runScripted([], {}, {
      cwd: dir,
      script: (n) =>
        n === 0
          ? {
              stream: true,
              content: [
                { type: 'tool_use', id: 't1', name: 'LS', input: { path: '.' } },
                bash('t2', 'echo out; echo err >&2; exit 3'),
                { type: 'tool_use', id: 't3', name: 'Read', input: { file_path: 'missing.txt' } },
                { type: 'tool_use', id: 't4', name: 'Sparkle', input: {} },
                bash('t5', 'pwd'),
              ],
            }
          : textReply('fine', false),
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('fine\n');
    expect(r.main).toHaveLength(2);
    const results = toolResults(r.main[1]!);
    expect(results.map((x) => x.tool_use_id)).toEqual(['t1', 't2', 't3', 't4', 't5']);
    expect(results[0]).toEqual({ type: 'tool_result', tool_use_id: 't1', content: '<listing>C.md\na.txt\nb.txt\nsub</listing>' });
    expect(results[1]).toEqual({ type: 'tool_result', tool_use_id: 't2', content: '<stdout>out\nerr\n</stdout>\n<error>exit code 3</error>', is_error: true });
    expect(results[2]!.is_error).toBe(true);
    expect(results[2]!.content).toMatch(/^<error>ENOENT: no such file or directory, open '.*missing\.txt'<\/error>$/);
    expect(results[3]).toEqual({ type: 'tool_result', tool_use_id: 't4', content: '<error>unknown tool "Sparkle": this agent has Bash, Read, LS</error>', is_error: true });
    expect(results[4]).toEqual({ type: 'tool_result', tool_use_id: 't5', content: `<stdout>${dir}\n</stdout>` });
  });

  test('at most 10 model turns, then the last text is printed and the canary exits 0', async () => {
    const r = await runScripted([], {}, { script: (n) => ({ stream: n % 2 === 0, content: [{ type: 'text', text: `turn ${n}` }, bash(`t${n}`, 'true')] }) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.main).toHaveLength(10);
    expect(r.stdout).toBe('turn 9\n');
    expect(r.stderr).toMatch(/stopped after 10 model turns/);
  });

  test('toolwrap changes only the tool_result wrapper, so it shows from the second model turn on', async () => {
    const file = path.join(tmp, 'wrap.txt');
    await writeFile(file, 'wrapped\n');
    const off = await threeTurns(file, ['--plant', 'toolwrap:env.W=^1$'], { W: '0' });
    const on = await threeTurns(file, ['--plant', 'toolwrap:env.W=^1$'], { W: '1' });
    const nth = await threeTurns(file, ['--plant', 'toolwrap@2:env.W=^1$'], { W: '1' });
    for (const r of [off, on, nth]) expect(r.code, r.stderr).toBe(0);
    // Bodies without the noise (the session id) and the headers.
    const bodies = (r: Run) => r.requests.map((q) => JSON.stringify(q.body).replace(/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}/g, 'ID'));
    const [a, b, c] = [bodies(off), bodies(on), bodies(nth)];
    // The title call and the first model turn carry no tool result: identical.
    expect(b.slice(0, 2)).toEqual(a.slice(0, 2));
    expect(c.slice(0, 2)).toEqual(a.slice(0, 2));
    expect(b[2]).not.toBe(a[2]);
    expect(b[2]!.replace('<stdout >', '<stdout>')).toBe(a[2]);
    expect(b[3]!.replace('<stdout >', '<stdout>').replace('<file >', '<file>')).toBe(a[3]);
    expect(toolResults(on.main[2]!).map((x) => x.content)).toEqual(['<file >wrapped\n</file>']);
    // toolwrap@2: the second tool result of the session only.
    expect(c[2]).toBe(a[2]);
    expect(c[3]!.replace('<file >', '<file>')).toBe(a[3]);
    expect(c[3]).toContain('<stdout>42-probe');
    expect(c[3]).toContain('<file >wrapped');
  });
});

describe('canary layout plants (an element more in an array) and the tool-description plant', () => {
  const plants = ['--plant', 'extra-tool:env.FIRST=^1$', '--plant', 'extra-message:env.FIRST=^1$', '--plant', 'tooldesc:env.DESC=^1$'];
  const names = (q: Request) => q.body.tools!.map((t) => t.name);

  test('extra-tool puts ToolSearch first, extra-message opens the conversation with one more user message; the title call is unchanged', async () => {
    const bash = (id: string): Block => ({ type: 'tool_use', id, name: 'Bash', input: { command: 'echo hi' } });
    const script: Script = (n) => (n === 0 ? { stream: true, content: [bash('toolu_1')] } : textReply('Done.'));
    const off = await runScripted(plants, { FIRST: '0' }, { script });
    const on = await runScripted(plants, { FIRST: '1' }, { script });
    expect(on.code, on.stderr).toBe(0);
    expect(off.main.map(names)).toEqual([
      ['Bash', 'Read', 'LS'],
      ['Bash', 'Read', 'LS'],
    ]);
    expect(on.main.map(names)).toEqual([
      ['ToolSearch', 'Bash', 'Read', 'LS'],
      ['ToolSearch', 'Bash', 'Read', 'LS'],
    ]);
    const roles = (r: Run) => r.main.map((q) => q.body.messages.map((m) => m.role).join(','));
    expect(roles(off)).toEqual(['user', 'user,assistant,user']);
    expect(roles(on)).toEqual(['user,user', 'user,user,assistant,user']);
    expect(on.main[1]!.body.messages[0]!.content).toBe('<available-deferred-tools>\nWebFetch\nWebSearch\n</available-deferred-tools>');
    // Everything after the extra message is what the plain run sends.
    expect(on.main[1]!.body.messages.slice(1).map((m) => m.role)).toEqual(off.main[1]!.body.messages.map((m) => m.role));
    const title = (r: Run) => ({ ...r.requests[0]!.body, metadata: null });
    expect(title(on)).toEqual(title(off));
    const prompt = (r: Run) => r.main[0]!.body.system.replace(/Session: .*/, '');
    expect(prompt(on)).toBe(prompt(off));
  });

  test('tooldesc puts a zero-width space into the Read description only', async () => {
    const off = await runScripted(plants, { DESC: '0' });
    const on = await runScripted(plants, { DESC: '1' });
    const desc = (r: Run) => r.main[0]!.body.tools!.map((t) => t.description);
    expect(desc(on)[1]).toBe('Reads a\u200B file and returns its text.');
    expect(desc(off)[1]).toBe('Reads a file and returns its text.');
    expect([desc(on)[0], desc(on)[2]]).toEqual([desc(off)[0], desc(off)[2]]);
  });

  test('the layout and description plants take no slot', async () => {
    for (const kind of ['extra-tool', 'extra-message', 'tooldesc']) {
      const r = await runScripted(['--plant', `${kind}@2:env.X=^1$`], {});
      expect(r.code, kind).toBe(2);
      expect(r.stderr).toContain(`plant kind ${kind} takes no slot`);
    }
  });
});
