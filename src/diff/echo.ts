/**
 * The strings by which an axis value can show up in traffic: the value itself and, for URLs,
 * the host. Locale values also show up without their encoding suffix (zh_CN.UTF-8 → zh_CN).
 */
export function needlesOf(value: string): string[] {
  const out = new Set<string>([value]);
  try {
    const url = new URL(value);
    if (url.hostname) {
      out.add(url.hostname);
      out.add(url.host);
    }
  } catch {
    // Not a URL.
  }
  const locale = /^([a-z]{2,3}_[A-Z]{2})[.@]/.exec(value);
  if (locale) out.add(locale[1]!);
  // Very short values (LANG=C, 0/1 flags) occur everywhere by chance: they prove nothing.
  return [...out].filter((n) => n.length >= 3);
}

export interface EchoGroup {
  /** The text around the span in this group (whitespace-delimited token). */
  token: string;
  /** Axis values of the cells in this group. */
  cellValues: Array<Record<string, string>>;
}

/**
 * An overt echo: in some group every cell writes its own value of an axis into the span, and
 * that value is not what the other groups write. The agent discloses the environment in clear.
 */
export function findEcho(axes: string[], groups: EchoGroup[]): { axis: string; value: string } | null {
  for (const axis of axes) {
    for (const g of groups) {
      const values = new Set(g.cellValues.map((v) => v[axis]).filter((v): v is string => v !== undefined));
      if (values.size !== 1) continue;
      const value = [...values][0]!;
      for (const needle of needlesOf(value)) {
        if (!g.token.includes(needle)) continue;
        if (groups.some((o) => o !== g && o.token.includes(needle))) continue;
        return { axis, value: needle };
      }
    }
  }
  return null;
}
