/**
 * Every finding class and everything said about it: the one place a new class is added. The order
 * of FINDING_CLASSES is the report order, most suspicious first; FINDING_CLASS_INFO is a
 * Record<FindingClass, …>, so the compiler refuses a class without its label, colours and wording.
 * This module imports nothing, so the schema, the differ and every report can read it.
 */

/**
 * Most suspicious first. Covert classes come before the overt `echo`, so what an agent hides is
 * never drowned by what it openly discloses; presence changes are coarse and come last.
 */
export const FINDING_CLASSES = [
  'invisible',
  'confusable',
  'whitespace-lookalike',
  'punctuation-swap',
  'format-change',
  'value-change',
  'echo',
  'expected',
  'request-presence',
  'field-presence',
] as const;
export type FindingClass = (typeof FINDING_CLASSES)[number];

export interface FindingClassInfo {
  /** What the reports print for it. */
  label: string;
  /** Its identity is the code-point edit itself (so code points are named and shown); the rest are about whole values or presence. */
  codePoint: boolean;
  /** A scenario `expect` rule cannot excuse it: nobody expects an axis to add hidden characters. */
  neverExpected: boolean;
  /** ANSI SGR sequence of the terminal report. */
  terminal: string;
  /** Declarations of the HTML report's badge (`.cls-<class>`). */
  css: string;
  /** One sentence: when the differ gives this class (docs/findings.md says it at length). */
  description: string;
}

const RED_BOLD = '\x1b[1;31m';
const COVERT_CSS = 'background:#b00020;color:#fff';
const SWAP_CSS = 'background:#f9a825;color:#1b1b1b';
const PRESENCE_CSS = 'background:#90caf9';

export const FINDING_CLASS_INFO: Record<FindingClass, FindingClassInfo> = {
  invisible: {
    label: 'invisible',
    codePoint: true,
    neverExpected: true,
    terminal: RED_BOLD,
    css: COVERT_CSS,
    description: 'an edited code point is invisible (format, default-ignorable, bidi control, variation selector, tag)',
  },
  confusable: {
    label: 'confusable',
    codePoint: true,
    neverExpected: true,
    terminal: RED_BOLD,
    css: COVERT_CSS,
    description: 'the edit swaps look-alikes (same TR39 skeleton, or a letter of another script inside a word)',
  },
  'whitespace-lookalike': {
    label: 'whitespace-lookalike',
    codePoint: true,
    neverExpected: true,
    terminal: '\x1b[31m',
    css: 'background:#e65100;color:#fff',
    description: 'every edited code point is white space (a no-break space for a space, …)',
  },
  'punctuation-swap': {
    label: 'punctuation-swap',
    codePoint: true,
    neverExpected: false,
    terminal: '\x1b[33m',
    css: SWAP_CSS,
    description: 'every edited code point is punctuation, symbol or white space, and they are not look-alikes',
  },
  'format-change': {
    label: 'format-change',
    codePoint: true,
    neverExpected: false,
    terminal: '\x1b[33m',
    css: SWAP_CSS,
    description: 'the same value written another way (the token keeps its digit groups and letters)',
  },
  'value-change': {
    label: 'value-change',
    codePoint: false,
    neverExpected: false,
    terminal: '\x1b[36m',
    css: 'background:#80deea',
    description: 'anything else that differs',
  },
  echo: {
    label: 'echo',
    codePoint: false,
    neverExpected: false,
    terminal: '\x1b[35m',
    css: 'background:#ce93d8',
    description: 'the changed text is the axis value, or what the value puts on the machine: overt disclosure',
  },
  expected: {
    label: 'expected',
    codePoint: false,
    neverExpected: false,
    terminal: '\x1b[2m',
    css: 'background:#e0e0e0;color:#555',
    description: "variation the scenario allowed with an expect rule (not counted for exit code 1)",
  },
  'request-presence': {
    label: 'request-presence',
    codePoint: false,
    neverExpected: false,
    terminal: '\x1b[34m',
    css: PRESENCE_CSS,
    description: 'a whole request sent only in some cells',
  },
  'field-presence': {
    label: 'field-presence',
    codePoint: false,
    neverExpected: false,
    terminal: '\x1b[34m',
    css: PRESENCE_CSS,
    description: 'a field present only in some cells',
  },
};

/** Report order: 0 is the most suspicious. */
export function classRank(cls: FindingClass): number {
  return FINDING_CLASSES.indexOf(cls);
}

/** Classes whose identity is the code-point edit itself (the rest are about whole values or presence). */
export const CODE_POINT_CLASSES: ReadonlySet<FindingClass> = new Set(FINDING_CLASSES.filter((c) => FINDING_CLASS_INFO[c].codePoint));

/** Changes a scenario rule cannot excuse. */
export const NEVER_EXPECTED: ReadonlySet<FindingClass> = new Set(FINDING_CLASSES.filter((c) => FINDING_CLASS_INFO[c].neverExpected));
