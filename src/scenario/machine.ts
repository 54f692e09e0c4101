import { execFile } from 'node:child_process';
import { accessSync, constants as fsConstants, existsSync, lstatSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { findLibfaketime } from './clock.js';
import { emptyPlan, type ApplyContext, type MachinePlan, type Need } from './factors/index.js';
import type { Factor } from './factors/catalogue.js';
import { valueParams } from './factors/catalogue.js';
import { shellQuote as quote, type NamespaceSupport } from './isolate.js';

/**
 * The machine a run sees: which factor needs this host can meet, the plan of one run's machine
 * from its cell (and the neutral defaults), and making a plan real in the run's private files.
 *
 * The run's /etc is an overlay of the host's /etc inside its mount namespace (or, where overlays
 * are refused, a copy bind-mounted over /etc): the plan's files land in the overlay's upper
 * directory, so the host's /etc is never written and each run sees its own.
 */

export type EtcView = 'overlay' | 'copy';

export interface MachineSupport {
  etcView: EtcView | null;
  uts: boolean;
  home: boolean;
  git: string | null;
  faketime: boolean;
  route: 'forward' | 'reverse';
  /** What was probed, for the manifest. */
  detail: string;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: 10_000, cwd }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function which(name: string): string | null {
  for (const dir of ['/usr/bin', '/bin', ...(process.env.PATH ?? '').split(':')]) {
    if (dir && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  return null;
}

/** `PROMPTDIFF_ETC_VIEW=copy|none` forces a weaker /etc view (tests of the fallbacks). */
function forcedEtcView(): EtcView | 'none' | null {
  const v = process.env.PROMPTDIFF_ETC_VIEW;
  return v === 'copy' || v === 'none' || v === 'overlay' ? v : null;
}

/**
 * Checks, by doing each once in a throwaway namespace, what this host lets a run have: an
 * overlay (or a bind-mounted copy) over /etc, its own hostname, a private /home.
 */
export async function detectMachineSupport(ns: NamespaceSupport, route: 'forward' | 'reverse'): Promise<MachineSupport> {
  const base = { git: which('git'), faketime: findLibfaketime() !== null, route };
  if (!ns.available || !ns.unshare || !ns.sh || !ns.mount) {
    return { ...base, etcView: null, uts: false, home: false, detail: `no namespaces (${ns.detail})` };
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'promptdiff-machineprobe-'));
  try {
    await Promise.all(['upper', 'work', 'copy'].map((d) => mkdir(path.join(dir, d))));
    await writeFile(path.join(dir, 'upper', 'promptdiff-probe'), 'overlay\n');
    await writeFile(path.join(dir, 'copy', 'promptdiff-probe'), 'copy\n');
    const forced = forcedEtcView();
    const m = `'${ns.mount}'`;
    const script = [
      'r=',
      forced === 'copy' || forced === 'none'
        ? ':'
        : `${m} -t overlay overlay -o "lowerdir=/etc,upperdir=$1/upper,workdir=$1/work" /etc 2>/dev/null && [ "$(cat /etc/promptdiff-probe)" = overlay ] && [ -e /etc/passwd ] && r="$r overlay"`,
      `case "$r" in *overlay*) ;; *) ${forced === 'none' ? 'false' : `${m} --bind "$1/copy" /etc 2>/dev/null && [ "$(cat /etc/promptdiff-probe)" = copy ]`} && r="$r copy";; esac`,
      'echo promptdiff-probe > /proc/sys/kernel/hostname 2>/dev/null && [ "$(cat /proc/sys/kernel/hostname)" = promptdiff-probe ] && r="$r uts"',
      `${m} -t tmpfs -o mode=0755 tmpfs /home 2>/dev/null && r="$r home"`,
      'echo "$r"',
    ].join('\n');
    const result = await run(ns.unshare, ['-r', '-m', '-u', '--', ns.sh, '-c', script, 'promptdiff-probe', dir], { PATH: process.env.PATH ?? '/usr/bin:/bin' });
    const seen = new Set(result.stdout.trim().split(/\s+/).filter(Boolean));
    const etcView: EtcView | null = seen.has('overlay') ? 'overlay' : seen.has('copy') ? 'copy' : null;
    return {
      ...base,
      etcView,
      uts: seen.has('uts'),
      home: seen.has('home'),
      detail:
        result.code === 0
          ? `/etc view: ${etcView ?? 'none'}; own hostname: ${seen.has('uts') ? 'yes' : 'no'}; private /home: ${seen.has('home') ? 'yes' : 'no'}`
          : `probe failed: ${(result.stderr || result.stdout).trim().slice(0, 200)}`,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Why this host cannot meet `need`, or null when it can. */
export function unmetNeed(need: Need, support: MachineSupport): string | null {
  switch (need) {
    case 'etc':
      return support.etcView ? null : `needs a private /etc view inside a mount namespace (${support.detail})`;
    case 'uts':
      return support.uts ? null : `needs its own UTS namespace for the hostname (${support.detail})`;
    case 'home':
      return support.home ? null : `needs a private /home (a tmpfs in the mount namespace) (${support.detail})`;
    case 'git':
      return support.git ? null : 'needs git on this machine to make the workspace a repository';
    case 'clock':
      return support.faketime ? null : 'needs libfaketime to pin the clock per cell (apt-get install faketime)';
    case 'forward-route':
      return support.route === 'forward' ? null : 'only applies to route: forward (the agent is told no proxy in reverse route)';
    case 'unavailable':
      return 'not variable here: no namespace a run can have presents another value to every reader';
  }
}

/** Why `factor` cannot be applied on this host (its first unmet need), or null. */
export function factorProblem(factor: Factor, support: MachineSupport): string | null {
  for (const need of factor.kind.needs) {
    const problem = unmetNeed(need, support);
    if (problem) return problem;
  }
  return null;
}

/**
 * One run's machine: the neutral value of every applicable catalogue factor the design does not
 * vary (files and hostname only: the runner's own environment defaults stay as they are), then
 * the cell's factor values in full.
 */
export function planMachine(options: {
  cellFactors: Record<string, string>;
  factors: Map<string, Factor>;
  neutral: Factor[];
  ctx: ApplyContext;
}): MachinePlan {
  const plan = emptyPlan();
  for (const factor of options.neutral) {
    if (factor.name in options.cellFactors || factor.neutral === undefined) continue;
    const scratch = emptyPlan();
    factor.kind.apply(paramsOf(factor, factor.neutral), scratch, options.ctx);
    Object.assign(plan.etc, scratch.etc);
    Object.assign(plan.overlays, scratch.overlays);
    if (scratch.hostname) plan.hostname = scratch.hostname;
  }
  for (const [name, value] of Object.entries(options.cellFactors)) {
    const factor = options.factors.get(name);
    if (!factor) throw new Error(`factor ${name} has no definition`);
    factor.kind.apply(paramsOf(factor, value), plan, options.ctx);
  }
  return plan;
}

function paramsOf(factor: Factor, value: string): unknown {
  const found = valueParams(factor, value);
  if ('error' in found) throw new Error(`${factor.name}: ${found.error}`);
  return found.params;
}

/** uid 0 renamed in a copy of the host's passwd and group files (the agent runs as uid 0). */
function renameRoot(passwd: string, group: string, user: { name: string; gecos: string }, home: string): { passwd: string; group: string } {
  const entry = `${user.name}:x:0:0:${user.gecos}:${home}:/bin/bash`;
  const lines = passwd.split('\n').filter((l) => l !== '');
  const i = lines.findIndex((l) => l.split(':')[2] === '0');
  if (i === -1) lines.unshift(entry);
  else lines[i] = entry;
  const groups = group.split('\n').filter((l) => l !== '');
  const g = groups.findIndex((l) => l.split(':')[2] === '0');
  if (g !== -1) groups[g] = groups[g]!.replace(/^[^:]*/, user.name);
  else groups.unshift(`${user.name}:x:0:`);
  return { passwd: `${lines.join('\n')}\n`, group: `${groups.join('\n')}\n` };
}

export interface PreparedMachine {
  /** Shell lines that mount the machine, run inside the namespace before the agent starts. */
  mountLines: string[];
  /** Extra unshare flags (-u for a hostname). */
  unshareFlags: string[];
}

/**
 * Writes a run's machine into its private files: the /etc view (hosts file included), HOME and
 * workspace files, the git repository; returns the mount steps for the namespace wrapper.
 * `machineDir` is outside the directory the agent sees; the wrapper hides it once mounted.
 */
export async function prepareMachine(options: {
  plan: MachinePlan;
  support: MachineSupport;
  machineDir: string;
  /** Real locations of the run's HOME and workspace. */
  realHome: string;
  realWork: string;
  /** HOME as the agent sees it. */
  home: string;
  hosts: string;
  mount: string;
}): Promise<PreparedMachine> {
  const { plan, support, machineDir } = options;
  const m = quote(options.mount);
  const lines: string[] = [];
  await mkdir(machineDir, { recursive: true });

  for (const [rel, content] of Object.entries(plan.home)) await writeInto(options.realHome, rel, content);
  for (const [rel, content] of Object.entries(plan.workspace)) await writeInto(options.realWork, rel, content);
  if (plan.gitRemote) await makeRepository(options.realWork, plan.gitRemote, support.git);

  const etc = { ...plan.etc };
  const hostname = plan.hostname ? `127.0.1.1\t${plan.hostname}\n` : '';
  etc.hosts = { file: options.hosts + hostname };
  if (plan.user) {
    const passwd = readFileSync('/etc/passwd', 'utf8');
    const group = readFileSync('/etc/group', 'utf8');
    const renamed = renameRoot(passwd, group, plan.user, options.home);
    etc.passwd = { file: renamed.passwd };
    etc.group = { file: renamed.group };
  }

  if (support.etcView) {
    const upper = path.join(machineDir, support.etcView === 'overlay' ? 'etc-upper' : 'etc');
    if (support.etcView === 'copy') await copyEtc(upper);
    await mkdir(upper, { recursive: true });
    const absent: string[] = [];
    for (const [rel, entry] of Object.entries(etc)) {
      const target = path.join(upper, rel);
      await mkdir(path.dirname(target), { recursive: true });
      await rm(target, { force: true, recursive: true });
      if ('file' in entry) await writeFile(target, entry.file);
      else if ('symlink' in entry) await symlink(entry.symlink, target);
      else absent.push(rel);
    }
    if (support.etcView === 'overlay') {
      const work = path.join(machineDir, 'etc-work');
      await mkdir(work, { recursive: true });
      if (/[,:]/.test(upper + work)) throw new Error(`overlay paths may not contain , or : (${machineDir})`);
      lines.push(`${m} -t overlay overlay -o ${quote(`lowerdir=/etc,upperdir=${upper},workdir=${work}`)} /etc`);
      // The overlay records a removal as a whiteout in its upper directory: the host keeps its file.
      for (const rel of absent) lines.push(`rm -f ${quote(`/etc/${rel}`)}`);
    } else {
      lines.push(`${m} --bind ${quote(upper)} /etc`);
    }
  } else {
    const hostsFile = path.join(machineDir, 'hosts');
    await writeFile(hostsFile, options.hosts);
    lines.push(`${m} --bind ${quote(hostsFile)} /etc/hosts`);
  }

  const unshareFlags: string[] = [];
  if (plan.hostname && support.uts) {
    unshareFlags.push('-u');
    lines.push(`echo ${quote(plan.hostname)} > /proc/sys/kernel/hostname`);
  }
  let n = 0;
  for (const [target, content] of Object.entries(plan.overlays)) {
    // Only over what the host has, and never through a symlink (that one already follows /etc).
    if (!existsSync(target) || lstatSync(target).isSymbolicLink()) continue;
    const source = path.join(machineDir, `overlay-${n++}`);
    await writeFile(source, content);
    lines.push(`${m} --bind ${quote(source)} ${quote(target)}`);
  }
  return { mountLines: lines, unshareFlags };
}

/** Lines that move HOME to /home/NAME: a private /home holding only this run's home. */
export function homeMountLines(mount: string, realHome: string, home: string): string[] {
  const m = quote(mount);
  return [`${m} -t tmpfs -o mode=0755 tmpfs /home`, `mkdir -p ${quote(home)}`, `${m} --bind ${quote(realHome)} ${quote(home)}`];
}

async function writeInto(root: string, rel: string, content: string): Promise<void> {
  const target = path.join(root, rel);
  if (path.relative(root, target).startsWith('..')) throw new Error(`${rel}: outside ${root}`);
  await mkdir(path.dirname(target), { recursive: true });
  await writeFile(target, content);
}

/**
 * A copy of the host's /etc, for hosts that refuse overlays. Files the caller may not read (shadow)
 * are left out: the run could not have read them either.
 */
async function copyEtc(dest: string): Promise<void> {
  await cp('/etc', dest, {
    recursive: true,
    verbatimSymlinks: true,
    errorOnExist: false,
    force: true,
    filter: (src) => {
      try {
        const st = lstatSync(src);
        if (st.isSymbolicLink() || st.isDirectory()) return true;
        if (!st.isFile()) return false;
        accessSync(src, fsConstants.R_OK);
        return true;
      } catch {
        return false;
      }
    },
  }).catch(async (err: NodeJS.ErrnoException) => {
    // cp gives up on the first unreadable directory; what it copied so far is still a usable /etc.
    if (err.code !== 'EACCES' && err.code !== 'EPERM') throw err;
  });
}

/** Fixed identity and dates: the commit (and its hash) must not depend on any factor. */
const COMMIT_ENV = {
  GIT_AUTHOR_NAME: 'promptdiff',
  GIT_AUTHOR_EMAIL: 'workspace@promptdiff.invalid',
  GIT_COMMITTER_NAME: 'promptdiff',
  GIT_COMMITTER_EMAIL: 'workspace@promptdiff.invalid',
  GIT_AUTHOR_DATE: '2026-01-01T00:00:00Z',
  GIT_COMMITTER_DATE: '2026-01-01T00:00:00Z',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
};

/** Makes the run's workspace a repository with one commit of its files and `origin` at `remote`. */
async function makeRepository(work: string, remote: string, git: string | null): Promise<void> {
  if (!git) throw new Error('git not found');
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, ...COMMIT_ENV };
  const step = async (...args: string[]) => {
    const r = await run(git, args, env, work);
    if (r.code !== 0) throw new Error(`git ${args.join(' ')} in the workspace failed: ${(r.stderr || r.stdout).trim()}`);
    return r;
  };
  if (!existsSync(path.join(work, '.git'))) {
    await step('init', '-q', '-b', 'main');
    await step('add', '-A');
    await step('commit', '-q', '--allow-empty', '-m', 'Initial commit');
  }
  const has = await run(git, ['remote', 'get-url', 'origin'], env, work);
  await step('remote', has.code === 0 ? 'set-url' : 'add', 'origin', remote);
}
