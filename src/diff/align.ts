import type { ExchangeRecord } from '../capture/schema.js';
import type { Location } from './findings-schema.js';
import { alignElements, near } from './elements.js';
import { flattenExchange, type ArrayShape, type Fields } from './flatten.js';

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

type Identity = Omit<Location, 'path' | 'ordinal' | 'exchange'>;

function identity(rec: ExchangeRecord): Identity {
  return {
    dialect: rec.dialect,
    endpoint: rec.parsed?.endpoint ?? null,
    model: rec.parsed?.model ?? null,
    method: rec.request.method,
    urlPath: pathWithoutQuery(rec.request.path),
  };
}

/**
 * Which requests may be the same logical request. For a recognised dialect the operation is
 * known from the dialect (endpoints are matched on the path's suffix), so the URL path is left
 * out: an agent whose base URL carries a path prefix in some cells (https://gw.example.cn/anthropic)
 * sends the same request to /anthropic/v1/messages, and the request line then shows the prefix as
 * a compared value. Unrecognised traffic has nothing but its path to go by.
 */
function groupKey(id: Identity): string {
  const recognised = id.dialect !== 'unknown' && id.endpoint !== null;
  return `${id.dialect} ${id.endpoint ?? '-'} ${id.model ?? '-'} ${id.method}${recognised ? '' : ` ${id.urlPath}`}`;
}

/** The readable exchange label (without ordinal): the identity of the slot's first request, path included. */
function label(id: Identity): string {
  return `${id.dialect} ${id.endpoint ?? '-'} ${id.model ?? '-'} ${id.method} ${id.urlPath}`;
}

/**
 * A cheap summary of a request for telling same-key requests apart: the conversation's shape
 * (message roles in order, and with repeats folded), the system prompt's length and opening, the
 * tool count and the size.
 * Run-to-run noise (a uuid in the prompt) and small environment-driven edits barely move it.
 */
interface Signature {
  /** The URL path without its query. */
  path: string;
  roles: string;
  /** The roles with consecutive repeats folded: an extra leading user message (a reminder) leaves it alone. */
  turns: string;
  messages: number;
  systemLength: number;
  systemHead: string;
  tools: number;
  size: number;
}

const MESSAGE = /^body\.(?:messages|contents|input)\[(\d+)\](.*)$/;
const TOOL = /^body\.tools\[(\d+)\]/;
const SYSTEM = /^body\.(?:system|systemInstruction|instructions)(?![\w$-])/;
const SYSTEM_HEAD = 64;

function signature(path: string, fields: Fields): Signature {
  const roles: string[] = [];
  let messages = 0;
  let tools = 0;
  let systemLength = 0;
  let systemHead = '';
  let size = 0;
  for (const [path, value] of fields) {
    size += value.length;
    if (!path.startsWith('body')) continue;
    const m = MESSAGE.exec(path);
    if (m) {
      const i = Number(m[1]);
      if (i + 1 > messages) messages = i + 1;
      if (m[2] === '.role') roles[i] = value;
      continue;
    }
    const t = TOOL.exec(path);
    if (t) {
      tools = Math.max(tools, Number(t[1]) + 1);
      continue;
    }
    if (SYSTEM.test(path) && !path.endsWith('{keys}')) {
      systemLength += value.length;
      if (systemHead.length < SYSTEM_HEAD) systemHead += value.slice(0, SYSTEM_HEAD - systemHead.length);
    }
  }
  const all = Array.from({ length: messages }, (_, i) => roles[i] ?? '');
  const turns = all.filter((r, i) => i === 0 || r !== all[i - 1]).join(',');
  return { path, roles: all.join(','), turns, messages, systemLength, systemHead, tools, size };
}

/**
 * How alike two same-key requests are, in integer points. Every pair scores at least 1, so when
 * nothing tells requests apart the alignment falls back to their order; a shared conversation
 * shape outweighs any number of shape-less pairings nearby.
 */
function similarity(a: Signature, b: Signature): number {
  let s = 1;
  // The same path, or the same one under a base-URL prefix (/anthropic/v1/messages, /v1/messages).
  if (a.path === b.path || a.path.endsWith(b.path) || b.path.endsWith(a.path)) s += 4;
  if (a.roles === b.roles) s += 8;
  else if (a.turns === b.turns) s += 6;
  else if (a.messages === b.messages) s += 4;
  if (a.systemHead === b.systemHead) s += 2;
  if (near(a.systemLength, b.systemLength, 0.9)) s += 2;
  else if (near(a.systemLength, b.systemLength, 0.5)) s += 1;
  if (a.tools === b.tools) s += 1;
  if (near(a.size, b.size, 0.9)) s += 1;
  return s;
}

interface Slot {
  /** The identity of the first request in this slot: the exchange label and location. */
  id: Identity;
  /** The signature of the first run that sent this request: what later runs are matched against. */
  ref: Signature;
  runs: Map<string, Fields>;
}

interface Group {
  slots: Slot[];
}

/**
 * Aligns run by run, so each run's raw records can be dropped once flattened. Within each group
 * of same-key requests, a run's requests are matched to the slots seen so far by a maximum-weight
 * assignment on similarity, order breaking ties: requests sent in parallel whose order swaps
 * between runs still meet their counterparts, an extra request in one run (an agent retry, one
 * more turn) becomes a slot of its own, sent only in the runs that sent it, and every later
 * request still meets its counterpart. Deterministic: runs are added in manifest order.
 */
export class Aligner {
  private readonly groups = new Map<string, Group>();
  /** Each request's array shapes, for aligning array elements once every run is in. */
  private readonly shapes = new Map<Fields, ArrayShape[]>();

  add(runId: string, records: ExchangeRecord[]): void {
    const ordered = [...records].sort((a, b) => a.seq - b.seq);
    const byGroup = new Map<string, Request[]>();
    for (const rec of ordered) {
      const id = identity(rec);
      const arrays: ArrayShape[] = [];
      const fields = flattenExchange(rec, arrays);
      this.shapes.set(fields, arrays);
      const key = groupKey(id);
      const list = byGroup.get(key) ?? [];
      list.push({ id, fields, sig: signature(id.urlPath, fields) });
      byGroup.set(key, list);
    }
    for (const [key, requests] of byGroup) {
      let group = this.groups.get(key);
      if (!group) {
        group = { slots: [] };
        this.groups.set(key, group);
      }
      group.slots = alignInto(group.slots, runId, requests);
    }
  }

  /**
   * The aligned requests, keyed "<dialect> <endpoint> <model> <method> <path> #<ordinal>" (ordinal in
   * slot order), with the array elements of each request aligned across its runs (elements.ts).
   */
  finish(): Alignment {
    const out: Alignment = new Map();
    const shapeOf = (fields: Fields) => this.shapes.get(fields);
    for (const { slots } of this.groups.values()) {
      slots.forEach((slot, i) => {
        const key = `${label(slot.id)} #${i + 1}`;
        out.set(key, { key, location: { ...slot.id, exchange: key, ordinal: i + 1 }, runs: alignElements(slot.runs, shapeOf) });
      });
    }
    this.shapes.clear();
    return out;
  }
}

/** Merges one run's same-key requests into the slot list; returns the new slot list. */
interface Request {
  id: Identity;
  fields: Fields;
  sig: Signature;
}

/**
 * Same-key requests up to this many (requests × slots) are matched by a full assignment, so two
 * requests that raced and swapped order still meet their counterparts; beyond it (long sequential
 * sessions, where nothing races) by the monotone alignment, which is quadratic.
 */
const MAX_ASSIGNMENT = 200 * 200;

function alignInto(slots: Slot[], runId: string, requests: Request[]): Slot[] {
  if (slots.length === 0 || requests.length * slots.length > MAX_ASSIGNMENT) return alignMonotone(slots, runId, requests);
  const n = requests.length;
  const m = slots.length;
  // Similarity decides; among equally similar pairings, the one closest to the order sent wins
  // (scale makes one point of similarity outweigh any sum of order distances).
  const scale = Math.min(n, m) * (n + m) + 1;
  const weight = (i: number, j: number) => similarity(requests[i]!.sig, slots[j]!.ref) * scale - Math.abs(i - j);
  const slotOf = maxWeightAssignment(n, m, weight);

  for (let i = 0; i < n; i++) if (slotOf[i]! >= 0) slots[slotOf[i]!]!.runs.set(runId, requests[i]!.fields);
  // A request without a counterpart becomes a slot of its own, after the slot of the nearest
  // earlier request that has one (an extra turn or a retry sits where it was sent).
  const after = new Map<number, Slot[]>();
  let anchor = -1;
  for (let i = 0; i < n; i++) {
    if (slotOf[i]! >= 0) {
      anchor = slotOf[i]!;
      continue;
    }
    const list = after.get(anchor) ?? [];
    list.push({ id: requests[i]!.id, ref: requests[i]!.sig, runs: new Map([[runId, requests[i]!.fields]]) });
    after.set(anchor, list);
  }
  const out: Slot[] = [...(after.get(-1) ?? [])];
  slots.forEach((slot, j) => out.push(slot, ...(after.get(j) ?? [])));
  return out;
}

/**
 * The assignment of rows 0..n-1 to distinct columns 0..m-1 with the largest total weight, as many
 * rows assigned as there are columns (Kuhn-Munkres with potentials, O(n²m)): the column of each
 * row, or -1.
 */
export function maxWeightAssignment(n: number, m: number, weight: (row: number, col: number) => number): number[] {
  const transpose = n > m;
  const rows = transpose ? m : n;
  const cols = transpose ? n : m;
  const cost = (r: number, c: number) => -(transpose ? weight(c - 1, r - 1) : weight(r - 1, c - 1));
  const u = new Float64Array(rows + 1);
  const v = new Float64Array(cols + 1);
  /** rowOfCol[c]: the row assigned to column c (1-based; 0 = none). */
  const rowOfCol = new Int32Array(cols + 1);
  const way = new Int32Array(cols + 1);
  for (let r = 1; r <= rows; r++) {
    rowOfCol[0] = r;
    let c0 = 0;
    const minv = new Float64Array(cols + 1).fill(Infinity);
    const used = new Uint8Array(cols + 1);
    do {
      used[c0] = 1;
      const r0 = rowOfCol[c0]!;
      let delta = Infinity;
      let c1 = 0;
      for (let c = 1; c <= cols; c++) {
        if (used[c]) continue;
        const cur = cost(r0, c) - u[r0]! - v[c]!;
        if (cur < minv[c]!) {
          minv[c] = cur;
          way[c] = c0;
        }
        if (minv[c]! < delta) {
          delta = minv[c]!;
          c1 = c;
        }
      }
      for (let c = 0; c <= cols; c++) {
        if (used[c]) {
          const r1 = rowOfCol[c]!;
          u[r1] = u[r1]! + delta;
          v[c] = v[c]! - delta;
        } else {
          minv[c] = minv[c]! - delta;
        }
      }
      c0 = c1;
    } while (rowOfCol[c0] !== 0);
    do {
      const c1 = way[c0]!;
      rowOfCol[c0] = rowOfCol[c1]!;
      c0 = c1;
    } while (c0 !== 0);
  }
  const out = new Array<number>(n).fill(-1);
  for (let c = 1; c <= cols; c++) {
    const r = rowOfCol[c]!;
    if (r === 0) continue;
    if (transpose) out[c - 1] = r - 1;
    else out[r - 1] = c - 1;
  }
  return out;
}

/** The monotone alignment: a maximum-weight LCS of the run's requests against the slots. */
function alignMonotone(slots: Slot[], runId: string, requests: Request[]): Slot[] {
  const sigs = requests.map((r) => r.sig);
  const n = sigs.length;
  const m = slots.length;
  // best[i][j]: the best total similarity aligning sigs[i..] with slots[j..].
  const width = m + 1;
  const best = new Float64Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      const match = similarity(sigs[i]!, slots[j]!.ref) + best[(i + 1) * width + j + 1]!;
      best[i * width + j] = Math.max(match, best[(i + 1) * width + j]!, best[i * width + j + 1]!);
    }
  }
  const out: Slot[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m) {
      const here = best[i * width + j]!;
      // Prefer matching now: the earlier of two identical requests takes the slot, the retry is the extra one.
      if (similarity(sigs[i]!, slots[j]!.ref) + best[(i + 1) * width + j + 1]! === here) {
        slots[j]!.runs.set(runId, requests[i]!.fields);
        out.push(slots[j]!);
        i++;
        j++;
        continue;
      }
      if (best[i * width + j + 1]! === here) {
        out.push(slots[j]!);
        j++;
        continue;
      }
    } else if (j < m) {
      out.push(slots[j]!);
      j++;
      continue;
    }
    out.push({ id: requests[i]!.id, ref: sigs[i]!, runs: new Map([[runId, requests[i]!.fields]]) });
    i++;
  }
  return out;
}
