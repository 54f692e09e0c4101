import { diffArrays } from 'diff';

/** ref.slice(start, end) is replaced by `text` (start === end: an insertion). UTF-16 offsets. */
export interface Edit {
  start: number;
  end: number;
  text: string;
}

/** Below this many code units on both sides a code-point diff is cheap enough to run directly. */
const CHAR_LIMIT = 4096;
/** Past this edit distance the texts are simply different; one edit over the whole middle says so. */
const MAX_EDITS = 2000;

function isHigh(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
function isLow(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/**
 * The edits that turn `ref` into `other`, as small as a code-point diff finds them.
 * Equal strings cost nothing; long strings are first cut to their differing middle, then diffed
 * by tokens, and only the changed token runs are diffed by code point, so a 100 KB prompt with a
 * few changes costs about as much as scanning it.
 */
export function editRegions(ref: string, other: string): Edit[] {
  if (ref === other) return [];
  const max = Math.min(ref.length, other.length);
  let p = 0;
  while (p < max && ref.charCodeAt(p) === other.charCodeAt(p)) p++;
  // Never cut a surrogate pair in two: the edit must hold whole code points.
  if (p > 0 && isHigh(ref.charCodeAt(p - 1))) p--;
  let s = 0;
  while (s < max - p && ref.charCodeAt(ref.length - 1 - s) === other.charCodeAt(other.length - 1 - s)) s++;
  if (s > 0 && isLow(ref.charCodeAt(ref.length - s))) s--;
  const a = ref.slice(p, ref.length - s);
  const b = other.slice(p, other.length - s);
  return diffMiddle(a, b).map((e) => ({ start: e.start + p, end: e.end + p, text: e.text }));
}

function diffMiddle(a: string, b: string): Edit[] {
  if (a.length === 0 || b.length === 0) return [{ start: 0, end: a.length, text: b }];
  if (a.length <= CHAR_LIMIT && b.length <= CHAR_LIMIT) return diffCodePoints(a, b);
  return diffTokens(a, b);
}

/** Words, runs of white space, and every other code point alone: a uuid is one token, a swapped apostrophe another. */
const TOKEN = /[\p{L}\p{N}\p{M}_]+|\s+|[^]/gu;

function diffTokens(a: string, b: string): Edit[] {
  const ta = a.match(TOKEN) ?? [];
  const tb = b.match(TOKEN) ?? [];
  const changes = diffArrays(ta, tb, { maxEditLength: MAX_EDITS });
  if (!changes) return [{ start: 0, end: a.length, text: b }];
  const edits: Edit[] = [];
  let posA = 0;
  let i = 0;
  while (i < changes.length) {
    const c = changes[i]!;
    if (!c.added && !c.removed) {
      for (const t of c.value) posA += t.length;
      i++;
      continue;
    }
    // A hunk: removed and/or added token runs between two equal runs.
    let removed = '';
    let added = '';
    while (i < changes.length && (changes[i]!.added || changes[i]!.removed)) {
      const h = changes[i]!;
      if (h.removed) removed += h.value.join('');
      else added += h.value.join('');
      i++;
    }
    const inner =
      removed.length > 0 && added.length > 0 && removed.length <= CHAR_LIMIT && added.length <= CHAR_LIMIT
        ? diffCodePoints(removed, added)
        : [{ start: 0, end: removed.length, text: added }];
    for (const e of inner) edits.push({ start: e.start + posA, end: e.end + posA, text: e.text });
    posA += removed.length;
  }
  return edits;
}

function diffCodePoints(a: string, b: string): Edit[] {
  const ca = Array.from(a);
  const cb = Array.from(b);
  const changes = diffArrays(ca, cb, { maxEditLength: MAX_EDITS });
  if (!changes) return [{ start: 0, end: a.length, text: b }];
  const edits: Edit[] = [];
  let posA = 0;
  let open: Edit | null = null;
  for (const c of changes) {
    const text = c.value.join('');
    if (!c.added && !c.removed) {
      if (open) edits.push(open);
      open = null;
      posA += text.length;
      continue;
    }
    open ??= { start: posA, end: posA, text: '' };
    if (c.removed) {
      posA += text.length;
      open.end = posA;
    } else {
      open.text += text;
    }
  }
  if (open) edits.push(open);
  return edits.flatMap((e) => splitEqualLength(a, e));
}

/**
 * A replacement of as many code points as it removes is that many one-for-one swaps: "6-" → "5/"
 * in a date is the year and the separator, which other values change one without the other, and
 * a region per swap lets each be attributed to its own cause.
 */
function splitEqualLength(a: string, e: Edit): Edit[] {
  const removed = Array.from(a.slice(e.start, e.end));
  const added = Array.from(e.text);
  if (removed.length < 2 || removed.length !== added.length) return [e];
  const out: Edit[] = [];
  let pos = e.start;
  removed.forEach((ch, i) => {
    if (ch !== added[i]) out.push({ start: pos, end: pos + ch.length, text: added[i]! });
    pos += ch.length;
  });
  return out;
}
