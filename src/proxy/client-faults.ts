/**
 * Requests the proxy refuses because of what the client sent or failed to send: a malformed
 * request, headers too large, a request that took too long. They are answered with a 4xx where
 * the connection still allows it and recorded like any exchange, with what happened in words.
 */

/** A request the transport gave up on; status 0: not answered (the connection is just closed). */
export class ClientFault extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ClientFault';
  }
}

/**
 * Emitted on an IncomingMessage whose request the transport gave up on after it was handed to a
 * responder (a broken chunked body, a body that never ends): the responder records the fault and
 * answers it when it can. The request will not end by itself.
 */
export const CLIENT_FAULT = 'promptdiff-client-fault';

export const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large', 502: 'Bad Gateway' };

/** What Node's HTTP parser (or its timeouts) rejected, as the answer and in words. */
export function describeClientError(err: NodeJS.ErrnoException, stage: 'head' | 'body', timeouts: { headerMs: number; bodyMs: number }): { status: number; reason: string } {
  const code = err.code ?? '';
  const reason = (err as { reason?: string }).reason ?? err.message;
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, reason: 'request headers larger than the 16 KB the proxy accepts' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return stage === 'head'
        ? { status: 408, reason: `request headers not complete after ${timeouts.headerMs / 1000} s` }
        : { status: 408, reason: `request not complete after ${timeouts.bodyMs / 1000} s (body too slow)` };
    case 'HPE_INVALID_CHUNK_SIZE':
      return { status: 400, reason: 'malformed chunked request body: bad chunk size' };
    case 'HPE_INVALID_EOF_STATE':
      return { status: 0, reason: 'the client closed its side before the request was complete' };
    case 'HPE_INVALID_URL':
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_METHOD':
    case 'HPE_INVALID_VERSION':
      return { status: 400, reason: `malformed request line (${reason})` };
    default:
      return { status: 400, reason: `malformed request (${code || 'parse error'}: ${reason})` };
  }
}

/** The request line of a raw request head, as far as it can be read (for the record of a rejected request). */
export function requestLineOf(raw: Buffer | undefined): { method: string; url: string; httpVersion: string } {
  const text = raw ? raw.subarray(0, 8192).toString('latin1') : '';
  const line = text.split('\r\n', 1)[0] ?? '';
  const m = /^(\S+) (.*?)(?: HTTP\/(\d\.\d))?$/.exec(line);
  return m ? { method: m[1]!, url: m[2]!, httpVersion: m[3] ?? '1.1' } : { method: '', url: '', httpVersion: '1.1' };
}

/** One raw HTTP/1.1 answer for a connection that has no response object (the request never got one). */
export function rawAnswer(status: number, message: string): string {
  const body = `promptdiff: ${message}\n`;
  return `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}
