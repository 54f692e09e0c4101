import type { ExchangeRecord } from '../capture/schema.js';
import type { Location } from './findings-schema.js';
import { flattenExchange, type Fields } from './flatten.js';

/** One logical request, as seen in each run that sent it. */
export interface AlignedRequest {
  key: string;
  location: Omit<Location, 'path'>;
  /** runId → the request's fields in that run */
  runs: Map<string, Fields>;
}

export type Alignment = Map<string, AlignedRequest>;

/**
 * The query string is left out of the key: it often carries per-run values (request ids, beta
 * flags with dates) and the request line still compares it in full.
 */
function pathWithoutQuery(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

function identity(rec: ExchangeRecord): Omit<Location, 'path' | 'ordinal' | 'exchange'> {
  return {
    dialect: rec.dialect,
    endpoint: rec.parsed?.endpoint ?? null,
    model: rec.parsed?.model ?? null,
    method: rec.request.method,
    urlPath: pathWithoutQuery(rec.request.path),
  };
}

function keyOf(id: ReturnType<typeof identity>): string {
  return `${id.dialect} ${id.endpoint ?? '-'} ${id.model ?? '-'} ${id.method} ${id.urlPath}`;
}

/**
 * Adds one run's exchanges. The ordinal among same-identity requests makes "the second call to
 * messages with this model" the same request in every run, whatever else was interleaved.
 * Fields are flattened here so the run's raw records can be dropped right away.
 */
export function addRun(alignment: Alignment, runId: string, records: ExchangeRecord[]): void {
  const ordered = [...records].sort((a, b) => a.seq - b.seq);
  const counts = new Map<string, number>();
  for (const rec of ordered) {
    const id = identity(rec);
    const base = keyOf(id);
    const ordinal = (counts.get(base) ?? 0) + 1;
    counts.set(base, ordinal);
    const key = `${base} #${ordinal}`;
    let entry = alignment.get(key);
    if (!entry) {
      entry = { key, location: { ...id, exchange: key, ordinal }, runs: new Map() };
      alignment.set(key, entry);
    }
    entry.runs.set(runId, flattenExchange(rec));
  }
}
