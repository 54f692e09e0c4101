import { readInputText } from '../input-file.js';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { FindingsSchema, type Findings } from '../diff/findings-schema.js';

/** The machine-readable report: findings.json exactly, validated, so `--json` and the file agree. */
export function renderJson(findings: Findings): string {
  return `${JSON.stringify(FindingsSchema.parse(findings), null, 2)}\n`;
}

/** Reads RUN_DIR/findings.json (or a findings file given directly), checking it against the schema. */
export async function readFindings(pathOrRunDir: string): Promise<Findings> {
  const file = pathOrRunDir.endsWith('.json') ? pathOrRunDir : join(pathOrRunDir, 'findings.json');
  const text = await readInputText(file, 'findings', inputError);
  if (text === null) throw inputError(`${file}: cannot read (no such file); run \`promptdiff diff\` on the run directory first`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw inputError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  const parsed = FindingsSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw inputError(
      `${file}: not a findings file of this version: ${issue?.path.join('.') || '(root)'}: ${issue?.message}; rerun \`promptdiff diff\``,
    );
  }
  return parsed.data;
}

function inputError(message: string): Error {
  return new InputError(message);
}
