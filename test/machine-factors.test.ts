import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseCatalogue, builtInCatalogue, type Catalogue } from '../src/scenario/factors/catalogue.js';
import { FACTOR_KINDS } from '../src/scenario/factors/index.js';
import { runScenario } from '../src/scenario/runner.js';
import { validateScenario } from '../src/scenario/scenario-file.js';
import { detectNamespaces } from '../src/scenario/isolate.js';
import { detectMachineSupport } from '../src/scenario/machine.js';
import type { Manifest } from '../src/scenario/manifest.js';
import { silentProgress } from '../src/scenario/progress.js';

const PROBE = path.resolve('test/fixtures/machine/probe.mjs');
const catalogue: Catalogue = parseCatalogue(readFileSync('test/fixtures/machine/catalogue.yaml', 'utf8'), 'test catalogue');
const npm = execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim();

/** What of the host a run could have changed, read the same way before and after. */
function hostSnapshot(): Record<string, string> {
  const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '<absent>');
  const link = (f: string) => {
    try {
      return readlinkSync(f);
    } catch {
      return '<not a link>';
    }
  };
  return {
    localtime: link('/etc/localtime'),
    timezone: read('/etc/timezone'),
    hostname: os.hostname(),
    etcHostname: read('/etc/hostname'),
    hosts: read('/etc/hosts'),
    passwd: read('/etc/passwd'),
    group: read('/etc/group'),
    resolv: read('/etc/resolv.conf'),
    osRelease: read('/etc/os-release'),
    lsbRelease: read('/etc/lsb-release'),
    machineId: read('/etc/machine-id'),
    dbusId: read('/var/lib/dbus/machine-id'),
    defaultLocale: read('/etc/default/locale'),
    docker: read('/etc/docker/daemon.json'),
    home: execFileSync('ls', ['-a', '/home'], { encoding: 'utf8' }),
    gitconfig: read(path.join(os.homedir(), '.gitconfig')),
    npmrc: read(path.join(os.homedir(), '.npmrc')),
  };
}

type Readings = Record<string, Record<string, string | null>> & { scratch: string[]; shm: string[] };

interface Probed {
  manifest: Manifest;
  /** Cell values (factor → value) with what the probe read in that cell's run. */
  cells: Array<{ values: Record<string, string>; readings: Readings }>;
}

async function probe(factors: Record<string, string[]>, extra: Record<string, unknown> = {}): Promise<Probed> {
  const outDir = await mkdtemp(path.join(os.tmpdir(), 'promptdiff-factors-'));
  const scenario = validateScenario(
    {
      name: 'machine-probe',
      agent: { command: ['node', PROBE] },
      route: 'reverse',
      factors,
      design: 'one-at-a-time',
      repetitions: 1,
      clock: '2026-07-01T12:00:00Z',
      timeout: '60s',
      // The runner's scratch parent follows os.tmpdir() (each test file has its own TMPDIR).
      env: { set: { PROBE_NPM: npm, PROBE_SCRATCH: path.join(os.tmpdir(), 'promptdiff-runs') } },
      ...extra,
    },
    'test scenario',
  );
  const result = await runScenario({ scenario, outDir, progress: silentProgress, catalogue });
  expect(result.manifest.runs.map((r) => `${r.id} ${r.status} ${r.message ?? ''}`.trim())).toEqual(result.manifest.runs.map((r) => `${r.id} ok`));
  const cells = await Promise.all(
    result.manifest.runs.map(async (run) => ({
      values: result.manifest.cells.find((c) => c.id === run.cell)!.values,
      readings: JSON.parse(await readFile(path.join(outDir, 'runs', run.id, 'stdout.txt'), 'utf8')) as Readings,
    })),
  );
  return { manifest: result.manifest, cells };
}

/** The readings of the cell where `factor` has `value` (one-at-a-time: the others at baseline). */
function cellWith(p: Probed, factor: string, value: string): Readings {
  const found = p.cells.find((c) => c.values[factor] === value && Object.entries(c.values).every(([k, v]) => k === factor || v === p.manifest.axes[k]![0]));
  if (!found) throw new Error(`no cell with ${factor}=${value}`);
  return found.readings;
}

const ns = await detectNamespaces();
const support = await detectMachineSupport(ns, 'reverse');
const full = ns.available && support.etcView !== null && support.uts && support.home;

describe.skipIf(!full)('machine factors, each value seen by every way a program reads it', () => {
  let before: Record<string, string>;
  let p: Probed;
  const marker = `/dev/shm/promptdiff-test-${process.pid}`;
  let shmBefore: Set<string>;
  beforeAll(async () => {
    before = hostSnapshot();
    if (existsSync('/dev/shm')) writeFileSync(marker, 'host');
    shmBefore = new Set(existsSync('/dev/shm') ? readdirSync('/dev/shm') : []);
    p = await probe({
      'system.timezone': ['Etc/UTC', 'Asia/Shanghai', 'TZ=Asia/Urumqi'],
      'system.locale': ['en_US.UTF-8', 'zh_CN.UTF-8'],
      'system.hostname': ['devbox', 'zhangwei-ThinkPad-X1-Carbon'],
      'user.name': ['dev', 'zhangwei'],
      'git.identity': ['Dev User <dev@example.com>', 'Zhang Wei <zhangwei@alibaba-inc.com>'],
      'git.remote': ['https://github.com/example/project.git', 'git@gitee.com:example/project.git'],
      'packages.mirror': ['default', 'aliyun'],
      'network.dns': ['stub', 'alidns'],
      'system.os-release': ['debian-12', 'deepin-23'],
      'system.machine-id': ['5f2b9c1d7a4e4f0b9c3d2e1f0a9b8c7d', '0b1e2a9f4c7d4e3a8f6b5c2d1e0f9a8b'],
      'env.input-method': ['none', 'fcitx'],
      'network.no-proxy': ['localhost,127.0.0.1', 'localhost,127.0.0.1,.corp.example.cn'],
      clock: ['2026-07-01T12:00:00Z', '2025-03-01T12:00:00Z'],
      'workspace.language': ['en', 'zh'],
    });
  }, 240_000);
  afterAll(() => {
    rmSync(marker, { force: true });
    // Nothing a run did may show on the host.
    expect(hostSnapshot()).toEqual(before);
  });

  test('time zone: /etc/localtime is a symlink to the zone, /etc/timezone names it, TZ is unset (or set for TZ=…)', () => {
    const r = cellWith(p, 'system.timezone', 'Asia/Shanghai').tz!;
    expect(r).toEqual({ readlinkLocaltime: '/usr/share/zoneinfo/Asia/Shanghai', etcTimezone: 'Asia/Shanghai', intl: 'Asia/Shanghai', dateZ: 'CST', envTZ: null });
    const u = cellWith(p, 'system.timezone', 'TZ=Asia/Urumqi').tz!;
    expect(u).toMatchObject({ readlinkLocaltime: '/usr/share/zoneinfo/Asia/Urumqi', intl: 'Asia/Urumqi', envTZ: 'Asia/Urumqi' });
    expect(cellWith(p, 'system.timezone', 'Etc/UTC').tz).toMatchObject({ readlinkLocaltime: '/usr/share/zoneinfo/Etc/UTC', intl: 'UTC', envTZ: null });
  });

  test('locale: LANG, LANGUAGE, ICU and both locale files', () => {
    expect(cellWith(p, 'system.locale', 'zh_CN.UTF-8').locale).toEqual({
      LANG: 'zh_CN.UTF-8',
      LANGUAGE: 'zh_CN:zh',
      intl: 'zh-CN',
      defaultLocale: 'LANG=zh_CN.UTF-8',
      localeConf: 'LANG=zh_CN.UTF-8',
    });
  });

  test('hostname: gethostname, uname -n, hostname, /etc/hostname and /etc/hosts', () => {
    const r = cellWith(p, 'system.hostname', 'zhangwei-ThinkPad-X1-Carbon').hostname!;
    for (const k of ['os', 'uname', 'hostnameCmd', 'etcHostname'] as const) expect(r[k]).toBe('zhangwei-ThinkPad-X1-Carbon');
    expect(r.hosts).toContain('127.0.1.1\tzhangwei-ThinkPad-X1-Carbon\n');
    expect(cellWith(p, 'system.hostname', 'devbox').hostname!.os).toBe('devbox');
  });

  test('user: getpwuid, id -un, whoami, USER, LOGNAME, HOME and the home directory itself', () => {
    const r = cellWith(p, 'user.name', 'zhangwei').user!;
    expect(r).toEqual({
      userInfo: 'zhangwei',
      userInfoHome: '/home/zhangwei',
      idUn: 'zhangwei',
      whoami: 'zhangwei',
      USER: 'zhangwei',
      LOGNAME: 'zhangwei',
      HOME: '/home/zhangwei',
      homedir: '/home/zhangwei',
      cwdHomeExists: '/home/zhangwei',
    });
  });

  test('git identity: git config and ~/.gitconfig; remote: git remote and .git/config, with a commit that no factor changes', () => {
    const id = cellWith(p, 'git.identity', 'Zhang Wei <zhangwei@alibaba-inc.com>').git!;
    expect(id.configEmail).toBe('zhangwei@alibaba-inc.com');
    expect(id.configName).toBe('Zhang Wei');
    const remote = cellWith(p, 'git.remote', 'git@gitee.com:example/project.git').git!;
    expect(remote.remote).toBe('git@gitee.com:example/project.git');
    expect(remote.remoteV).toContain('origin\tgit@gitee.com:example/project.git (fetch)');
    expect(remote.gitDirConfig).toContain('url = git@gitee.com:example/project.git');
    const base = cellWith(p, 'git.remote', 'https://github.com/example/project.git').git!;
    expect(base.remote).toBe('https://github.com/example/project.git');
    expect(remote.log).toMatch(/^[0-9a-f]{40} promptdiff <workspace@promptdiff.invalid>$/);
    expect(remote.log).toBe(base.log);
    expect(id.log).toBe(base.log);
  });

  test('package mirrors: npm config, pip.conf, GOPROXY, cargo source replacement, Docker daemon.json', () => {
    const r = cellWith(p, 'packages.mirror', 'aliyun').mirrors!;
    expect(r.npmrc).toBe('registry=https://registry.npmmirror.com/');
    expect(r.npmConfig).toBe('https://registry.npmmirror.com/');
    expect(r.pipConf).toContain('index-url = https://mirrors.aliyun.com/pypi/simple/');
    expect(r.GOPROXY).toBe('https://goproxy.cn,direct');
    expect(r.cargo).toContain('registry = "sparse+https://mirrors.aliyun.com/crates.io-index/"');
    expect(JSON.parse(r.docker!)).toEqual({ 'registry-mirrors': ['https://registry.cn-hangzhou.aliyuncs.com'] });
    const d = cellWith(p, 'packages.mirror', 'default').mirrors!;
    expect(d.npmConfig).toBe('https://registry.npmjs.org/');
    expect(JSON.parse(d.docker!)).toEqual({});
  });

  test('DNS, OS release (lsb-release absent where the distribution has none), machine id in both places', () => {
    expect(cellWith(p, 'network.dns', 'alidns').dns!.resolvConf).toBe('nameserver 223.5.5.5\nnameserver 223.6.6.6\nsearch example.cn\n');
    const deepin = cellWith(p, 'system.os-release', 'deepin-23').os!;
    expect(deepin.osRelease).toContain('ID=deepin');
    expect(deepin.lsbRelease).toContain('DISTRIB_ID=Deepin');
    const debian = cellWith(p, 'system.os-release', 'debian-12').os!;
    expect(debian.osRelease).toContain('ID=debian');
    expect(debian.lsbRelease).toBe('<ENOENT>');
    const id = cellWith(p, 'system.machine-id', '0b1e2a9f4c7d4e3a8f6b5c2d1e0f9a8b').machineId!;
    expect(id.etc).toBe('0b1e2a9f4c7d4e3a8f6b5c2d1e0f9a8b');
    if (existsSync('/var/lib/dbus/machine-id')) expect(id.dbus).toBe('0b1e2a9f4c7d4e3a8f6b5c2d1e0f9a8b');
  });

  test('variables, clock and workspace files', () => {
    expect(cellWith(p, 'env.input-method', 'fcitx').env).toMatchObject({ GTK_IM_MODULE: 'fcitx', XMODIFIERS: '@im=fcitx' });
    expect(cellWith(p, 'env.input-method', 'none').env).toMatchObject({ GTK_IM_MODULE: null });
    expect(cellWith(p, 'network.no-proxy', 'localhost,127.0.0.1,.corp.example.cn').env!.NO_PROXY).toBe('localhost,127.0.0.1,.corp.example.cn');
    expect(cellWith(p, 'clock', '2025-03-01T12:00:00Z').clock!.now).toMatch(/^2025-03-01T12:0/);
    expect(cellWith(p, 'clock', '2026-07-01T12:00:00Z').clock!.now).toMatch(/^2026-07-01T12:0/);
    expect(cellWith(p, 'workspace.language', 'zh').workspace!.readme).toContain('一个小项目');
  });

  test("no run sees the runner's scratch (other runs' sandboxes, the machine files)", () => {
    for (const c of p.cells) expect(c.readings.scratch).toEqual([]);
  });

  test.skipIf(!existsSync('/dev/shm'))("each run has its own /dev/shm: the host's is not seen, and what a run leaves there (libfaketime's segments) goes with it", () => {
    const seen = p.cells.flatMap((c) => c.readings.shm);
    expect(seen.length).toBeGreaterThan(0); // libfaketime's own, under the pinned clock
    expect(seen).not.toContain(path.basename(marker));
    // Before: the host's /dev/shm, seen by every run, and a segment left on it by each of their processes.
    const added = readdirSync('/dev/shm').filter((n) => !shmBefore.has(n));
    expect(seen.filter((n) => added.includes(n))).toEqual([]);
  });

  test('the manifest keeps each factor definition and says how the machine was made', () => {
    expect(Object.keys(p.manifest.factors ?? {})).toEqual(expect.arrayContaining(['system.timezone', 'packages.mirror', 'workspace.language']));
    expect(p.manifest.factors!['packages.mirror']!.values.aliyun).toMatchObject({ npm: 'https://registry.npmmirror.com/' });
    expect(p.manifest.isolation?.machine).toMatchObject({ etcView: 'overlay', uts: true, home: true, skipped: [] });
  });
});

describe.skipIf(!full)('neutral machine and skipped factors', () => {
  test('every run gets the neutral hostname, zone files, resolver, OS release and machine id, not the host\'s', async () => {
    const p = await probe({ 'env.input-method': ['none'] });
    const r = p.cells[0]!.readings;
    expect(r.hostname!.os).toBe('devbox');
    expect(r.tz).toMatchObject({ readlinkLocaltime: '/usr/share/zoneinfo/Etc/UTC', envTZ: 'UTC' });
    expect(r.locale).toMatchObject({ LANG: 'C.UTF-8', defaultLocale: 'LANG=C.UTF-8' });
    expect(r.dns!.resolvConf).toBe('nameserver 127.0.0.53\noptions edns0 trust-ad\n');
    expect(r.machineId!.etc).toBe('5f2b9c1d7a4e4f0b9c3d2e1f0a9b8c7d');
    expect(r.os!.osRelease).toContain('ID=debian');
    expect(p.manifest.isolation?.machine?.neutral).toMatchObject({ 'system.hostname': 'devbox', 'network.dns': 'stub' });
  }, 60_000);

  test('a factor the route cannot carry, or no namespace can present, is skipped out loud and not expanded', async () => {
    const p = await probe({ 'network.proxy-url': ['http://127.0.0.1:8080', 'http://proxy.example.cn:7890'], 'system.mac-address': ['02:42:ac:11:00:02', '00:e0:fc:12:34:56'] });
    expect(p.manifest.isolation?.machine?.skipped.map((s) => s.factor)).toEqual(['network.proxy-url', 'system.mac-address']);
    expect(p.manifest.isolation?.machine?.skipped[0]!.reason).toMatch(/route: forward/);
    expect(p.manifest.isolation?.warnings.join('\n')).toMatch(/factor system\.mac-address skipped: not variable here/);
    // Their other values would only repeat the first: one cell.
    expect(p.manifest.cells).toHaveLength(1);
  }, 60_000);

  test('with the /etc view forced off, factors that need it are skipped and variables still vary', async () => {
    process.env.PROMPTDIFF_ETC_VIEW = 'none';
    try {
      const p = await probe({ 'system.timezone': ['Etc/UTC', 'Asia/Shanghai'], 'env.input-method': ['none', 'fcitx'] });
      expect(p.manifest.isolation?.machine).toMatchObject({ etcView: null });
      expect(p.manifest.isolation?.machine?.skipped.map((s) => s.factor)).toEqual(['system.timezone']);
      expect(p.cells.map((c) => c.readings.tz!.readlinkLocaltime)).toEqual(p.cells.map(() => readlinkSync('/etc/localtime')));
      expect(cellWith(p, 'env.input-method', 'fcitx').env!.GTK_IM_MODULE).toBe('fcitx');
    } finally {
      delete process.env.PROMPTDIFF_ETC_VIEW;
    }
  }, 60_000);

  test('a copy of /etc bind-mounted over it works like the overlay where overlays are refused', async () => {
    process.env.PROMPTDIFF_ETC_VIEW = 'copy';
    try {
      const p = await probe({ 'system.timezone': ['Etc/UTC', 'Asia/Shanghai'], 'system.os-release': ['debian-12', 'deepin-23'] });
      expect(p.manifest.isolation?.machine).toMatchObject({ etcView: 'copy', skipped: [] });
      expect(cellWith(p, 'system.timezone', 'Asia/Shanghai').tz).toMatchObject({ readlinkLocaltime: '/usr/share/zoneinfo/Asia/Shanghai', intl: 'Asia/Shanghai' });
      expect(cellWith(p, 'system.os-release', 'debian-12').os!.lsbRelease).toBe('<ENOENT>');
      expect(cellWith(p, 'system.os-release', 'deepin-23').os!.lsbRelease).toContain('Deepin');
    } finally {
      delete process.env.PROMPTDIFF_ETC_VIEW;
    }
  }, 60_000);
});

describe('catalogues', () => {
  test('the built-in catalogue checks: every kind but env-only helpers is used, every profile value exists', () => {
    const c = builtInCatalogue();
    const kinds = new Set([...c.factors.values()].map((f) => f.kind.kind));
    for (const k of FACTOR_KINDS) expect(kinds.has(k.kind), `no catalogue factor of kind ${k.kind}`).toBe(true);
    for (const f of c.factors.values()) expect(f.values.has(f.baseline)).toBe(true);
    expect(c.profiles.size).toBeGreaterThan(0);
  });

  test('bad entries are one-line errors naming the factor and value', () => {
    const bad = (yaml: string) => () => parseCatalogue(yaml, 'cat.yaml');
    expect(bad('version: 1\nfactors:\n  system.timezone: {kind: timezone, summary: z, baseline: Etc/UTC, values: [Mars/Olympus]}\n')).toThrow(
      /cat\.yaml: factors\.system\.timezone\.values\.Mars\/Olympus: "Mars\/Olympus": no such zone/,
    );
    expect(bad('version: 1\nfactors:\n  x.y: {kind: nope, summary: z, baseline: a, values: [a]}\n')).toThrow(/factors\.x\.y\.kind: unknown factor kind "nope" \(known: env, timezone/);
    expect(bad('version: 1\nfactors:\n  a.b: {kind: resolver, summary: z, baseline: x, values: {x: {nameservers: [not-an-ip]}}}\n')).toThrow(/a\.b\.values\.x: nameservers\.0: expected an IP address/);
    expect(bad('version: 1\nfactors: {}\nprofiles:\n  p: {summary: s, values: {a.b: c}}\n')).toThrow(/profiles\.p\.values\.a\.b: not a factor/);
    // A LAN proxy address cannot be routed to a run's proxy: refused rather than half-applied.
    expect(bad('version: 1\nfactors:\n  n.p: {kind: proxy-url, summary: z, baseline: "http://127.0.0.1:8080", values: ["http://192.168.1.1:7890"]}\n')).toThrow(
      /n\.p\.values\.http:\/\/192\.168\.1\.1:7890: a proxy at an IP address other than 127\.0\.0\.1 cannot be routed/,
    );
  });

  test('a scenario naming an unknown factor or value fails before any run, naming the field', async () => {
    const outDir = await mkdtemp(path.join(os.tmpdir(), 'promptdiff-factors-'));
    const scenario = (factors: Record<string, string[]>) => validateScenario({ name: 'x', agent: { command: ['node', PROBE] }, factors }, 'mine.yaml');
    await expect(runScenario({ scenario: scenario({ 'system.timezones': ['UTC'] }), outDir, progress: silentProgress, catalogue })).rejects.toThrow(
      /^scenario: factors\.system\.timezones: not a factor of the catalogue \(did you mean system\.timezone\?\)/,
    );
    await expect(runScenario({ scenario: scenario({ 'packages.mirror': ['default', 'tuna'] }), outDir, progress: silentProgress, catalogue })).rejects.toThrow(
      /factors\.packages\.mirror\[1\]: "tuna" is not a value of packages\.mirror \(known: default, aliyun\)/,
    );
    expect(await readdir(outDir)).toEqual([]);
  });
});
