import type { ExchangeRecord, HeaderList, Body } from './schema.js';
import { headerOf } from './headers.js';

/** HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/), for browsers' and other tools' viewers. */
export interface Har {
  log: {
    version: '1.2';
    creator: { name: string; version: string };
    entries: unknown[];
  };
}

function harHeaders(headers: HeaderList) {
  return headers.map(([name, value]) => ({ name, value }));
}

function content(body: Body, mimeType: string) {
  return body.encoding === 'utf8'
    ? { size: body.size, mimeType, text: body.text }
    : { size: body.size, mimeType, text: body.text, encoding: 'base64' };
}

export function toHar(records: ExchangeRecord[], version: string): Har {
  const entries = records.map((r) => {
    const url = new URL(r.request.url);
    const reqType = headerOf(r.request.headers, 'content-type') ?? '';
    const started = Date.parse(r.startedAt);
    const total = Math.max(0, Date.parse(r.completedAt) - started);
    const res = r.response;
    return {
      startedDateTime: r.startedAt,
      time: total,
      request: {
        method: r.request.method,
        url: r.request.url,
        httpVersion: `HTTP/${r.request.httpVersion}`,
        cookies: [],
        headers: harHeaders(r.request.headers),
        queryString: [...url.searchParams].map(([name, value]) => ({ name, value })),
        ...(r.request.body.size > 0 || r.request.method !== 'GET'
          ? { postData: { mimeType: reqType, text: r.request.body.text, ...(r.request.body.encoding === 'base64' ? { encoding: 'base64' } : {}) } }
          : {}),
        headersSize: -1,
        bodySize: r.request.body.wireSize,
      },
      response: res
        ? {
            status: res.status,
            statusText: '',
            httpVersion: 'HTTP/1.1',
            cookies: [],
            headers: harHeaders(res.headers),
            content: content(res.body, headerOf(res.headers, 'content-type') ?? ''),
            redirectURL: headerOf(res.headers, 'location') ?? '',
            headersSize: -1,
            bodySize: res.body.wireSize,
          }
        : {
            status: 0,
            statusText: r.errors.map((e) => e.message).join('; '),
            httpVersion: 'HTTP/1.1',
            cookies: [],
            headers: [],
            content: { size: 0, mimeType: '' },
            redirectURL: '',
            headersSize: -1,
            bodySize: -1,
          },
      cache: {},
      timings: { send: 0, wait: total, receive: 0 },
      comment: [r.route, r.dialect, r.run ? `run ${r.run}` : '', r.response ? `response from ${r.response.source}` : '']
        .filter(Boolean)
        .join(', '),
      _promptdiff: { id: r.id, seq: r.seq, run: r.run, route: r.route, dialect: r.dialect, errors: r.errors },
    };
  });
  return { log: { version: '1.2', creator: { name: 'promptdiff', version }, entries } };
}
