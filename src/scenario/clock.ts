import { execFile } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';

/**
 * Pinning the wall clock with libfaketime (Debian package `faketime`). The "@" form starts every
 * process at the pinned time and lets it tick: a frozen clock hangs Node's timers. Monotonic clocks
 * are left alone for the same reason.
 */

const LIBFAKETIME_CANDIDATES = [
  '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/faketime/libfaketime.so.1',
  '/usr/local/lib/faketime/libfaketime.so.1',
  '/usr/lib64/faketime/libfaketime.so.1',
];

export function findLibfaketime(): string | null {
  const override = process.env.PROMPTDIFF_LIBFAKETIME;
  if (override) return existsSync(override) ? override : null;
  return LIBFAKETIME_CANDIDATES.find((p) => existsSync(p)) ?? null;
}

/** True when the clock names an instant (Z or offset), false for a zone-less wall-clock time. */
export function isInstant(clock: string): boolean {
  return /(Z|[+-]\d{2}:?\d{2})$/.test(clock);
}

/** The environment that pins the clock. An instant is given as epoch seconds so it does not depend on TZ. */
export function clockEnv(clock: string, lib: string): Record<string, string> {
  const env: Record<string, string> = { LD_PRELOAD: lib, DONT_FAKE_MONOTONIC: '1' };
  if (isInstant(clock)) {
    env.FAKETIME_FMT = '%s';
    env.FAKETIME = `@${Math.floor(Date.parse(clock) / 1000)}`;
  } else {
    const [date, time = '00:00:00'] = clock.split(/[T ]/);
    env.FAKETIME = `@${date} ${time.length === 5 ? `${time}:00` : time.replace(/\.\d+$/, '')}`;
  }
  return env;
}

export interface ClockCheck {
  requested: string;
  pinned: boolean;
  /** What was measured, or why the clock could not be pinned. */
  detail: string;
  env: Record<string, string>;
}

/**
 * libfaketime keeps a shared-memory segment and a semaphore for the first process of a tree it
 * starts in, named by its pid (the rest of the tree shares them), and removes them only on a clean
 * exit. Runs in namespaces get a private /dev/shm (isolate.ts); what the clock probe and a run
 * without namespaces leave on the host's is removed with this.
 */
export function removeFaketimeShm(pid: number | undefined): void {
  if (pid === undefined) return;
  for (const name of [`faketime_shm_${pid}`, `sem.faketime_sem_${pid}`]) rmSync(`/dev/shm/${name}`, { force: true });
}

function probe(command: string, args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { env, timeout: 10_000 }, (err, stdout) => {
      removeFaketimeShm(child.pid);
      if (err) reject(err);
      else resolve(stdout.trim());
    });
  });
}

/**
 * Pins the clock and checks that it took, by running a tiny Node probe under the same environment
 * (in UTC, so a wall-clock time and an instant compare the same way).
 */
export async function prepareClock(clock: string, basePath: string | undefined): Promise<ClockCheck> {
  if (clock === 'real') return { requested: clock, pinned: false, detail: 'clock: real (not pinned)', env: {} };
  const lib = findLibfaketime();
  if (!lib) {
    return {
      requested: clock,
      pinned: false,
      detail: 'libfaketime not found: the clock is NOT pinned (install it: apt-get install faketime, or set PROMPTDIFF_LIBFAKETIME)',
      env: {},
    };
  }
  const env = clockEnv(clock, lib);
  const expected = isInstant(clock) ? Date.parse(clock) : Date.parse(`${clock.replace(' ', 'T')}Z`);
  try {
    const out = await probe(process.execPath, ['-e', 'process.stdout.write(String(Date.now()))'], {
      ...env,
      TZ: 'UTC',
      ...(basePath ? { PATH: basePath } : {}),
    });
    const seen = Number(out);
    // The probe starts at the pinned instant and ticks; a minute covers a slow machine.
    if (Number.isFinite(seen) && Math.abs(seen - expected) < 60_000) {
      return { requested: clock, pinned: true, detail: `pinned with ${lib} (probe saw ${new Date(seen).toISOString()})`, env };
    }
    return {
      requested: clock,
      pinned: false,
      detail: `the clock pin did not take: a Node probe under LD_PRELOAD=${lib} saw ${out} instead of ${new Date(expected).toISOString()}`,
      env: {},
    };
  } catch (err) {
    return { requested: clock, pinned: false, detail: `the clock probe failed (${(err as Error).message}); clock NOT pinned`, env: {} };
  }
}
