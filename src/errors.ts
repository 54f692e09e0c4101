/**
 * Exit codes: the contract for scripts and CI (see DESIGN.md). Every command returns one of these;
 * no other module writes a literal exit code.
 */
export const EXIT = {
  ok: 0,
  noFindings: 0,
  findings: 1,
  inputError: 2,
  /** Runs failed, factors were not applied, or something was not compared: never a clean result. */
  runsFailed: 3,
  /** A bug: the CLI prints the stack trace. */
  internal: 70,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * A mistake the user can cause and fix (a flag, a scenario, a file someone else made): the CLI prints
 * its message as one line, exits 2, and never shows a stack trace. Anything else that escapes a
 * command is a bug. Subclasses only name where the mistake was made.
 */
export class UserError extends Error {
  override name = 'UserError';
}

/** A file promptdiff reads (a run directory, findings, an explanation) is missing, damaged or not of this version. */
export class InputError extends UserError {
  override name = 'InputError';
}

/** The agent preset a scenario, a flag or an argument names does not exist. */
export class UnknownPresetError extends UserError {
  override name = 'UnknownPresetError';
}
