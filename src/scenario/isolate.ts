import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SecretValues } from '../capture/secret-values.js';

/**
 * Every run sees the same paths, a fresh HOME and a scrubbed environment, so the only differences
 * between runs are the cell's values (and the agent's own noise).
 *
 * Same paths for parallel runs: each agent starts in its own mount namespace (`unshare -r -m`) where
 * the run's private directory is bind-mounted over SANDBOX_ROOT and a private hosts file over
 * /etc/hosts (so invented proxy hostnames resolve to 127.0.0.1 for any binary, not only Node). When
 * namespaces are unavailable, runs use their private directories' real paths and hostnames are
 * replaced by 127.0.0.1; the runner warns that paths then differ between runs.
 */
export const SANDBOX_ROOT = '/tmp/promptdiff-sandbox';

/** The caller's variables every run gets unless the scenario allows more. */
export const DEFAULT_ALLOW = ['PATH'];

export interface NamespaceSupport {
  available: boolean;
  detail: string;
  unshare?: string;
  mount?: string;
  sh?: string;
}

function which(name: string): string | null {
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin', '/sbin', ...(process.env.PATH ?? '').split(':')]) {
    const candidate = path.join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  return null;
}

/** Mounts, then becomes the agent: no extra process stays between the runner and the agent. */
function mountScript(mount: string): string {
  return `'${mount}' --bind "$1" /etc/hosts && '${mount}' --bind "$2" "$3" && cd "$3/work" && shift 3 && exec "$@"`;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: 10_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr: stderr || (err && !stderr ? err.message : '') });
    });
  });
}

/** Checks, by doing it once, that a mount namespace with both bind mounts works here. */
export async function detectNamespaces(): Promise<NamespaceSupport> {
  if (process.platform !== 'linux') return { available: false, detail: `mount namespaces need Linux (this is ${process.platform})` };
  if (process.env.PROMPTDIFF_NO_NAMESPACES === '1') return { available: false, detail: 'disabled by PROMPTDIFF_NO_NAMESPACES=1' };
  const unshare = which('unshare');
  const mount = which('mount');
  const sh = which('sh');
  if (!unshare || !mount || !sh) return { available: false, detail: 'unshare, mount or sh not found (util-linux)' };
  await mkdir(SANDBOX_ROOT, { recursive: true });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'promptdiff-nsprobe-'));
  try {
    await mkdir(path.join(dir, 'root', 'work'), { recursive: true });
    await writeFile(path.join(dir, 'root', 'work', 'probe'), 'sandbox-ok\n');
    await writeFile(path.join(dir, 'hosts'), '127.0.0.1\tpromptdiff-probe.invalid\n');
    const result = await run(
      unshare,
      ['-r', '-m', '--', sh, '-c', mountScript(mount), 'promptdiff-sandbox', path.join(dir, 'hosts'), path.join(dir, 'root'), SANDBOX_ROOT, 'cat', 'probe', '/etc/hosts'],
      { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    );
    if (result.code === 0 && result.stdout === 'sandbox-ok\n127.0.0.1\tpromptdiff-probe.invalid\n') {
      return { available: true, detail: `unshare -r -m with bind mounts over ${SANDBOX_ROOT} and /etc/hosts`, unshare, mount, sh };
    }
    return { available: false, detail: `unshare -r -m failed: ${(result.stderr || result.stdout).trim().slice(0, 300)}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface Sandbox {
  /** Real location of the run's private directory. */
  dir: string;
  /** The same directory as the agent sees it (SANDBOX_ROOT with namespaces). */
  root: string;
  home: string;
  work: string;
  tmp: string;
  /** The proxy CA inside the sandbox, as the agent sees it. */
  caCertPath: string;
}

/** Creates the run's private directory: empty HOME and XDG dirs, a copy of the workspace, the CA. */
export async function createSandbox(options: {
  dir: string;
  namespaces: boolean;
  workspace?: string;
  caCertPath: string;
  /** HOME as the agent sees it, when not <root>/home (a user factor's /home/NAME). */
  homePath?: string;
}): Promise<Sandbox> {
  const { dir } = options;
  const real = {
    home: path.join(dir, 'home'),
    work: path.join(dir, 'work'),
    tmp: path.join(dir, 'tmp'),
  };
  await Promise.all([
    ...['.config', '.cache', '.local/share', '.local/state'].map((sub) => mkdir(path.join(real.home, sub), { recursive: true })),
    mkdir(real.tmp, { recursive: true }),
  ]);
  if (options.workspace) await cp(options.workspace, real.work, { recursive: true, preserveTimestamps: true });
  else await mkdir(real.work, { recursive: true });
  await copyFile(options.caCertPath, path.join(dir, 'ca.pem'));
  const root = options.namespaces ? SANDBOX_ROOT : dir;
  return {
    dir,
    root,
    home: options.homePath ?? path.join(root, 'home'),
    work: path.join(root, 'work'),
    tmp: path.join(root, 'tmp'),
    caCertPath: path.join(root, 'ca.pem'),
  };
}

export interface EnvInput {
  /** The caller's environment (process.env); only allow-listed names are read from it. */
  caller: NodeJS.ProcessEnv;
  allow: string[];
  set: Record<string, string>;
  /** The cell's env axis values (pseudo-axes such as proxy_url already removed). */
  cell: Record<string, string>;
  /** The run's machine factors' variables (locale, user, mirrors…) and the runner defaults they drop. */
  machine?: Record<string, string>;
  unset?: string[];
  /** What the agent preset needs for this run (dummy key, switches that keep it offline, its route variables). */
  preset?: Record<string, string>;
  routing: Record<string, string>;
  clock: Record<string, string>;
  sandbox: Sandbox;
  namespaces: boolean;
}

/**
 * The agent's complete environment, in a fixed order. Later groups win: defaults (less what the
 * machine unsets) < agent preset < machine factors < scenario env.set < cell values < routing <
 * clock, so a scenario can override a preset's switch, and a cell cannot undo routing or the pinned clock.
 */
export function isolatedEnv(input: EnvInput): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of [...DEFAULT_ALLOW, ...input.allow]) {
    const value = input.caller[name];
    if (value !== undefined) env[name] = value;
  }
  const { sandbox } = input;
  // Inside `unshare -r` the agent is uid 0, so getpwuid() says root; keep USER consistent with it.
  const user = input.namespaces ? 'root' : os.userInfo().username;
  Object.assign(env, {
    HOME: sandbox.home,
    USER: user,
    LOGNAME: user,
    SHELL: '/bin/sh',
    PWD: sandbox.work,
    TMPDIR: sandbox.tmp,
    XDG_CONFIG_HOME: path.join(sandbox.home, '.config'),
    XDG_CACHE_HOME: path.join(sandbox.home, '.cache'),
    XDG_DATA_HOME: path.join(sandbox.home, '.local', 'share'),
    XDG_STATE_HOME: path.join(sandbox.home, '.local', 'state'),
    // Defaults so the caller's own locale and zone never reach a run; axes override them.
    LANG: 'C.UTF-8',
    TZ: 'UTC',
  });
  for (const name of input.unset ?? []) delete env[name];
  Object.assign(env, input.preset ?? {}, input.machine ?? {}, input.set, input.cell, input.routing, input.clock);
  return env;
}

export interface Launch {
  file: string;
  args: string[];
  cwd: string;
  /** The environment to spawn `file` with, for the agent's environment `env`. */
  env(env: Record<string, string>): Record<string, string>;
  /** Whether the run has its own /dev/shm (the namespace wrapper mounts one) or the host's. */
  sharedMemory: 'private' | 'host';
}

/**
 * Variables the wrapper must not run under itself, handed to the agent only (under this prefix
 * until the wrapper's last line): LD_PRELOAD=libfaketime in the wrapper would leave a
 * shared-memory segment on the host's /dev/shm for each wrapper process, before the run's own
 * /dev/shm is mounted.
 */
const AGENT_ONLY = ['LD_PRELOAD'];
const HELD = 'PROMPTDIFF_AGENT_';

/** What the namespace wrapper mounts before the agent starts (scenario/machine.ts prepares it). */
export interface MachineMounts {
  /** /etc view (or the hosts file), hostname, overlays: run first. */
  mountLines: string[];
  /** Mounts that need the sandbox in place (HOME at /home/NAME). */
  homeLines: string[];
  unshareFlags: string[];
  /**
   * Directories of the host to cover with an empty tmpfs once everything is mounted: the runs'
   * scratch (every run's sandbox and machine files) and the CA's keys.
   */
  hide?: string[];
}

/** A single-quoted shell word. */
export const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The wrapper: mounts, then becomes the agent, so no extra process stays between the runner and the agent.
 *
 * With something hidden, the agent starts in a user and mount namespace nested in the wrapper's
 * (`unshare` given): mounts inherited from a more privileged namespace are locked, so the agent,
 * root in its namespace, cannot unmount the tmpfs and read the CA key beneath it.
 */
export function wrapperScript(mount: string, sandbox: Sandbox, machine: MachineMounts, unshare?: string): string {
  const hide = machine.hide ?? [];
  const lines = [
    'set -e',
    ...machine.mountLines,
    `${shellQuote(mount)} --bind ${shellQuote(sandbox.dir)} ${shellQuote(SANDBOX_ROOT)}`,
    ...machine.homeLines,
    // A private /dev/shm: the host's shared memory is none of a run's business, and under a pinned
    // clock libfaketime leaves a segment and a semaphore there for each process tree, removed only
    // when its first process exits cleanly (not when it execs or is killed): 48 714 files, 190 MB of
    // tmpfs, after one day of this suite.
    'if [ -d /dev/shm ]; then ' + `${shellQuote(mount)} -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm; fi`,
    // Nothing an agent should find: other runs' sandboxes, the key every client of the proxy trusts.
    ...hide.map((dir) => `${shellQuote(mount)} -t tmpfs -o mode=0700 tmpfs ${shellQuote(dir)}`),
    `cd ${shellQuote(sandbox.work)}`,
    ...AGENT_ONLY.map((name) => `if [ -n "\${${HELD}${name}+x}" ]; then export ${name}="$${HELD}${name}"; unset ${HELD}${name}; fi`),
    hide.length && unshare ? `exec ${shellQuote(unshare)} -r -m -- "$@"` : 'exec "$@"',
  ];
  return lines.join('\n');
}

/** The process to spawn for one run: the agent itself, or the agent behind the namespace wrapper. */
export function launchCommand(command: string[], sandbox: Sandbox, support: NamespaceSupport, machine: MachineMounts): Launch {
  const [program, ...rest] = command;
  if (!program) throw new Error('empty agent command');
  if (!support.available || !support.unshare || !support.sh || !support.mount) {
    return { file: program, args: rest, cwd: sandbox.work, env: (env) => env, sharedMemory: 'host' };
  }
  return {
    sharedMemory: 'private',
    env: (env) => {
      const out = { ...env };
      for (const name of AGENT_ONLY) {
        if (name in out) {
          out[`${HELD}${name}`] = out[name]!;
          delete out[name];
        }
      }
      return out;
    },
    file: support.unshare,
    args: ['-r', '-m', ...machine.unshareFlags, '--', support.sh, '-c', wrapperScript(support.mount, sandbox, machine, support.unshare), 'promptdiff-sandbox', ...command],
    // The wrapper changes into the sandbox's work directory itself once the mounts are in place.
    cwd: sandbox.dir,
  };
}

/**
 * The environment as stored in manifest.json: values of secret-looking names tagged, and every
 * secret value known so far replaced wherever else it appears (src/capture/secret-values.ts).
 */
export function redactEnv(env: Record<string, string>, secrets: SecretValues = new SecretValues([])): Record<string, string> {
  return secrets.env(env);
}
