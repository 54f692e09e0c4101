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
  /** The span's own text in this group. */
  text: string;
  /** The span with the rest of its line (up to a tab: tools number lines "  5\t…"), for code-point classes. */
  line: string;
  /** Axis values of the cells in this group. */
  cellValues: Array<Record<string, string>>;
}

type Needles = (axis: string, value: string) => string[];

/** The one value `axis` has in every cell of the group, or null. */
function onlyValue(g: EchoGroup, axis: string): string | null {
  const values = new Set(g.cellValues.map((v) => v[axis]).filter((v): v is string => v !== undefined));
  return values.size === 1 ? [...values][0]! : null;
}

/**
 * For a code-point class, a span shorter than this proves nothing by being in a value (an
 * apostrophe is in any text); a whole changed word or value may be as short as it is.
 */
const COPIED_MIN_CODE_POINT = 3;

/**
 * An overt echo: in some group every cell writes its own value of an axis into the span, and
 * that value is not what the other groups write; or (`copied`) every group's text is a piece of
 * what its own value of an axis puts on the machine (a README in another language, read and sent).
 * The agent discloses the environment in clear. `copiedOnly`: the second test alone (for code-point
 * classes, where a value's own word in the token proves nothing).
 */
export function findEcho(axes: string[], groups: EchoGroup[], needles: Needles = (_, v) => needlesOf(v), copiedOnly = false): { axis: string; value: string } | null {
  for (const axis of axes) {
    if (!copiedOnly) {
      // The variants first: the baseline writes its own value too, but the report should name the
      // value that brings the change ("echoes llm-gateway.example.cn", not "api.anthropic.com").
      for (const g of [...groups.slice(1), ...groups.slice(0, 1)]) {
        const value = onlyValue(g, axis);
        if (value === null) continue;
        for (const needle of needles(axis, value)) {
          if (!g.token.includes(needle)) continue;
          if (groups.some((o) => o !== g && o.token.includes(needle))) continue;
          return { axis, value: needle };
        }
      }
    }
    // Every cell's own value holds its group's text (zh and zh-TW READMEs share a line, say). For a
    // code point, its whole line must come from the value: one full stop proves nothing. The line is
    // the group's representative run's, so it need only be in the value of one of its cells.
    const holds = (v: Record<string, string>, piece: string) => v[axis] !== undefined && needles(axis, v[axis]).some((n) => n.includes(piece));
    const copied = groups.every((g) =>
      g.text === ''
        ? true
        : copiedOnly
          ? g.line.length >= COPIED_MIN_CODE_POINT && g.cellValues.some((v) => holds(v, g.line))
          : g.cellValues.every((v) => holds(v, g.text)),
    );
    if (copied && groups.some((g) => g.text !== '')) {
      // Name the value the change brings in (the first group is the baseline).
      const g = groups.slice(1).find((x) => x.text !== '') ?? groups.find((x) => x.text !== '')!;
      return { axis, value: g.cellValues[0]![axis]! };
    }
  }
  return null;
}
