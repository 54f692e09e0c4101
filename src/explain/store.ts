import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { EXPLAIN_FORMAT, type Explain } from './schema.js';

/**
 * The explanations of a run directory's findings (RUN_DIR/explain/<finding-id>/explain.json), by
 * finding id; files that do not parse are left out (a report shows what it can).
 */
export async function readExplanations(runDir: string): Promise<Map<string, Explain>> {
  const out = new Map<string, Explain>();
  const root = path.join(runDir, 'explain');
  const entries = await readdir(root).catch(() => [] as string[]);
  for (const name of entries.sort()) {
    // A torn or foreign file is not an explanation: left out.
    const explain = await EXPLAIN_FORMAT.readIfValid(EXPLAIN_FORMAT.pathIn(path.join(root, name)));
    if (explain) out.set(explain.finding, explain);
  }
  return out;
}
