export interface ExpectRule {
  path: string;
  axis: string;
}

/**
 * Rule paths are field paths with wildcards: `*` stands for one key or index
 * (`body.messages[*].content`), `**` for any run of path. `headers.x-workdir` matches exactly.
 */
export function pathPattern(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*' && pattern[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (ch === '*') {
      re += '[^.\\[\\]]*';
    } else {
      re += ch.replace(/[\\^$.|?+()[\]{}]/g, '\\$&');
    }
  }
  return new RegExp(`^${re}$`);
}

/** The rule that allows this field to follow these axes, if every attributing axis is allowed. */
export function matchExpected(rules: ExpectRule[], path: string, axes: string[]): ExpectRule | null {
  if (axes.length === 0) return null;
  const matching = rules.filter((r) => pathPattern(r.path).test(path));
  const allowed = new Set(matching.map((r) => r.axis));
  if (!axes.every((a) => allowed.has(a))) return null;
  return matching.find((r) => axes.includes(r.axis)) ?? null;
}
