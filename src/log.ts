import { pino, type Logger, type DestinationStream } from 'pino';

const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warning', 50: 'error', 60: 'fatal' };

/** On a terminal a person reads the log: one short line per entry instead of JSON. */
function humanDestination(): DestinationStream {
  return {
    write(line: string) {
      try {
        const { level, msg, time: _t, pid: _p, hostname: _h, name: _n, v: _v, ...rest } = JSON.parse(line) as Record<string, unknown>;
        const extra = Object.entries(rest)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        process.stderr.write(`promptdiff ${LEVEL_NAMES[level as number] ?? level}: ${msg ?? ''}${extra ? ` (${extra})` : ''}\n`);
      } catch {
        process.stderr.write(line);
      }
    },
  };
}

/** Value filters of the runs in progress (src/capture/secret-values.ts): every log line goes through them. */
const valueFilters = new Set<{ text(s: string): string }>();

/**
 * Redacts a run's secret values in every log line until the returned function is called. The
 * name-based paths below catch a key under its usual field; this catches it anywhere in a message.
 */
export function redactLogValues(filter: { text(s: string): string }): () => void {
  valueFilters.add(filter);
  return () => valueFilters.delete(filter);
}

function filterLine(line: string): string {
  let out = line;
  for (const f of valueFilters) out = f.text(out);
  return out;
}

/**
 * One logger for the whole process: JSON lines on stderr (stdout is for what the user asked for),
 * short human lines when stderr is a terminal. PROMPTDIFF_LOG_LEVEL sets the level.
 */
export const log: Logger = pino(
  {
    name: 'promptdiff',
    level: process.env.PROMPTDIFF_LOG_LEVEL ?? 'info',
    // Secrets must never reach a log line, even by accident of a debug statement.
    redact: {
      paths: ['headers.authorization', 'headers["x-api-key"]', 'headers.cookie', 'key', 'privateKey'],
      censor: '[redacted]',
    },
    hooks: { streamWrite: (line: string) => (valueFilters.size ? filterLine(line) : line) },
  },
  process.stderr.isTTY ? humanDestination() : pino.destination(2),
);
