import { parseArgs, type ParseArgsConfig } from 'node:util';
import { distance } from './levenshtein.js';
import { UserError } from './errors.js';

/** A mistake the user can fix: printed as one line, exit code 2, never a stack trace. */
export class UsageError extends UserError {
  override name = 'UsageError';
}

export { toolVersion, PACKAGE_ROOT } from './version.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs with its errors rewritten as one-line UsageErrors that name the command and suggest the flag meant. */
export function parse<const O extends Options>(command: string, args: string[], options: O, allowPositionals = true) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true as const });
  } catch (err) {
    throw new UsageError(`promptdiff ${command}: ${describeParseError(err as NodeJS.ErrnoException, options)}; see promptdiff ${command} --help`);
  }
}

/** The flag (with dashes) closest to a misspelt one: within two edits (a swapped pair is two), one for names of three letters or fewer. */
export function nearestFlag(flag: string, options: Options): string | undefined {
  const name = flag.replace(/^-+/, '').replace(/=.*$/, '');
  let best: { known: string; d: number } | undefined;
  for (const [known, spec] of Object.entries(options)) {
    const d = Math.min(distance(name, known), spec.short && name.length === 1 ? distance(name, spec.short) : Infinity);
    if (d <= (known.length <= 3 ? 1 : 2) && (!best || d < best.d)) best = { known, d };
  }
  return best && `--${best.known}`;
}

/**
 * node:util's messages are written for programmers ("To specify a positional argument starting
 * with a '-', place it …", with an unbalanced quote); a user needs the flag and what to do.
 */
function describeParseError(err: NodeJS.ErrnoException, options: Options): string {
  const quoted = /'([^']+)'/.exec(err.message)?.[1];
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const flag = quoted ?? '?';
      const near = nearestFlag(flag, options);
      return `unknown option ${flag}${near ? ` (did you mean ${near}?)` : ''}`;
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const flag = quoted?.replace(/ <value>$/, '') ?? '?';
      return /does not take an argument/.test(err.message) ? `${flag} takes no value` : `${flag} needs a value`;
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${JSON.stringify(quoted ?? '?')}: this command takes options only`;
    default:
      return err.message.replace(/^TypeError \[[A-Z_]+\]: /, '');
  }
}

/** A comma-separated option's items, trimmed, empty ones left out. */
export function commaList(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean);
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
