import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { EXPLAIN_FILE, ExplainSchema, type Explain } from './schema.js';

/**
 * The explanations of a run directory's findings (RUN_DIR/explain/<finding-id>/explain.json), by
 * finding id; files that do not parse are left out (a report shows what it can).
 */
export async function readExplanations(runDir: string): Promise<Map<string, Explain>> {
  const out = new Map<string, Explain>();
  const root = path.join(runDir, 'explain');
  const entries = await readdir(root).catch(() => [] as string[]);
  for (const name of entries.sort()) {
    const text = await readFile(path.join(root, name, EXPLAIN_FILE), 'utf8').catch(() => null);
    if (text === null) continue;
    try {
      const parsed = ExplainSchema.safeParse(JSON.parse(text));
      if (parsed.success) out.set(parsed.data.finding, parsed.data);
    } catch {
      // A torn or foreign file: not an explanation.
    }
  }
  return out;
}
