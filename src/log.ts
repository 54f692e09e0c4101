import { pino, type Logger } from 'pino';

/**
 * One logger for the whole process: JSON lines on stderr (stdout is for what the user asked for).
 * PROMPTDIFF_LOG_LEVEL overrides the level; tests keep it at "silent" unless debugging.
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
  },
  pino.destination(2),
);
