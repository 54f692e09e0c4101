import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatSse, parseSse } from '../src/dialects/index.js';
import { TRICKY } from './helpers/dialect-fixtures.js';

describe('parseSse', () => {
  it('reads event, multi-line data and id', () => {
    expect(parseSse('event: a\ndata: one\ndata: two\nid: 7\n\n')).toEqual([
      { event: 'a', data: 'one\ntwo', id: '7' },
    ]);
  });

  it('accepts CRLF, CR and LF line ends, even mixed', () => {
    const expected = [{ data: 'x' }, { data: 'y' }, { data: 'z' }];
    expect(parseSse('data: x\r\n\r\ndata: y\r\rdata: z\n\n')).toEqual(expected);
  });

  it('skips comments and keeps a final event that lacks its blank line', () => {
    expect(parseSse(': keep-alive\n\ndata: a\n\n: note\ndata: b')).toEqual([{ data: 'a' }, { data: 'b' }]);
    expect(parseSse('data: last\n')).toEqual([{ data: 'last' }]);
  });

  it('strips exactly one space after the colon and treats a bare field name as empty', () => {
    expect(parseSse('data:no-space\n\ndata:  two-spaces\n\ndata\n\n')).toEqual([
      { data: 'no-space' },
      { data: ' two-spaces' },
      { data: '' },
    ]);
  });

  it('does not dispatch an event without data lines, and forgets its type', () => {
    expect(parseSse('event: lonely\n\ndata: x\n\n')).toEqual([{ data: 'x' }]);
  });

  it('keeps the last event id on later events, as the spec says, and ignores ids with NUL', () => {
    expect(parseSse('id: 1\ndata: a\n\ndata: b\n\nid: 2\0\ndata: c\n\nid\ndata: d\n\n')).toEqual([
      { data: 'a', id: '1' },
      { data: 'b', id: '1' },
      { data: 'c', id: '1' },
      { data: 'd' },
    ]);
  });

  it('ignores retry and unknown fields, and a leading BOM', () => {
    expect(parseSse('\uFEFFretry: 10\nfoo: bar\ndata: ok\n\n')).toEqual([{ data: 'ok' }]);
  });

  it('keeps data code-point exact', () => {
    expect(parseSse(`data: ${TRICKY}\n\n`)[0]?.data).toBe(TRICKY);
  });

  it('formatSse round-trips through parseSse', () => {
    fc.assert(
      fc.property(
        fc.option(fc.string({ minLength: 1 }).filter((s) => !/[\r\n]/.test(s))),
        fc.string({ unit: 'binary' }).filter((s) => !s.includes('\r')),
        (event, data) => {
          const ev = event === null ? { data } : { event, data };
          expect(parseSse(formatSse(ev))).toEqual([ev]);
        },
      ),
    );
  });

  it('formatSse writes one data line per line of data', () => {
    expect(formatSse({ event: 'e', data: 'a\nb' })).toBe('event: e\ndata: a\ndata: b\n\n');
  });
});

// ---------------------------------------------------------------------------------------------
