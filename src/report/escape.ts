/**
 * Text as a terminal can show it without hiding anything: printable ASCII stays, every other
 * code point becomes \u{XXXX}, so a curly quote or a zero-width space is as visible as a letter.
 */
export function escapeCodePoints(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (cp >= 0x20 && cp < 0x7f) out += ch;
    else out += `\\u{${cp.toString(16).toUpperCase().padStart(4, '0')}}`;
  }
  return out;
}

/** Shortens long text in the middle, keeping both ends readable. */
export function ellipsis(text: string, max: number): string {
  const cps = Array.from(text);
  if (cps.length <= max) return text;
  const half = Math.floor((max - 1) / 2);
  return `${cps.slice(0, half).join('')}…${cps.slice(cps.length - half).join('')}`;
}
