import { describe, expect, it } from 'vitest';
import { classifyGroup, classifySpan, rank, type ChangeClass, type GroupView } from '../src/diff/classify.js';
import { FINDING_CLASSES } from '../src/diff/finding-classes.js';
import type { Change } from '../src/diff/findings-schema.js';

/**
 * The differ's classifier, case by case: a baseline text and a variant's, one edit between them
 * (their common prefix and suffix cut off), and the class it must get. End-to-end tests (diff.test.ts)
 * show classes through the whole pipeline; these pin the rules themselves, so a change to one rule
 * that reclassifies another kind of edit fails here by name.
 */
function change(before: string, after: string): Change {
  const a = Array.from(before);
  const b = Array.from(after);
  let p = 0;
  while (p < a.length && p < b.length && a[p] === b[p]) p++;
  let s = 0;
  while (s < a.length - p && s < b.length - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++;
  const removed = a.slice(p, a.length - s).join('');
  const added = b.slice(p, b.length - s).join('');
  const offset = a.slice(0, p).join('').length;
  return { offsetBefore: offset, offsetAfter: offset, cpOffsetBefore: p, cpOffsetAfter: p, before: removed, after: added, removed: [], added: [] };
}

function view(baseline: string, variant: string, context?: { baseline: string; variant: string }): GroupView {
  return {
    changes: [change(baseline, variant)],
    baselineToken: baseline,
    token: variant,
    context: context?.variant ?? variant,
    baselineContext: context?.baseline ?? baseline,
  };
}

const CASES: Array<[string, string, string, ChangeClass]> = [
  // invisible: format characters, bidi controls, variation selectors, tags — whatever else changed with them
  ['zero-width space', 'hello', 'hel\u200blo', 'invisible'],
  ['word joiner', 'a-b', 'a\u2060-b', 'invisible'],
  ['bidi override', 'abc', '\u202eabc', 'invisible'],
  ['variation selector', 'x', 'x\ufe0f', 'invisible'],
  ['tag character', 'a', 'a\u{e0041}', 'invisible'],
  ['byte order mark', 'text', '\ufefftext', 'invisible'],
  ['invisible beside a homoglyph wins', 'apple', '\u0430\u200bpple', 'invisible'],
  // whitespace look-alikes: every edited code point is White_Space
  ['no-break space', 'a b', 'a\u00a0b', 'whitespace-lookalike'],
  ['ideographic space', 'a b', 'a\u3000b', 'whitespace-lookalike'],
  ['a second space', 'a b', 'a  b', 'whitespace-lookalike'],
  // confusables: TR39 skeletons, and a letter of another script inside a word
  ['Cyrillic a in a Latin word', 'apple', '\u0430pple', 'confusable'],
  ['Greek omicron in a Latin word', 'hello', 'hell\u03bf', 'confusable'],
  ['fullwidth letter', 'ABC', '\uff21BC', 'confusable'],
  ['curly apostrophe', "don't", 'don\u2019t', 'confusable'],
  ['modifier apostrophe', "it's", 'it\u02bcs', 'confusable'],
  // format changes: the same digit groups and letters, written another way
  ['date order and separators', '2026-07-01', '01/07/2026', 'format-change'],
  ['thousands separator', '1,000', '1.000', 'format-change'],
  ['leading zero', '2026-7-1', '2026-07-01', 'format-change'],
  // punctuation swaps: punctuation or symbols, not look-alikes, no digits to keep
  ['full stop for comma', 'end.', 'end,', 'punctuation-swap'],
  ['question for exclamation', 'why?', 'why!', 'punctuation-swap'],
  // value changes: anything else
  ['another zone', 'UTC', 'CST', 'value-change'],
  ['a transliterated word', 'Moscow', '\u041c\u043e\u0441\u043a\u0432\u0430', 'value-change'],
  ['another number', 'pid 4242', 'pid 4243', 'value-change'],
  ['a word added', 'hi', 'hi there', 'value-change'],
  ['a letter of another script where the text is of that script', '\u0434\u0430', '\u0434a', 'confusable'],
];

describe('classifyGroup', () => {
  it.each(CASES)('%s: %j → %j is %s', (_name, baseline, variant, expected) => {
    expect(classifyGroup(view(baseline, variant))).toBe(expected);
  });

  it('judges a lone letter by the text around it', () => {
    // One Cyrillic letter for a Latin one: suspicious inside Latin text, a plain change alone.
    const lone = { baseline: 'the word a here', variant: 'the word \u0430 here' };
    expect(classifyGroup(view('a', '\u0430', lone))).toBe('confusable');
  });
});

describe('classifySpan', () => {
  it('takes the most suspicious class of its variants', () => {
    expect(classifySpan([view('UTC', 'CST'), view('hello', 'hel\u200blo')])).toBe('invisible');
    expect(classifySpan([view('end.', 'end,'), view('apple', '\u0430pple')])).toBe('confusable');
    expect(classifySpan([view('UTC', 'CST')])).toBe('value-change');
    expect(classifySpan([])).toBe('value-change');
  });

  it('ranks classes in report order', () => {
    expect(FINDING_CLASSES.map(rank)).toEqual(FINDING_CLASSES.map((_, i) => i));
    expect(rank('invisible')).toBeLessThan(rank('confusable'));
    expect(rank('format-change')).toBeLessThan(rank('value-change'));
  });
});
