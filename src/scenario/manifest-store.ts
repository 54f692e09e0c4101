import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ManifestSchema, type Manifest, type RunEntry } from './manifest.js';

export const MANIFEST_FILE = 'manifest.json';

/**
 * Owns RUN_DIR/manifest.json. Every change is written atomically (temp file + rename) and writes are
 * queued, so an interrupted run always leaves a complete manifest that --resume can pick up.
 */
export class ManifestStore {
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly dir: string,
    readonly manifest: Manifest,
  ) {}

  static async read(dir: string): Promise<Manifest | null> {
    let text: string;
    try {
      text = await readFile(path.join(dir, MANIFEST_FILE), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    return ManifestSchema.parse(JSON.parse(text));
  }

  updateRun(entry: RunEntry): Promise<void> {
    const i = this.manifest.runs.findIndex((r) => r.id === entry.id);
    if (i === -1) throw new Error(`run ${entry.id} is not in the manifest`);
    this.manifest.runs[i] = entry;
    return this.save();
  }

  save(): Promise<void> {
    // Snapshot now: the queued write must not see later, half-applied changes.
    const text = `${JSON.stringify(this.manifest, null, 2)}\n`;
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
