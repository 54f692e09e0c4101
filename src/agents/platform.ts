import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  AgentInstallError,
  agentCacheRoot,
  agentInstallDir,
  compareVersions,
  installAgent,
  isExactVersion,
  packageDirOf,
  publishedVersions,
  readInstallMarker,
  resolveVersion,
  type InstalledAgent,
  type InstallOptions,
} from './install.js';

/*
 * Native agents published as an npm wrapper plus one optional package per platform
 * (`opencode-linux-x64`, `@kilocode/cli-linux-x64`, `@factory/cli-linux-x64`, ...). Releases exist
 * whose wrapper names a platform build the registry never received (Kilo 7.8.1, Factory 0.225.1):
 * npm then installs the wrapper alone, silently, and the agent cannot start. So the platform
 * package is installed explicitly, and a release without one is refused or replaced, saying so.
 */

/** glibcVersionRuntime is absent on musl; the vendors' own installers tell them apart the same way. */
export function isMusl(): boolean {
  if (process.platform !== 'linux') return false;
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report !== undefined && report.header?.glibcVersionRuntime === undefined;
}

export interface PlatformInstall {
  /** Cache key, as for installAgent. */
  name: string;
  /** The wrapper users install (`@kilocode/cli`). */
  npmPackage: string;
  /** This machine's platform package (`@kilocode/cli-linux-x64`). */
  platformPackage: string;
}

const minorOf = (v: string) => v.split('.').slice(0, 2).join('.');

/**
 * Which platform build goes with wrapper `version`: the same version; otherwise the newest
 * published build of the same minor release at or above it (a re-published patch), or null.
 */
export function matchingBuild(version: string, builds: readonly string[]): string | null {
  if (builds.includes(version)) return version;
  const later = builds.filter((b) => minorOf(b) === minorOf(version) && compareVersions(b, version) > 0).sort(compareVersions);
  return later[0] ?? null;
}

export interface PlatformRelease {
  version: string;
  build: string;
  /** Said to the user when the release or its build is not the one asked for. */
  note: string | null;
}

/**
 * The release to install for `spec` (resolved to `wanted`) and its platform build, from the
 * published wrapper releases and platform builds. `latest` or a range whose newest match has no
 * build falls back to the newest older release that has one; an exact version without a build of
 * its minor release is an error naming the releases that do install.
 */
export function planPlatformRelease(p: PlatformInstall, spec: string, wanted: string, releases: readonly string[], builds: readonly string[]): PlatformRelease {
  const build = matchingBuild(wanted, builds);
  if (build === wanted) return { version: wanted, build, note: null };
  const installable = [...releases].sort(compareVersions).filter((r) => builds.includes(r));
  if (!isExactVersion(spec)) {
    const older = installable.filter((r) => compareVersions(r, wanted) < 0).at(-1);
    if (older) return { version: older, build: older, note: `${p.npmPackage}@${wanted} (${spec}) has no ${p.platformPackage} build in the registry; using ${older}, the newest release that has one` };
  }
  if (build !== null) {
    return { version: wanted, build, note: `${p.npmPackage}@${wanted} names ${p.platformPackage}@${wanted}, which the registry lacks; installing its nearest build ${build} with it` };
  }
  throw new AgentInstallError(
    `${p.npmPackage}@${wanted}: no ${p.platformPackage} build in the registry, so it cannot run here` +
      (installable.length > 0 ? ` (releases that install: ${installable.slice(-4).join(', ')})` : ` (no release has one; builds published: ${builds.slice(-4).join(', ') || 'none'})`),
  );
}

/** planPlatformRelease with the registry asked (npm view). */
export async function choosePlatformRelease(p: PlatformInstall, spec: string, options: InstallOptions = {}): Promise<PlatformRelease> {
  const wanted = isExactVersion(spec) ? spec : await resolveVersion(p.npmPackage, spec, options);
  const builds = await publishedVersions(p.platformPackage, options);
  const releases = builds.includes(wanted) ? [wanted] : await publishedVersions(p.npmPackage, options);
  return planPlatformRelease(p, spec, wanted, releases, builds);
}

/** An installer for a wrapper + platform-package agent; the preset's install(). */
export function platformInstaller(p: PlatformInstall) {
  return async (version: string, options: InstallOptions = {}): Promise<InstalledAgent> => {
    // A cached copy needs no registry: the exact version names it.
    if (isExactVersion(version)) {
      const cached = await tryCached(p, version, options);
      if (cached) return cached;
    }
    const chosen = await choosePlatformRelease(p, version, options);
    if (chosen.note) options.onProgress?.(chosen.note);
    return installAgent({ name: p.name, npmPackage: p.npmPackage, version: chosen.version, extraPackages: [`${p.platformPackage}@${chosen.build}`] }, options);
  };
}

/** An exact version already in the cache with its platform build: no registry needed (runs work offline). */
async function tryCached(p: PlatformInstall, version: string, options: InstallOptions): Promise<InstalledAgent | null> {
  const dir = agentInstallDir(p.name, version, options.cacheRoot ?? agentCacheRoot());
  const build = (await readInstallMarker(dir))?.packages[p.platformPackage]?.version;
  if (!build) return null;
  return installAgent({ name: p.name, npmPackage: p.npmPackage, version, extraPackages: [`${p.platformPackage}@${build}`] }, options);
}

/** The executable inside an installed platform package (`bin/kilo`), or an error saying what is missing. */
export function platformBinary(installDir: string, p: PlatformInstall, relPath: string): string {
  const file = path.join(packageDirOf(installDir, p.platformPackage), relPath);
  if (existsSync(file)) return file;
  throw new AgentInstallError(`${p.npmPackage} in ${installDir} has no ${p.platformPackage}/${relPath}: reinstall it (promptdiff agents install ${p.name}@VERSION)`);
}
