import type { RecordDraft, StoredRecord } from '../capture/schema.js';
import { readRequest } from '../capture/view.js';
import { escapeCodePoints } from '../report/escape.js';

/*
 * One line per exchange as it completes, on the proxy's terminal (issue 11 item 3), the way
 * mitmdump prints its flows: a user sees that traffic arrives and what it is without opening the
 * capture. The line is made from the record: method, host, path, status and sizes as it holds them,
 * the dialect and model as a reader of the capture derives them (capture/view.ts), off the proxy's
 * hot path: the line is made once the record is written, and only when lines are shown. Whether the
 * system prompt changed since the last request to the same endpoint is a string comparison with the
 * one kept per endpoint.
 *
 *   12:04:31 reverse POST 127.0.0.1:8080/v1/messages anthropic claude-sonnet-4-5 200 52.1k>1.2k system changed
 */

const MAX_PATH = 80;
const MAX_ERROR = 80;
/** Endpoints remembered for the system-prompt marker; a client inventing paths cannot grow it past this. */
const MAX_ENDPOINTS = 1000;

/** 1234 -> 1.2k, 5_300_000 -> 5.3M: mitmdump's short sizes. */
export function shortSize(n: number): string {
  if (n < 1000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(1)}k`;
  if (n < 1_000_000_000) return `${(n / 1_000_000).toFixed(1)}M`;
  return `${(n / 1_000_000_000).toFixed(1)}G`;
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export class FlowLines {
  /** The last system prompt seen per endpoint (route, host and path without the query). */
  private readonly lastSystem = new Map<string, string[]>();

  constructor(private readonly now: (d: RecordDraft | StoredRecord) => Date = (d) => new Date(d.completedAt)) {}

  /** The line for one finished exchange (no newline); remembers its system prompt. */
  line(d: RecordDraft | StoredRecord): string {
    const t = this.now(d);
    const time = [t.getHours(), t.getMinutes(), t.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
    const req = d.request;
    const where = escapeCodePoints(clip(`${req.host}${req.path}`, MAX_PATH + req.host.length));
    const { reading } = readRequest(req);
    const parts = [time, d.route, escapeCodePoints(req.method || '-'), where, reading.dialectName];
    const model = reading.parsed.model;
    if (model) parts.push(escapeCodePoints(clip(model, 60)));
    parts.push(d.response ? String(d.response.status) : '---');
    parts.push(`${shortSize(req.body.wireSize)}>${d.response ? shortSize(d.response.body.wireSize) : '-'}`);
    if (req.body.truncated || d.response?.body.truncated) parts.push('truncated');
    const system = reading.parsed.system;
    if (system.length > 0) {
      const endpoint = `${d.route} ${req.host}${req.path.split('?', 1)[0]}`;
      const before = this.lastSystem.get(endpoint);
      if (before && (before.length !== system.length || before.some((s, i) => s !== system[i]))) parts.push('system changed');
      if (before || this.lastSystem.size < MAX_ENDPOINTS) this.lastSystem.set(endpoint, system);
    }
    if (d.errors.length > 0) parts.push(`! ${escapeCodePoints(clip(`${d.errors[0]!.stage}: ${d.errors[0]!.message}`, MAX_ERROR))}`);
    return parts.join(' ');
  }
}

/**
 * Lines go out once per turn of the event loop, in one write: a terminal write per exchange
 * would cost the proxy more than the exchange under load.
 */
export function flowLineWriter(write: (text: string) => void): (d: RecordDraft) => void {
  const lines = new FlowLines();
  let pending: string[] = [];
  let scheduled = false;
  return (d) => {
    pending.push(lines.line(d));
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      const out = pending;
      pending = [];
      write(`${out.join('\n')}\n`);
    });
  };
}
