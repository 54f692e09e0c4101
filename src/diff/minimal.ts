import type { Change } from './findings-schema.js';
import { editRegions } from './regions.js';
import { codePointInfo, codePoints } from './unicode.js';

export function countCodePoints(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // A low surrogate after a high one is the second half of one code point.
    if (!(c >= 0xdc00 && c <= 0xdfff && i > 0 && text.charCodeAt(i - 1) >= 0xd800 && text.charCodeAt(i - 1) <= 0xdbff)) n++;
  }
  return n;
}

export interface SpanSide {
  text: string;
  /** Where `text` starts in its full field string. */
  offset: number;
  cpOffset: number;
}

/** The smallest edits turning one group's span into another's, placed in the full strings. */
export function minimalChanges(before: SpanSide, after: SpanSide): Change[] {
  const edits = editRegions(before.text, after.text);
  let delta = 0;
  return edits.map((e) => {
    const removed = before.text.slice(e.start, e.end);
    const afterStart = e.start + delta;
    delta += e.text.length - removed.length;
    return {
      offsetBefore: before.offset + e.start,
      offsetAfter: after.offset + afterStart,
      cpOffsetBefore: before.cpOffset + countCodePoints(before.text.slice(0, e.start)),
      cpOffsetAfter: after.cpOffset + countCodePoints(after.text.slice(0, afterStart)),
      before: removed,
      after: e.text,
      removed: codePoints(removed).map(codePointInfo),
      added: codePoints(e.text).map(codePointInfo),
    };
  });
}
