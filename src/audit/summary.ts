import { AUDIT_FORMAT, type Audit } from './schema.js';

export const AUDIT_FILE = AUDIT_FORMAT.file;

function count(n: number): string {
  return n >= 1e6 ? n.toExponential(1).replace('e+', ' × 10^') : String(n);
}

/** What an audit did, in a few lines for people: stages, runs against a full factorial, what mattered, what was not compared. */
export function describeAudit(audit: Audit): string[] {
  const agent = (audit.scenario.agent ?? {}) as { preset?: string; version?: string; command?: string[] };
  const who = agent.preset ? `${agent.preset}${agent.version ? ` ${agent.version}` : ''}` : (agent.command ?? []).join(' ');
  const stages = audit.stages.map((s) => `${s.name} ${s.runs}`).join(', ');
  const lines = [
    `audit of ${who}: ${audit.factors.tried.length} factors over ${audit.profiles.length} profiles; ${audit.runs.total} runs in ${audit.stages.length} stages (${stages}), ` +
      `where a full factorial of the same values needs ${count(audit.runs.fullFactorial)}`,
  ];
  if (audit.mattered.length) {
    lines.push(`mattered: ${audit.mattered.map((m) => `${m.factor} (${m.classes.join(', ')}${m.with.length ? `; with ${m.with.join(', ')}` : ''})`).join('; ')}`);
  } else {
    lines.push('mattered: nothing');
  }
  for (const s of audit.factors.skipped) lines.push(`skipped (not compared): ${s.factor}: ${s.reason}`);
  for (const s of audit.factors.notApplicable) lines.push(`not applicable here: ${s.factor}: ${s.reason}`);
  for (const s of audit.stages) if (s.cellsLeftOut > 0) lines.push(`stage ${s.name}: ${s.cellsLeftOut} planned cells left out by the budget`);
  if (audit.status !== 'complete') lines.push(`status: ${audit.status}`);
  return lines;
}

/** The lines of RUN_DIR/audit.json, or null when the directory is not an audit's. */
export async function auditLines(runDir: string): Promise<string[] | null> {
  // Only a decoration of the report: an unreadable or oversized audit.json is left out, not an error.
  const audit = await AUDIT_FORMAT.readIfValid(AUDIT_FORMAT.pathIn(runDir));
  return audit ? describeAudit(audit) : null;
}
