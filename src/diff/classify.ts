import type { Change, FindingClass } from './findings-schema.js';
import { classRank } from './finding-classes.js';
import {
  codePoints,
  isInvisible,
  isLetter,
  isPunctuationOrSymbol,
  isWhiteSpace,
  letterScript,
  skeleton,
  tr39Skeleton,
} from './unicode.js';

export type ChangeClass = Extract<
  FindingClass,
  'invisible' | 'confusable' | 'whitespace-lookalike' | 'punctuation-swap' | 'format-change' | 'value-change'
>;

/** What a group looks like around the span: used to judge scripts and values, not just the edited code points. */
export interface GroupView {
  changes: Change[];
  /** The whitespace-delimited token(s) holding the span, in the baseline and in this group. */
  baselineToken: string;
  token: string;
  /** A few dozen characters around the span in this group and in the baseline. */
  context: string;
  baselineContext: string;
}

export const rank = classRank;

function scriptsOfLetters(text: string): Set<string> {
  const out = new Set<string>();
  for (const ch of codePoints(text)) {
    const s = letterScript(ch);
    if (s) out.add(s);
  }
  return out;
}

/**
 * TR39's mixed-script test, applied to the edit: a letter replaced by a letter of another script
 * while the surrounding text is written in the first script is a homoglyph, whatever the glyphs.
 */
function mixedScriptSwap(change: Change, view: GroupView): boolean {
  const before = codePoints(change.before);
  const after = codePoints(change.after);
  // Letter for letter: a transliterated word of another length is a value change, not a disguise.
  if (before.length !== after.length || !before.every(isLetter) || !after.every(isLetter)) return false;
  const sb = scriptsOfLetters(change.before);
  const sa = scriptsOfLetters(change.after);
  if ([...sa].every((s) => sb.has(s))) return false;
  // Inside a word, the rest of the word must be in the replaced script; a lone letter is judged
  // by the text around it.
  const short = before.length <= 2;
  const around = (text: string): Set<string> => scriptsOfLetters(text);
  const hasIn = (scripts: Set<string>, text: string): boolean => [...scripts].some((s) => around(text).has(s));
  return (
    hasIn(sb, view.token) ||
    hasIn(sa, view.baselineToken) ||
    (short && (hasIn(sb, view.context) || hasIn(sa, view.baselineContext)))
  );
}

/** TR39's table first (UTS #39 skeletons); name folding and the mixed-script test for what its v10 data lacks. */
function isConfusable(change: Change, view: GroupView): boolean {
  if (change.before === '' || change.after === '') return false;
  return tr39Skeleton(change.before) === tr39Skeleton(change.after) || skeleton(change.before) === skeleton(change.after) || mixedScriptSwap(change, view);
}

/** The same digits (as groups, in any order) and letters: "2026-07-01" vs "01/07/2026", "1,000" vs "1.000". */
function sameValueOtherFormat(a: string, b: string): boolean {
  if (a === b) return false;
  const digitsA = a.match(/\p{Nd}+/gu);
  const digitsB = b.match(/\p{Nd}+/gu);
  if (!digitsA || !digitsB) return false;
  const letters = (s: string): string => (s.match(/\p{L}/gu) ?? []).join('');
  const sortNum = (g: string[]): string => g.map((x) => x.replace(/^0+(?=\d)/, '')).sort().join(',');
  if (letters(a) !== letters(b)) return false;
  return sortNum(digitsA) === sortNum(digitsB) || digitsA.join('') === digitsB.join('');
}

/** The class of one group's change against the baseline: most suspicious reading wins. */
export function classifyGroup(view: GroupView): ChangeClass {
  const touched = view.changes.flatMap((c) => [...codePoints(c.before), ...codePoints(c.after)]);
  if (touched.some(isInvisible)) return 'invisible';
  if (touched.length > 0 && touched.every(isWhiteSpace)) return 'whitespace-lookalike';
  if (view.changes.some((c) => isConfusable(c, view))) return 'confusable';
  if (sameValueOtherFormat(view.baselineToken, view.token)) return 'format-change';
  if (touched.length > 0 && touched.every((ch) => isPunctuationOrSymbol(ch) || isWhiteSpace(ch))) {
    return 'punctuation-swap';
  }
  return 'value-change';
}

/** A span with several non-baseline groups takes the most suspicious of their classes. */
export function classifySpan(views: GroupView[]): ChangeClass {
  let best: ChangeClass = 'value-change';
  for (const v of views) {
    const c = classifyGroup(v);
    if (rank(c) < rank(best)) best = c;
  }
  return best;
}
