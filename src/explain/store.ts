import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { readInputText } from '../input-file.js';
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
    // explain.json is far smaller than findings.json (600 probes at most in practice): the same limit will do.
    const text = await readInputText(path.join(root, name, EXPLAIN_FILE), 'findings', (m) => new Error(m)).catch(() => null);
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
