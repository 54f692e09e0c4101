import { spawn } from 'node:child_process';
import { open, readFile, stat } from 'node:fs/promises';
import type { Launch } from './isolate.js';

export interface ExecResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** Set when the process could not be started at all (ENOENT, EACCES, ...). */
  spawnError: string | null;
  startedAt: Date;
  endedAt: Date;
  /** The spawned process's pid (undefined when it could not be started). */
  pid: number | undefined;
}

/** Time a process group gets between SIGTERM and SIGKILL. */
const KILL_GRACE_MS = 2000;

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone, which is what we wanted.
  }
}

/**
 * Runs one agent in its own process group with stdout/stderr going straight to files. Files rather
 * than pipes: a grandchild that keeps a pipe open would otherwise keep us waiting after the agent
 * exited. On timeout or abort the whole group is killed, so nothing the agent started survives.
 */
export async function execute(options: {
  launch: Launch;
  env: Record<string, string>;
  stdoutPath: string;
  stderrPath: string;
  timeoutMs: number;
  signal?: AbortSignal;
}): Promise<ExecResult> {
  const out = await open(options.stdoutPath, 'w');
  const err = await open(options.stderrPath, 'w');
  const startedAt = new Date();
  try {
    return await new Promise<ExecResult>((resolve) => {
      let timedOut = false;
      let settled = false;
      const child = spawn(options.launch.file, options.launch.args, {
        cwd: options.launch.cwd,
        env: options.env,
        stdio: ['ignore', out.fd, err.fd],
        detached: true,
      });
      const timers: NodeJS.Timeout[] = [];
      const stop = () => {
        killGroup(child.pid, 'SIGTERM');
        timers.push(setTimeout(() => killGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS));
      };
      const onAbort = () => stop();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      timers.push(
        setTimeout(() => {
          timedOut = true;
          stop();
        }, options.timeoutMs),
      );
      const finish = (result: Omit<ExecResult, 'startedAt' | 'endedAt' | 'timedOut' | 'pid'>) => {
        if (settled) return;
        settled = true;
        for (const t of timers) clearTimeout(t);
        options.signal?.removeEventListener('abort', onAbort);
        // Whatever the agent left running in its group (daemons, language servers) goes with it.
        killGroup(child.pid, 'SIGKILL');
        resolve({ ...result, timedOut, startedAt, endedAt: new Date(), pid: child.pid });
      };
      child.on('error', (e) => finish({ exitCode: null, signal: null, spawnError: e.message }));
      child.on('exit', (code, signal) => finish({ exitCode: code, signal, spawnError: null }));
    });
  } finally {
    await Promise.all([out.close(), err.close()]);
  }
}

/** The last `bytes` of a file as text (for error messages), '' when missing. */
export async function tail(file: string, bytes = 2000): Promise<string> {
  try {
    const size = (await stat(file)).size;
    if (size <= bytes) return (await readFile(file, 'utf8')).trimEnd();
    const handle = await open(file, 'r');
    try {
      const buffer = Buffer.alloc(bytes);
      await handle.read(buffer, 0, bytes, size - bytes);
      return `…${buffer.toString('utf8').trimEnd()}`;
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}
