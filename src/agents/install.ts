import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { defineFormat } from '../artifact.js';

/**
 * On-demand installs of agent packages from npm, one directory per exact version:
 * `<cache>/<name>@<version>/` is an npm prefix (package.json, package-lock.json, node_modules/)
 * plus `promptdiff-install.json`, written last. A directory only ever appears under its final
 * name by an atomic rename once npm has finished and the result checked out, so a killed install
 * leaves a `.tmp-*` directory behind, never a half-filled "cached" version.
 */

export const INSTALL_MARKER = 'promptdiff-install.json';
const MARKER_VERSION = 1;

/**
 * `unknown`: the name or version asked for does not exist (the user's mistake, exit 2);
 * `failed`: npm, the registry or the installed copy let us down (exit 3).
 */
export class AgentInstallError extends Error {
  override name = 'AgentInstallError';
  constructor(
    message: string,
    readonly kind: 'unknown' | 'failed' = 'failed',
  ) {
    super(message);
  }
}

export interface InstallSpec {
  /** Cache key and display name: `claude-code`, `codex`, ... */
  name: string;
  npmPackage: string;
  /** An exact version: resolve `latest` or a range with resolveVersion() first. */
  version: string;
  /**
   * Exact `name@version` specs installed beside it in the same prefix: a platform build that the
   * wrapper's optionalDependencies do not bring (src/agents/platform.ts). A cached copy without
   * them is installed again.
   */
  extraPackages?: string[];
}

export interface InstallOptions {
  /** Defaults to agentCacheRoot(). */
  cacheRoot?: string;
  /** npm executable; defaults to `npm` on PATH. */
  npm?: string;
  /** Kills npm after this long (default 600 s: native agents are 200–400 MB downloads). */
  timeoutMs?: number;
  /** Called with progress lines for a user (never with npm's full output). */
  onProgress?: (line: string) => void;
}

interface FileEntry {
  path: string;
  size: number;
}

/** What promptdiff-install.json holds: validated when read, since a cache directory can be damaged or edited. */
const InstallMarkerSchema = z.object({
  v: z.literal(MARKER_VERSION),
  name: z.string(),
  npmPackage: z.string(),
  version: z.string(),
  /** The registry's integrity (SRI) for the main package tarball, from package-lock.json. */
  integrity: z.string().nullable(),
  /** Every package npm put in node_modules, with the integrity the lockfile recorded for it. */
  packages: z.record(z.string(), z.object({ version: z.string(), integrity: z.string().nullable() })),
  /** Sizes of every installed file: reuse checks them, so a truncated or deleted file is noticed. */
  files: z.array(z.object({ path: z.string(), size: z.number().int().nonnegative() })),
  installedAt: z.string(),
  node: z.string(),
  platform: z.string(),
  arch: z.string(),
});
export type InstallMarker = z.infer<typeof InstallMarkerSchema>;

export const INSTALL_MARKER_FORMAT = defineFormat({
  file: INSTALL_MARKER,
  limit: 'install-marker',
  version: MARKER_VERSION,
  schema: InstallMarkerSchema,
  what: 'an agent install marker',
});

export interface InstalledAgent {
  name: string;
  npmPackage: string;
  version: string;
  /** The npm prefix: `<dir>/node_modules/<npmPackage>` is the package. */
  dir: string;
  packageDir: string;
  integrity: string | null;
  /** false when this call ran npm. */
  fromCache: boolean;
  /** Time this call spent (checking the cache, or installing). */
  durationMs: number;
}

export function agentCacheRoot(): string {
  if (process.env.PROMPTDIFF_AGENT_CACHE) return path.resolve(process.env.PROMPTDIFF_AGENT_CACHE);
  const xdg = process.env.XDG_CACHE_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(homedir(), '.cache');
  return path.join(base, 'promptdiff', 'agents');
}

const SAFE_NAME = /^[a-z0-9][a-z0-9._-]*$/i;
// npm's own version grammar, loosely: digits, dots, prerelease and build tags.
const EXACT_VERSION = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

export function isExactVersion(v: string): boolean {
  return EXACT_VERSION.test(v);
}

export function agentInstallDir(name: string, version: string, cacheRoot = agentCacheRoot()): string {
  if (!SAFE_NAME.test(name)) throw new AgentInstallError(`invalid agent name ${JSON.stringify(name)}`, 'unknown');
  if (!isExactVersion(version)) throw new AgentInstallError(`${name}: ${JSON.stringify(version)} is not an exact version (resolve it first)`, 'unknown');
  return path.join(cacheRoot, `${name}@${version}`);
}

export function packageDirOf(dir: string, npmPackage: string): string {
  return path.join(dir, 'node_modules', ...npmPackage.split('/'));
}

function npmCommand(options: InstallOptions): string {
  return options.npm ?? (process.platform === 'win32' ? 'npm.cmd' : 'npm');
}

/**
 * npm run by `npm test` passes its own configuration down as npm_config_* variables (prefix,
 * global, omit, ignore-scripts...), which would redirect or trim our install. Network and
 * registry settings are the user's and stay.
 */
function npmEnv(): NodeJS.ProcessEnv {
  const keep = /^npm_config_(registry|@.*:registry|cache|userconfig|globalconfig|cafile|ca|strict_ssl|proxy|https_proxy|noproxy|fetch_.*|prefer_offline|offline)$/i;
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_(config|lifecycle|package)_/i.test(k) && !keep.test(k)) continue;
    if (k === 'npm_command' || k === 'npm_execpath' || k === 'npm_node_execpath') continue;
    env[k] = v;
  }
  env.npm_config_update_notifier = 'false';
  return env;
}

interface NpmResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runNpm(args: string[], options: InstallOptions & { cwd?: string }): Promise<NpmResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(npmCommand(options), args, {
      cwd: options.cwd,
      env: npmEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: process.platform !== 'win32',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timeoutMs = options.timeoutMs ?? 600_000;
    const timer = setTimeout(() => {
      // npm spawns install scripts of its own: end the whole group, not only npm.
      try {
        if (child.pid && process.platform !== 'win32') process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(
        new AgentInstallError(
          (err as NodeJS.ErrnoException).code === 'ENOENT'
            ? `could not run ${npmCommand(options)}: is npm installed and on PATH?`
            : `could not run npm: ${err.message}`,
        ),
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The interesting lines of npm's stderr (its config warnings are noise). */
function npmErrorText(stderr: string): string {
  const lines = stderr
    .split('\n')
    .filter((l) => l.trim() !== '' && !/^npm warn Unknown (user|env|project) config|A complete log of this run|^npm error (404|notarget) *$|In most cases you or one of your dependencies/i.test(l));
  const errors = lines.filter((l) => /^npm (error|ERR!)/i.test(l));
  return (errors.length > 0 ? errors : lines).slice(0, 12).join('\n');
}

// ---- versions -------------------------------------------------------------------------------

interface Parsed {
  nums: [number, number, number];
  pre: string[];
}

function parseVersion(v: string): Parsed | null {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(v.trim());
  if (!m) return null;
  return { nums: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] ? m[4].split('.') : [] };
}

/** Semver precedence (build metadata ignored); unparseable versions sort first. */
export function compareVersions(a: string, b: string): number {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  if (!pa || !pb) return pa ? 1 : pb ? -1 : a.localeCompare(b);
  for (let i = 0; i < 3; i++) if (pa.nums[i] !== pb.nums[i]) return pa.nums[i]! - pb.nums[i]!;
  if (pa.pre.length === 0 || pb.pre.length === 0) return pb.pre.length - pa.pre.length;
  for (let i = 0; i < Math.max(pa.pre.length, pb.pre.length); i++) {
    const x = pa.pre[i];
    const y = pb.pre[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d+$/.test(x);
    const ny = /^\d+$/.test(y);
    if (nx && ny && Number(x) !== Number(y)) return Number(x) - Number(y);
    if (nx !== ny) return nx ? -1 : 1;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** Up to `count` published versions on either side of where `wanted` would sort. */
export function nearestVersions(all: string[], wanted: string, count = 3): string[] {
  const sorted = [...all].sort(compareVersions);
  if (!parseVersion(wanted)) return sorted.slice(-count * 2);
  let i = sorted.findIndex((v) => compareVersions(v, wanted) > 0);
  if (i < 0) i = sorted.length;
  return sorted.slice(Math.max(0, i - count), i + count);
}

async function npmViewJson(spec: string, field: string, options: InstallOptions): Promise<unknown> {
  const r = await runNpm(['view', spec, field, '--json'], { ...options, timeoutMs: options.timeoutMs ?? 60_000 });
  if (r.code !== 0) {
    const text = npmErrorText(r.stderr);
    // "No match found for version" is a 404 too, for a package that exists.
    if (/No match found for version/i.test(text)) return undefined;
    if (/E404|404 Not Found/i.test(text)) throw new AgentInstallError(`npm package ${spec.replace(/(.)@[^@/]*$/, '$1')} not found in the registry`, 'unknown');
    throw new AgentInstallError(`npm view ${spec} failed${r.signal ? ` (${r.signal})` : ''}:\n${text}`);
  }
  const out = r.stdout.trim();
  if (out === '') return undefined;
  try {
    return JSON.parse(out);
  } catch {
    throw new AgentInstallError(`npm view ${spec} printed something that is not JSON: ${out.slice(0, 200)}`);
  }
}

/** All published versions, oldest first as the registry lists them. */
export async function publishedVersions(npmPackage: string, options: InstallOptions = {}): Promise<string[]> {
  const v = await npmViewJson(npmPackage, 'versions', options);
  return Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : [];
}

/**
 * `latest` (or any dist-tag), a range (`^2.1.0`, `2.1.x`) or an exact version → the exact
 * version npm would install. Fails with the nearest published versions when nothing matches.
 */
export async function resolveVersion(npmPackage: string, spec: string, options: InstallOptions = {}): Promise<string> {
  const wanted = spec.trim() === '' ? 'latest' : spec.trim();
  const found = await npmViewJson(`${npmPackage}@${wanted}`, 'version', options);
  // A range matching several versions prints an array (in registry order); one match prints a string.
  const list = Array.isArray(found) ? found.map(String) : typeof found === 'string' ? [found] : [];
  if (list.length > 0) return list.sort(compareVersions)[list.length - 1]!;
  const all = await publishedVersions(npmPackage, options);
  const near = nearestVersions(all, wanted.replace(/^[=v]+/, ''));
  throw new AgentInstallError(
    `${npmPackage}@${wanted}: no such version in the registry` +
      (near.length > 0 ? ` (nearest published: ${near.join(', ')}; ${all.length} versions in all, \`npm view ${npmPackage} versions\` lists them)` : ''),
    'unknown',
  );
}

// ---- installs ----------------------------------------------------------------------------------

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function listFiles(root: string, rel = ''): Promise<FileEntry[]> {
  const out: FileEntry[] = [];
  const entries = await readdir(path.join(root, rel), { withFileTypes: true });
  for (const e of entries) {
    const r = rel === '' ? e.name : `${rel}/${e.name}`;
    // .bin holds symlinks npm makes; their targets are listed where they live.
    if (e.isSymbolicLink()) continue;
    if (e.isDirectory()) out.push(...(await listFiles(root, r)));
    else if (e.isFile()) out.push({ path: r, size: (await stat(path.join(root, r))).size });
  }
  return out;
}

interface LockPackage {
  version?: string;
  integrity?: string;
}

async function readLock(dir: string): Promise<Record<string, LockPackage>> {
  try {
    const lock = JSON.parse(await readFile(path.join(dir, 'package-lock.json'), 'utf8')) as { packages?: Record<string, LockPackage> };
    return lock.packages ?? {};
  } catch {
    return {};
  }
}

async function readJson<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

/**
 * Checks an installed directory against its marker: the package's own package.json names the
 * version, the lockfile still carries the integrity recorded at install time, and every file
 * npm installed is there with its size. Returns the problem, or null when the install is sound.
 */
export async function checkInstall(dir: string, spec: InstallSpec): Promise<string | null> {
  let marker: InstallMarker | null;
  try {
    marker = await INSTALL_MARKER_FORMAT.read(INSTALL_MARKER_FORMAT.pathIn(dir));
  } catch (err) {
    return (err as Error).message.replace(`${dir}${path.sep}`, '');
  }
  if (!marker) return `${INSTALL_MARKER} is missing`;
  if (marker.npmPackage !== spec.npmPackage || marker.version !== spec.version)
    return `${INSTALL_MARKER} describes ${marker.npmPackage}@${marker.version}, not ${spec.npmPackage}@${spec.version}`;
  const pkg = await readJson<{ name?: string; version?: string }>(path.join(packageDirOf(dir, spec.npmPackage), 'package.json'));
  if (!pkg) return `node_modules/${spec.npmPackage}/package.json is missing`;
  if (pkg.name !== spec.npmPackage || pkg.version !== spec.version)
    return `node_modules/${spec.npmPackage} holds ${pkg.name ?? '?'}@${pkg.version ?? '?'}`;
  for (const extra of spec.extraPackages ?? []) {
    const at = extra.lastIndexOf('@');
    const [name, version] = [extra.slice(0, at), extra.slice(at + 1)];
    if (marker.packages[name]?.version !== version) return `${extra} was not installed with it`;
  }
  const lock = await readLock(dir);
  const locked = lock[`node_modules/${spec.npmPackage}`];
  if ((locked?.integrity ?? null) !== marker.integrity) return 'package-lock.json integrity differs from the one recorded at install time';
  const nm = path.join(dir, 'node_modules');
  for (const f of marker.files) {
    let size: number;
    try {
      size = (await stat(path.join(nm, f.path))).size;
    } catch {
      return `node_modules/${f.path} is missing`;
    }
    if (size !== f.size) return `node_modules/${f.path} is ${size} bytes, ${f.size} at install time`;
  }
  return null;
}

async function removeStaleTemps(cacheRoot: string): Promise<void> {
  // A temp directory a day old is from a killed install; younger ones may be another process's.
  const dayAgo = Date.now() - 24 * 3600_000;
  let names: string[];
  try {
    names = await readdir(cacheRoot);
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith('.tmp-')) continue;
    const p = path.join(cacheRoot, n);
    try {
      if ((await stat(p)).mtimeMs < dayAgo) await rm(p, { recursive: true, force: true });
    } catch {
      // gone already, or not ours to remove
    }
  }
}

async function npmInstallInto(tmp: string, spec: InstallSpec, options: InstallOptions): Promise<void> {
  // Our own package.json: without one npm looks upward and may install into an enclosing project.
  await writeFile(path.join(tmp, 'package.json'), `${JSON.stringify({ name: 'promptdiff-agent', private: true }, null, 2)}\n`);
  const args = [
    'install',
    '--prefix',
    tmp,
    '--no-audit',
    '--no-fund',
    // Older Claude Code wrappers copy their native binary into place in postinstall.
    '--ignore-scripts=false',
    // Native agents ship their binary as an optional platform package (@anthropic-ai/claude-code-linux-x64, ...).
    '--include=optional',
    '--save-exact',
    '--package-lock',
    `${spec.npmPackage}@${spec.version}`,
    ...(spec.extraPackages ?? []),
  ];
  const r = await runNpm(args, { ...options, cwd: tmp });
  if (r.code === 0) return;
  const text = npmErrorText(r.stderr);
  if (r.signal) throw new AgentInstallError(`npm install ${spec.npmPackage}@${spec.version} was killed (${r.signal}) after ${options.timeoutMs ?? 600_000} ms`);
  if (/ETARGET|No matching version|No match found for version/i.test(text)) {
    let hint = '';
    try {
      const near = nearestVersions(await publishedVersions(spec.npmPackage, options), spec.version);
      if (near.length > 0) hint = ` (nearest published: ${near.join(', ')})`;
    } catch {
      // the registry is unreachable or the package unknown: the npm error below says which
    }
    throw new AgentInstallError(`${spec.npmPackage}@${spec.version}: no such version in the registry${hint}`, 'unknown');
  }
  throw new AgentInstallError(`npm install ${spec.npmPackage}@${spec.version} failed (exit ${r.code}):\n${text}`);
}

async function writeMarker(tmp: string, spec: InstallSpec): Promise<InstallMarker> {
  const pkgDir = packageDirOf(tmp, spec.npmPackage);
  const pkg = await readJson<{ name?: string; version?: string }>(path.join(pkgDir, 'package.json'));
  if (!pkg || pkg.name !== spec.npmPackage || pkg.version !== spec.version)
    throw new AgentInstallError(
      `npm install ${spec.npmPackage}@${spec.version} left ${pkg ? `${pkg.name ?? '?'}@${pkg.version ?? '?'}` : 'no package'} in node_modules`,
    );
  const lock = await readLock(tmp);
  const packages: InstallMarker['packages'] = {};
  for (const [k, v] of Object.entries(lock)) {
    if (!k.startsWith('node_modules/')) continue;
    // The lockfile lists optional packages for every platform; only the installed ones matter.
    if (!(await exists(path.join(tmp, k)))) continue;
    packages[k.slice('node_modules/'.length)] = { version: v.version ?? '', integrity: v.integrity ?? null };
  }
  const marker: InstallMarker = {
    v: MARKER_VERSION,
    name: spec.name,
    npmPackage: spec.npmPackage,
    version: spec.version,
    integrity: lock[`node_modules/${spec.npmPackage}`]?.integrity ?? null,
    packages,
    files: await listFiles(path.join(tmp, 'node_modules')),
    installedAt: new Date().toISOString(),
    node: process.version,
    platform: process.platform,
    arch: process.arch,
  };
  await INSTALL_MARKER_FORMAT.write(INSTALL_MARKER_FORMAT.pathIn(tmp), marker);
  return marker;
}

/** The marker of an installed version, or null. */
export async function readInstallMarker(dir: string): Promise<InstallMarker | null> {
  return INSTALL_MARKER_FORMAT.readIfValid(INSTALL_MARKER_FORMAT.pathIn(dir));
}

/**
 * Installs `npmPackage@version` into the cache unless a sound copy is there already. A copy that
 * fails its check is moved aside and installed afresh. Safe against concurrent callers: each
 * installs into its own temp directory and the first rename wins.
 */
export async function installAgent(spec: InstallSpec, options: InstallOptions = {}): Promise<InstalledAgent> {
  const t0 = performance.now();
  const cacheRoot = options.cacheRoot ?? agentCacheRoot();
  const dir = agentInstallDir(spec.name, spec.version, cacheRoot);
  const result = (fromCache: boolean, integrity: string | null): InstalledAgent => ({
    name: spec.name,
    npmPackage: spec.npmPackage,
    version: spec.version,
    dir,
    packageDir: packageDirOf(dir, spec.npmPackage),
    integrity,
    fromCache,
    durationMs: Math.round(performance.now() - t0),
  });

  if (await exists(dir)) {
    const problem = await checkInstall(dir, spec);
    if (problem === null) return result(true, (await readInstallMarker(dir))?.integrity ?? null);
    options.onProgress?.(`${spec.name}@${spec.version}: cached copy is damaged (${problem}); installing again`);
    await rm(dir, { recursive: true, force: true });
  }

  await mkdir(cacheRoot, { recursive: true });
  await removeStaleTemps(cacheRoot);
  const tmp = await mkdtemp(path.join(cacheRoot, `.tmp-${spec.name}@${spec.version}-`));
  try {
    options.onProgress?.(`${spec.name}@${spec.version}: installing ${spec.npmPackage}@${spec.version} from npm into ${dir}`);
    await npmInstallInto(tmp, spec, options);
    const marker = await writeMarker(tmp, spec);
    try {
      await rename(tmp, dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      // Another process finished the same install first; use theirs if it is sound.
      await rm(tmp, { recursive: true, force: true });
      const problem = await checkInstall(dir, spec);
      if (problem !== null) throw new AgentInstallError(`${dir}: a concurrent install left a damaged copy (${problem}); remove it and retry`);
      return result(true, (await readInstallMarker(dir))?.integrity ?? null);
    }
    return result(false, marker.integrity);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}

/** Versions in the cache, per agent name. */
export async function listInstalled(cacheRoot = agentCacheRoot()): Promise<Array<{ name: string; version: string; dir: string; marker: InstallMarker | null }>> {
  let names: string[];
  try {
    names = await readdir(cacheRoot);
  } catch {
    return [];
  }
  const out: Array<{ name: string; version: string; dir: string; marker: InstallMarker | null }> = [];
  for (const n of names) {
    if (n.startsWith('.')) continue;
    const at = n.lastIndexOf('@');
    if (at <= 0) continue;
    const dir = path.join(cacheRoot, n);
    out.push({ name: n.slice(0, at), version: n.slice(at + 1), dir, marker: await readInstallMarker(dir) });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name) || compareVersions(a.version, b.version));
}
