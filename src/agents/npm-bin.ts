import { readFileSync } from 'node:fs';
import path from 'node:path';
import { AgentInstallError, packageDirOf } from './install.js';

interface PackageJson {
  name?: string;
  version?: string;
  bin?: string | Record<string, string>;
}

export function readPackageJson(dir: string): PackageJson {
  const file = path.join(dir, 'package.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PackageJson;
  } catch (err) {
    throw new AgentInstallError(`${file}: ${(err as Error).message} (is the agent installed? try \`promptdiff agents install\`)`);
  }
}

/** The file a package's `bin` entry points at (absolute). */
export function binPath(installDir: string, npmPackage: string, binName: string): string {
  const pkgDir = packageDirOf(installDir, npmPackage);
  const pkg = readPackageJson(pkgDir);
  const rel = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin?.[binName];
  if (!rel) throw new AgentInstallError(`${npmPackage}@${pkg.version ?? '?'} declares no \`${binName}\` bin`);
  return path.join(pkgDir, rel);
}

/**
 * argv prefix that runs a package's bin without npm's .bin shims: JavaScript entry points run
 * under this very Node, so the agent sees the same runtime the test or runner uses.
 */
export function nodeOrNative(file: string): string[] {
  return /\.[cm]?js$/.test(file) ? [process.execPath, file] : [file];
}
