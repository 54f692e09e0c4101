/**
 * Zeller's delta debugging (ddmin), in its complement-only form: at granularity n the kept units
 * are cut into n chunks and each chunk's removal is tried; a removal that still reproduces is
 * kept and the granularity shrinks by one, otherwise it doubles, until single units cannot be
 * removed. The result is 1-minimal: removing any one unit left loses the variant.
 *
 * `test` is asked about several candidates at once (up to `batch`, so probes run in parallel);
 * the first candidate in chunk order that reproduces wins, so the result does not depend on how
 * many ran together. Candidates that are not valid values are never run.
 *
 * `start` sets the first granularity: what is left after coarser levels is mostly needed (a
 * keyword, a TLD), and then trying single units at once skips the rounds of halves that would
 * all fail (8 probes instead of 14 for an 8-letter keyword).
 */
export interface DdminOptions {
  batch: number;
  /** Whether a keep-mask makes a value at all (a host needs a label, a label a character). */
  valid: (keep: boolean[]) => boolean;
  /** Stops early (the run budget is spent): the search keeps what it has. */
  exhausted?: () => boolean;
  /** First granularity (default 2). */
  start?: number;
}

export async function ddmin(units: number, test: (keeps: boolean[][]) => Promise<boolean[]>, options: DdminOptions): Promise<boolean[]> {
  let keep = Array.from({ length: units }, () => true);
  let n = Math.max(2, options.start ?? 2);
  for (;;) {
    const kept = keep.flatMap((k, i) => (k ? [i] : []));
    if (kept.length === 0 || options.exhausted?.()) return keep;
    const parts = Math.min(n, kept.length);
    const chunks = Array.from({ length: parts }, (_, c) => kept.slice(Math.floor((c * kept.length) / parts), Math.floor(((c + 1) * kept.length) / parts)));
    const candidates = chunks
      .map((chunk) => {
        const drop = new Set(chunk);
        return keep.map((k, i) => k && !drop.has(i));
      })
      .filter(options.valid);
    let found: boolean[] | null = null;
    for (let i = 0; i < candidates.length && !found && !options.exhausted?.(); i += options.batch) {
      const slice = candidates.slice(i, i + options.batch);
      const ok = await test(slice);
      const j = ok.indexOf(true);
      if (j >= 0) found = slice[j]!;
    }
    if (found) {
      keep = found;
      n = Math.max(parts - 1, 2);
      continue;
    }
    if (parts >= kept.length) return keep;
    n = Math.min(parts * 2, kept.length);
  }
}
