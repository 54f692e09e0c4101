import { InputError } from '../errors.js';
import { FINDINGS_FORMAT, FindingsSchema, type Findings } from '../diff/findings-schema.js';

/** The machine-readable report: findings.json exactly, validated, so `--json` and the file agree. */
export function renderJson(findings: Findings): string {
  return `${JSON.stringify(FindingsSchema.parse(findings), null, 2)}\n`;
}

/** Reads RUN_DIR/findings.json (or a findings file given directly), checking it against the schema. */
export async function readFindings(pathOrRunDir: string): Promise<Findings> {
  const file = pathOrRunDir.endsWith('.json') ? pathOrRunDir : FINDINGS_FORMAT.pathIn(pathOrRunDir);
  const findings = await FINDINGS_FORMAT.read(file);
  if (findings === null) throw new InputError(`${file}: cannot read (no such file); run \`promptdiff diff\` on the run directory first`);
  return findings;
}
