import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A mistake the user can fix: printed as one line, exit code 2, never a stack trace. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export { toolVersion, PACKAGE_ROOT } from './version.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs with errors turned into UsageErrors that name the command. */
export function parse<const O extends Options>(command: string, args: string[], options: O, allowPositionals = true) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true as const });
  } catch (err) {
    throw new UsageError(`promptdiff ${command}: ${(err as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, '')}`);
  }
}

export function intOption(name: string, value: string | undefined, fallback: number, min = 0, max = 65535): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got "${value}"`);
  return n;
}

export function oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got "${value}"`);
  return value as T;
}

/** A sortable local-free stamp for default output directories: 20261201-093000. */
export function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
}

/**
 * Runs `job` with an AbortSignal that SIGINT or SIGTERM fires, so an interrupted run or audit kills
 * its agents and leaves its directory resumable instead of dying half-written.
 */
export async function withInterrupt<T>(job: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await job(controller.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
