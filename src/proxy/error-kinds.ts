import type { CaptureError } from '../capture/schema.js';

/**
 * Every failure the proxy records, by kind, and the side of the exchange it is recorded on. One
 * table, so that the same failure gets the same stage whichever route or mode met it: a broken
 * client request is the client's, whether the stub or passthrough was answering it.
 */
export const ERROR_STAGE = {
  /** The client's request stream broke: reset, or framing the parser rejected. */
  CLIENT_TO_PROXY_REQUEST_ERROR: 'client',
  /** Writing the response to the client failed. */
  PROXY_TO_CLIENT_RESPONSE_ERROR: 'client',
  /** Sending the request upstream failed (refused, reset, TLS). */
  PROXY_TO_SERVER_REQUEST_ERROR: 'upstream',
  /** The upstream's response stream broke. */
  SERVER_TO_PROXY_RESPONSE_ERROR: 'upstream',
  /** --passthrough-only does not list the target. */
  PASSTHROUGH_NOT_ALLOWED: 'upstream',
} as const satisfies Record<string, CaptureError['stage']>;

export type ErrorKind = keyof typeof ERROR_STAGE;

/** A failure of `kind` as the capture stores it. */
export function captureError(kind: ErrorKind, err: Error | string | undefined): CaptureError {
  const message = typeof err === 'string' ? err : (err?.message ?? String(err));
  return { stage: ERROR_STAGE[kind], message: `${kind}: ${message}` };
}
