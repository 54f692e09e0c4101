import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import { InputError } from './errors.js';
import { firstIssue, parseInputJson, readInputText, type InputKind } from './input-file.js';

/**
 * Every JSON file promptdiff writes is a Format: its name, its version, its zod schema and the
 * migrations that bring an older version up to this one (mitmproxy's io/compat converter chain).
 * Reading checks the size limit before parsing (src/input-file.ts: a run directory is untrusted
 * input), migrates, validates and fails in one line naming the file and the field; writing
 * validates what is written and replaces the file atomically, so a reader never sees half a file.
 * test/fixtures/formats/v1/ holds files of each format as written by version 1; the compatibility
 * test reads them through these readers and must keep passing.
 */

/** A file's content moved up one version: `migrations[n]` turns version n into n + 1. */
export type Migration = (old: Record<string, unknown>) => Record<string, unknown>;

export interface FormatSpec<S extends z.ZodType> {
  /** File name inside its directory (manifest.json, findings.json, …). */
  file: string;
  /** Size limit class (src/input-file.ts). */
  limit: InputKind;
  /** The version written; the `v` field of the file. */
  version: number;
  schema: S;
  /** What the file is, in an error: `${file}: not ${what}: runs[0].id: …`. */
  what: string;
  /** What to do about a file that does not validate, appended to the error ("rerun promptdiff diff"). */
  hint?: string;
  migrations?: Readonly<Record<number, Migration>>;
  /** Mode of the written file (default: 0644 less the umask). */
  mode?: number;
  /**
   * Validate what is written (default true). Off only for a file rewritten on a hot path whose
   * content the program builds from validated parts (the manifest, after every run).
   */
  validateOnWrite?: boolean;
}

export interface ReadOptions {
  /** The user error to throw (default InputError): each command's errors keep their class. */
  fail?: (message: string) => Error;
}

export interface Format<T> {
  readonly file: string;
  readonly version: number;
  /** `dir/file`. */
  pathIn(dir: string): string;
  /** Reads and validates `file`; null when it does not exist. */
  read(file: string, options?: ReadOptions): Promise<T | null>;
  /** Like read, but never throws: null for a file that is absent, unreadable, too large or not of this format (decorations of a report). */
  readIfValid(file: string): Promise<T | null>;
  /** Validates an already parsed value (migrating it first), naming `file` in the error. */
  parse(json: unknown, file: string, options?: ReadOptions): T;
  /** The file's text: validated, two-space JSON and a final newline. */
  serialise(value: z.input<z.ZodType<T>> | T): string;
  /** Validates `value` and writes it to `file` atomically; creates the directory. */
  write(file: string, value: T): Promise<void>;
  /** Writes text made by serialise (a snapshot taken earlier) atomically; creates the directory. */
  writeText(file: string, text: string): Promise<void>;
}

const defaultFail = (message: string): Error => new InputError(message);

export function defineFormat<S extends z.ZodType>(spec: FormatSpec<S>): Format<z.output<S>> {
  type T = z.output<S>;
  const migrate = (json: unknown, file: string, fail: (m: string) => Error): unknown => {
    const v = versionOf(json);
    if (v !== null && v > spec.version) throw fail(`${file}: not ${spec.what}: v: ${v} is newer than this promptdiff reads (${spec.version}); upgrade promptdiff`);
    return upgrade(json, spec.version, spec.migrations);
  };
  const parse = (json: unknown, file: string, options: ReadOptions = {}): T => {
    const fail = options.fail ?? defaultFail;
    const parsed = spec.schema.safeParse(migrate(json, file, fail));
    if (!parsed.success) throw fail(`${file}: not ${spec.what}: ${firstIssue(parsed.error)}${spec.hint ? `; ${spec.hint}` : ''}`);
    return parsed.data;
  };
  const format: Format<T> = {
    file: spec.file,
    version: spec.version,
    pathIn: (dir) => path.join(dir, spec.file),
    async read(file, options = {}) {
      const fail = options.fail ?? defaultFail;
      const text = await readInputText(file, spec.limit, fail);
      if (text === null) return null;
      return parse(parseInputJson(text, file, fail), file, options);
    },
    async readIfValid(file) {
      try {
        return await format.read(file);
      } catch {
        return null;
      }
    },
    parse,
    serialise: (value) => `${JSON.stringify(spec.validateOnWrite === false ? value : spec.schema.parse(value), null, 2)}\n`,
    async write(file, value) {
      await format.writeText(file, format.serialise(value));
    },
    async writeText(file, text) {
      await mkdir(path.dirname(file), { recursive: true });
      await writeAtomic(file, text, spec.mode === undefined ? {} : { mode: spec.mode });
    },
  };
  return format;
}

/** The `v` field of a parsed file or record, when it is a whole number. */
export function versionOf(json: unknown): number | null {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return null;
  const v = (json as { v?: unknown }).v;
  return typeof v === 'number' && Number.isInteger(v) ? v : null;
}

/**
 * Runs the migrations from the value's version up to `current`. A value of the current version, of
 * no version, of a newer one, or of one no migration starts from comes back as it is: the schema then
 * says what is wrong with it. Shared by every Format and by the capture store's JSONL records.
 */
export function upgrade(json: unknown, current: number, migrations: Readonly<Record<number, Migration>> = {}): unknown {
  let v = versionOf(json);
  if (v === null || v >= current) return json;
  let value = json as Record<string, unknown>;
  while (v < current) {
    const step = migrations[v];
    if (!step) return value;
    value = { ...step(value), v: v + 1 };
    v += 1;
  }
  return value;
}

/**
 * Replaces `file` with `content` atomically: written under a temporary name beside it (the same
 * file system), then renamed over it. With `mode` the temporary file has it from the first byte
 * (and again after the umask), so a private key is never readable by others, not even briefly.
 */
export async function writeAtomic(file: string, content: string | Uint8Array, options: { mode?: number } = {}): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, content, options.mode === undefined ? {} : { mode: options.mode });
    if (options.mode !== undefined) await chmod(tmp, options.mode);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}
