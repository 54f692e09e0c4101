import type { Occurrence } from './findings-schema.js';

/** Aligned exchange keys end in " #<ordinal>"; requests to the same endpoint and model share the rest. */
function splitKey(exchange: string): [string, string] {
  const m = / (#\d+)$/.exec(exchange);
  return m ? [exchange.slice(0, m.index), m[1]!] : [exchange, ''];
}

/**
 * The requests of a finding, short: "anthropic-messages messages claude-sonnet-4-5 POST /v1/messages #1, #2;
 * anthropic-messages messages claude-haiku-4-5 POST /v1/messages #1" (ordinals of one endpoint together).
 */
export function compactExchanges(locations: ReadonlyArray<Pick<Occurrence, 'exchange'>>): string {
  const byBase = new Map<string, string[]>();
  for (const l of locations) {
    const [base, ordinal] = splitKey(l.exchange);
    const list = byBase.get(base) ?? [];
    if (ordinal && !list.includes(ordinal)) list.push(ordinal);
    byBase.set(base, list);
  }
  return [...byBase].map(([base, ords]) => (ords.length ? `${base} ${ords.join(', ')}` : base)).join('; ');
}

/** The field paths of a finding's occurrences, each once, in order (usually one). */
export function distinctPaths(locations: ReadonlyArray<Pick<Occurrence, 'path'>>): string[] {
  return [...new Set(locations.map((l) => l.path))];
}

/** "in 2 requests", or "in 3 places in 2 requests" when one request carries the change twice. */
export function howMany(locations: ReadonlyArray<Pick<Occurrence, 'exchange'>>): string {
  const requests = new Set(locations.map((l) => l.exchange)).size;
  const places = locations.length > requests ? `${locations.length} places in ` : '';
  return `in ${places}${requests} request${requests === 1 ? '' : 's'}`;
}

/** "exchange path" for one place; "path in N requests (exchanges)" for several. */
export function describeWhere(locations: ReadonlyArray<Pick<Occurrence, 'exchange' | 'path'>>, suffix = ''): string {
  const first = locations[0]!;
  if (locations.length === 1) return `${first.exchange} ${first.path}${suffix}`;
  return `${distinctPaths(locations).join(' | ')}${suffix} ${howMany(locations)} (${compactExchanges(locations)})`;
}

/** Numeric-aware order of exchange keys, so "#10" comes after "#9". */
export function compareExchange(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}
