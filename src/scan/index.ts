import { createHash } from 'node:crypto';
import { pathShape } from '../diff/element-path.js';
import { flattenExchange } from '../diff/flatten.js';
import { codePointInfo } from '../diff/unicode.js';
import { toolVersion } from '../version.js';
import { isAllowed, parseAllow, type AllowList } from './allow.js';
import { KIND_MEANING, SCAN_KINDS, emptyLegitimate, judgeText, type Hit } from './judge.js';
import { ScanReportSchema, SCAN_VERSION, type ScanGroup, type ScanLocation, type ScanReport } from './schema.js';
import { readCaptures, type Captures } from './source.js';

export { readCaptures, ScanSourceError } from './source.js';
export { parseAllow, readAllowFile, AllowListError } from './allow.js';
export { SCAN_KINDS, type ScanKind } from './judge.js';
export { ScanReportSchema, type ScanReport, type ScanGroup } from './schema.js';

/**
 * promptdiff scan: one run's captures, no matrix. Every outbound field of every exchange is judged
 * (src/scan/judge.ts); the same code points in the same field of several requests (the system
 * prompt resent every turn) are one group. A screening: what it lists rarely belongs in a prompt,
 * but only rerunning the agent under other environments shows what the machine put there.
 */

const CONTEXT = 24;
const MAX_LOCATIONS = 1000;
const MAX_WORDS = 10;

/** body.messages[3].content → body.messages[].content: the same place in every turn. */
const normaliseField = pathShape;

function groupKey(kind: string, text: string, field: string): string {
  return JSON.stringify([kind, text, field]);
}

interface Draft {
  kind: Hit['kind'];
  text: string;
  field: string;
  looksLike?: string;
  decoded?: string;
  requests: Set<string>;
  occurrences: number;
  words: string[];
  locations: ScanLocation[];
  firstSeq: number;
}

export const SCREENING_NOTE =
  'a screening, not proof: these characters rarely belong in an English or code prompt, but one may be the agent’s own text, ' +
  'a file it read or yours. Whether one depends on the machine takes a matrix: promptdiff run SCENARIO (the axes you choose) ' +
  'or promptdiff audit SCENARIO (the built-in catalogue of machine factors)';

export async function scanPath(target: string, allow: AllowList = parseAllow([])): Promise<ScanReport> {
  return scanCaptures(await readCaptures(target), allow);
}

export function scanCaptures(captures: Captures, allow: AllowList = parseAllow([])): ScanReport {
  const drafts = new Map<string, Draft>();
  const ordinary = emptyLegitimate();
  let fields = 0;
  let nonAscii = 0;
  let suppressed = 0;
  for (const rec of captures.records) {
    const request = `${rec.run ?? ''}#${rec.id}`;
    for (const [field, value] of flattenExchange(rec)) {
      if (field === 'body(base64)') continue;
      fields++;
      if (!/[^\x00-\x7f]/.test(value)) continue;
      nonAscii += Array.from(value.replace(/[\x00-\x7f]/g, '')).length;
      const hits = judgeText(value, ordinary);
      const shortField = normaliseField(field);
      for (const hit of hits) {
        const text = value.slice(hit.offset, hit.offset + hit.length);
        if (isAllowed(allow, { kind: hit.kind, text, word: hit.word, field: shortField })) {
          suppressed++;
          continue;
        }
        const key = groupKey(hit.kind, text, shortField);
        let d = drafts.get(key);
        if (!d) {
          d = { kind: hit.kind, text, field: shortField, looksLike: hit.looksLike, decoded: hit.decoded, requests: new Set(), occurrences: 0, words: [], locations: [], firstSeq: rec.seq };
          drafts.set(key, d);
        }
        d.requests.add(request);
        d.occurrences++;
        if (d.words.length < MAX_WORDS && !d.words.includes(hit.word)) d.words.push(hit.word);
        if (d.locations.length < MAX_LOCATIONS) {
          d.locations.push({
            run: rec.run,
            exchange: rec.id,
            seq: rec.seq,
            field,
            offset: hit.offset,
            cpOffset: Array.from(value.slice(0, hit.offset)).length,
            context: {
              before: Array.from(value.slice(0, hit.offset)).slice(-CONTEXT).join(''),
              text,
              after: Array.from(value.slice(hit.offset + hit.length)).slice(0, CONTEXT).join(''),
            },
          });
        }
      }
    }
  }
  const rank = (k: Hit['kind']) => SCAN_KINDS.indexOf(k);
  const groups: ScanGroup[] = [...drafts.values()]
    .sort((a, b) => rank(a.kind) - rank(b.kind) || b.requests.size - a.requests.size || a.firstSeq - b.firstSeq || a.field.localeCompare(b.field))
    .map((d) => ({
      id: `s-${createHash('sha256').update(groupKey(d.kind, d.text, d.field)).digest('hex').slice(0, 10)}`,
      kind: d.kind,
      meaning: KIND_MEANING[d.kind],
      codePoints: [...new Set(Array.from(d.text))].map(codePointInfo),
      ...(d.looksLike !== undefined ? { looksLike: d.looksLike } : {}),
      ...(d.decoded !== undefined ? { decoded: d.decoded } : {}),
      field: d.field,
      requests: d.requests.size,
      occurrences: d.occurrences,
      words: d.words,
      locations: d.locations,
      locationsOmitted: d.occurrences - d.locations.length,
    }));
  const byKind: Record<string, number> = {};
  for (const g of groups) byKind[g.kind] = (byKind[g.kind] ?? 0) + 1;
  const runs = new Set(captures.records.map((r) => r.run).filter((r): r is string => r !== null));
  return ScanReportSchema.parse({
    v: SCAN_VERSION,
    tool: { name: 'promptdiff', version: toolVersion() },
    generatedAt: new Date().toISOString(),
    source: captures.source,
    shape: captures.shape,
    screening: true,
    scanned: { files: captures.files.length, exchanges: captures.records.length, runs: runs.size, fields, nonAscii },
    counts: { total: groups.length, byKind, occurrences: groups.reduce((n, g) => n + g.occurrences, 0) },
    groups,
    ordinary: { letters: Object.fromEntries(ordinary.letters), typographic: Object.fromEntries(ordinary.typographic) },
    allow: { entries: allow.entries, suppressed },
    warnings: captures.warnings,
    notes: [SCREENING_NOTE],
  });
}
