import { ScenarioError } from './scenario-file.js';
import { MANIFEST_FORMAT, type Manifest, type RunEntry } from './manifest.js';

export const MANIFEST_FILE = MANIFEST_FORMAT.file;

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
    return MANIFEST_FORMAT.read(MANIFEST_FORMAT.pathIn(dir), { fail: (message) => new ScenarioError(message) });
  }

  updateRun(entry: RunEntry): Promise<void> {
    const i = this.manifest.runs.findIndex((r) => r.id === entry.id);
    if (i === -1) throw new Error(`run ${entry.id} is not in the manifest`);
    this.manifest.runs[i] = entry;
    return this.save();
  }

  save(): Promise<void> {
    // Snapshot now: the queued write must not see later, half-applied changes.
    const text = MANIFEST_FORMAT.serialise(this.redact(this.manifest));
    const file = MANIFEST_FORMAT.pathIn(this.dir);
    const next = this.queue.then(() => MANIFEST_FORMAT.writeText(file, text));
    this.queue = next.catch(() => undefined);
    return next;
  }
}
