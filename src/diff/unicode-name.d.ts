// unicode-name ships JavaScript only; these are the two functions the differ calls.
declare module 'unicode-name' {
  export function unicodeName(char: string | number): string | undefined;
  export function unicodeLabel(char: string | number): string | undefined;
}
