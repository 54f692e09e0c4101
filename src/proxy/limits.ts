import { readFileSync } from 'node:fs';
import { log } from '../log.js';

/** What the transport allows one client before it closes the connection. */
export interface Limits {
  /** Client connections open at once; more are closed as they arrive. */
  maxConnections: number;
  /**
   * No byte either way for this long, and no request waiting for its response: the connection is
   * closed (also a tunnel that never starts TLS).
   */
  idleTimeoutMs: number;
  /** A request's headers not complete this long after its first byte: 408. */
  headerTimeoutMs: number;
  /** A request (headers and body) not complete this long after its first byte: 408. */
  bodyTimeoutMs: number;
}

/** The per-process open-files limit, when the platform says (Linux). */
function openFilesLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Generous for agents (one uses a handful of connections, a matrix of parallel runs a few
 * hundred), and within the process's file descriptors: a passthrough tunnel holds two, and the
 * captures and the upstream pool need some of their own.
 */
export function defaultLimits(): Limits {
  const files = openFilesLimit();
  return {
    maxConnections: files === null ? 1024 : Math.max(16, Math.min(4096, Math.floor((files - 256) / 2))),
    idleTimeoutMs: 300_000,
    headerTimeoutMs: 60_000,
    bodyTimeoutMs: 300_000,
  };
}

/**
 * Tunnelled client connections with a request waiting for its response (the tunnel relay keeps it):
 * not idle whatever the clock says, since an upstream may think for minutes before its first byte.
 */
export const awaitingResponse = new WeakSet<object>();

export type LimitKind = 'connections' | 'idle' | 'headers' | 'body' | 'idle-tunnel';

/**
 * Counts the times each limit was hit and logs the first of each kind only: 40 000 idle
 * connections must not become 40 000 log lines.
 */
export class LimitLog {
  private readonly hits = new Map<LimitKind, number>();

  hit(kind: LimitKind, message: string, fields: Record<string, unknown> = {}): void {
    const n = (this.hits.get(kind) ?? 0) + 1;
    this.hits.set(kind, n);
    if (n === 1) log.warn({ limit: kind, ...fields }, `${message} (logged once; later ones are counted)`);
  }

  counts(): Partial<Record<LimitKind, number>> {
    return Object.fromEntries(this.hits);
  }
}
