import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Tests drive the built CLI (npm test builds first), exactly what a user runs. */
export const CLI = path.join(ROOT, 'dist', 'cli.js');

/*
 * Long-running CLI processes a test started (a proxy): test/setup/file-tmp.ts kills those still
 * running when their test file is done, so a test that fails before it stops them leaves none
 * behind (each one holds a test CA's key and a capture open in the file's temporary directory).
 */
const owned = new Set<ChildProcess>();

/** Registers a long-running child to be killed, if still running, when its test file ends. */
export function own<C extends ChildProcess>(child: C): C {
  owned.add(child);
  child.once('exit', () => owned.delete(child));
  return child;
}

export function killOwned(): void {
  for (const child of owned) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  owned.clear();
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000, cwd?: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, PROMPTDIFF_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`promptdiff ${args.join(' ')} timed out\n${stderr}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts a long-running CLI command and resolves once stdout matches `ready`. */
export function startCli(args: string[], ready: RegExp, env: Record<string, string> = {}): Promise<{ child: ChildProcess; match: RegExpMatchArray; output: () => { stdout: string; stderr: string } }> {
  return new Promise((resolve, reject) => {
    const child = own(spawn(process.execPath, [CLI, ...args], { env: { ...process.env, PROMPTDIFF_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
    let stdout = '';
    let stderr = '';
    const output = () => ({ stdout, stderr });
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => {
      stdout += d;
      const m = stdout.match(ready);
      if (m) resolve({ child, match: m, output });
    });
    child.on('close', (code) => reject(new Error(`exited ${code} before ready\n${stdout}\n${stderr}`)));
  });
}
