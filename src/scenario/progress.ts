import type { RunEntry } from './manifest.js';

/** Progress of a scenario run on stderr: a live bar on a terminal, one plain line per event otherwise. */
export interface Progress {
  start(total: number, header: string): void;
  runStarted(id: string): void;
  runDone(entry: RunEntry): void;
  warn(message: string): void;
  end(): void;
}

export const silentProgress: Progress = { start() {}, runStarted() {}, runDone() {}, warn() {}, end() {} };

function seconds(ms: number): string {
  return ms >= 10_000 ? `${Math.round(ms / 1000)}s` : `${(ms / 1000).toFixed(1)}s`;
}

export function describeRun(entry: RunEntry): string {
  const took = entry.durationMs === null ? '' : ` ${seconds(entry.durationMs)}`;
  const what = entry.status === 'ok' ? `${entry.exchanges} exchange${entry.exchanges === 1 ? '' : 's'}` : (entry.message ?? '');
  return `${entry.id} ${entry.status}${took}${what ? ` — ${what.split('\n')[0]}` : ''}`;
}

export function createProgress(stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }): Progress {
  let total = 0;
  let done = 0;
  let failed = 0;
  let running = 0;
  let began = Date.now();
  const tty = stream.isTTY === true;

  const bar = () => {
    const width = 24;
    const filled = total === 0 ? width : Math.round((done / total) * width);
    const elapsed = Date.now() - began;
    const eta = done === 0 ? '?' : seconds((elapsed / done) * (total - done));
    const line = `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${done}/${total}  ok ${done - failed}  failed ${failed}  running ${running}  eta ${eta}`;
    stream.write(`\r\x1b[2K${line.slice(0, (stream.columns ?? 120) - 1)}`);
  };
  const line = (text: string) => {
    if (tty) stream.write('\r\x1b[2K');
    stream.write(`promptdiff: ${text}\n`);
    if (tty) bar();
  };

  return {
    start(n, header) {
      total = n;
      began = Date.now();
      line(header);
    },
    runStarted() {
      running += 1;
      if (tty) bar();
    },
    runDone(entry) {
      running -= 1;
      done += 1;
      if (entry.status !== 'ok') failed += 1;
      // On a terminal only failures get a line of their own; the bar tells the rest.
      if (!tty) line(`[${done}/${total}] ${describeRun(entry)}`);
      else if (entry.status !== 'ok') line(describeRun(entry));
      else bar();
    },
    warn(message) {
      line(`warning: ${message}`);
    },
    end() {
      if (tty) stream.write('\r\x1b[2K');
    },
  };
}
