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
 * (message roles in order), the system prompt's length and opening, the tool count and the size.
 * Run-to-run noise (a uuid in the prompt) and small environment-driven edits barely move it.
 */
interface Signature {
  /** The URL path without its query. */
  path: string;
  roles: string;
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
  return { path, roles: Array.from({ length: messages }, (_, i) => roles[i] ?? '').join(','), messages, systemLength, systemHead, tools, size };
}

function near(a: number, b: number, ratio: number): boolean {
  const hi = Math.max(a, b);
  return hi === 0 || Math.min(a, b) / hi >= ratio;
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
 * monotone alignment (an LCS whose matches are weighted by similarity): an extra request in one
 * run (an agent retry, one more turn) becomes a slot of its own, sent only in the runs that sent
 * it, and every later request still meets its counterpart. Deterministic: runs are added in
 * manifest order, ties go to the earlier request.
 */
export class Aligner {
  private readonly groups = new Map<string, Group>();

  add(runId: string, records: ExchangeRecord[]): void {
    const ordered = [...records].sort((a, b) => a.seq - b.seq);
    const byGroup = new Map<string, Request[]>();
    for (const rec of ordered) {
      const id = identity(rec);
      const fields = flattenExchange(rec);
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

  /** The aligned requests, keyed "<dialect> <endpoint> <model> <method> <path> #<ordinal>" (ordinal in slot order). */
  finish(): Alignment {
    const out: Alignment = new Map();
    for (const { slots } of this.groups.values()) {
      slots.forEach((slot, i) => {
        const key = `${label(slot.id)} #${i + 1}`;
        out.set(key, { key, location: { ...slot.id, exchange: key, ordinal: i + 1 }, runs: slot.runs });
      });
    }
    return out;
  }
}

/** Merges one run's same-key requests into the slot list; returns the new slot list. */
interface Request {
  id: Identity;
  fields: Fields;
  sig: Signature;
}

function alignInto(slots: Slot[], runId: string, requests: Request[]): Slot[] {
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
