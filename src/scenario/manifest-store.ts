import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { firstIssue, parseInputJson, readInputText } from '../input-file.js';
import { ManifestSchema, type Manifest, type RunEntry } from './manifest.js';

export const MANIFEST_FILE = 'manifest.json';

/**
 * Owns RUN_DIR/manifest.json. Every change is written atomically (temp file + rename) and writes are
 * queued, so an interrupted run always leaves a complete manifest that --resume can pick up.
 */
export class ManifestStore {
  private queue: Promise<void> = Promise.resolve();

  /**
   * @param redact what is written instead of the manifest held in memory (the runner keeps secret
   *   values in memory only: src/scenario/secrets.ts)
   */
  constructor(
    readonly dir: string,
    readonly manifest: Manifest,
    private readonly redact: (m: Manifest) => Manifest = (m) => m,
  ) {}

  /**
   * The manifest of `dir`, or null when there is none. A run directory may come from anyone (a
   * shard is often a CI artifact): the error names the first bad field, e.g. `runs[0].id: not a safe id`.
   */
  static async read(dir: string): Promise<Manifest | null> {
    const file = path.join(dir, MANIFEST_FILE);
    const fail = (message: string) => new Error(message);
    const text = await readInputText(file, 'manifest', fail);
    if (text === null) return null;
    const parsed = ManifestSchema.safeParse(parseInputJson(text, file, fail));
    if (!parsed.success) throw new Error(firstIssue(parsed.error));
    return parsed.data;
  }

  updateRun(entry: RunEntry): Promise<void> {
    const i = this.manifest.runs.findIndex((r) => r.id === entry.id);
    if (i === -1) throw new Error(`run ${entry.id} is not in the manifest`);
    this.manifest.runs[i] = entry;
    return this.save();
  }

  save(): Promise<void> {
    // Snapshot now: the queued write must not see later, half-applied changes.
    const text = `${JSON.stringify(this.redact(this.manifest), null, 2)}\n`;
    const file = path.join(this.dir, MANIFEST_FILE);
    const next = this.queue.then(async () => {
      await mkdir(this.dir, { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, text);
      await rename(tmp, file);
    });
    this.queue = next.catch(() => undefined);
    return next;
  }
}
