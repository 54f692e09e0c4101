import { describe, expect, it } from 'vitest';
import { LineEncoder, RawBytes } from '../src/capture/encode.js';
import { toText } from '../src/capture/body.js';

/** A small deterministic PRNG, so a failure reproduces. */
function prng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return Math.floor((s / 2 ** 32) * n);
  };
}

function randomString(rnd: (n: number) => number, len: number): string {
  const lone = rnd(10) < 3;
  let s = '';
  while (s.length < len) {
    const r = rnd(100);
    if (r < 55) s += String.fromCharCode(0x20 + rnd(95));
    else if (r < 65) s += String.fromCharCode(rnd(0x20));
    else if (r < 70) s += '"\\';
    else if (r < 80) s += String.fromCharCode(0x80 + rnd(0x780));
    else if (r < 88) s += String.fromCharCode(0x800 + rnd(0xd000));
    else if (r < 93) s += String.fromCodePoint(0x10000 + rnd(0x100000));
    else if (r < 95) s += lone ? String.fromCharCode(0xd800 + rnd(0x800)) : '\ufffd';
    else if (r < 98) s += '\u2028\u2029\u007f\ufeff\uffff';
    else s += '\u0001promptdiff-splice-0';
  }
  return s;
}

describe('capture line encoding', () => {
  it('is byte-identical to JSON.stringify(record) as UTF-8 over many records', () => {
    const rnd = prng(42);
    const lengths = [0, 5, 1023, 1024, 1025, 3000, 20000, 70000];
    const str = () => randomString(rnd, lengths[rnd(lengths.length)]! + rnd(3));
    const bytes = () => Buffer.from(Array.from({ length: lengths[rnd(lengths.length)]! }, () => rnd(256)));
    const enc = new LineEncoder();
    for (let i = 0; i < 600; i++) {
      const record = {
        v: 2,
        skipped: undefined,
        request: { headers: [['a', str()], ['b', str()]], body: { base64: new RawBytes(bytes()), wireSize: 3, size: 4 } },
        metadata: { n: 1.5, nan: NaN, d: new Date(0), nested: { deep: [str(), undefined] } },
        response: rnd(3) === 0 ? null : { body: { base64: new RawBytes(bytes()) }, messages: [{ data: str() }] },
      };
      const expected = JSON.stringify(record);
      const { line, slab } = enc.encode(record);
      expect(line.equals(Buffer.from(`${expected}\n`, 'utf8'))).toBe(true);
      expect(JSON.stringify(record)).toBe(expected); // the record is left as it was
      enc.release(slab);
    }
  });
});

describe('body text decoding', () => {
  it('matches a fatal TextDecoder (keeping a BOM) on valid and invalid UTF-8', () => {
    const td = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
    const ref = (b: Buffer): string | null => {
      try {
        return td.decode(b);
      } catch {
        return null;
      }
    };
    const rnd = prng(7);
    for (let i = 0; i < 3000; i++) {
      let b = Buffer.from((i % 7 === 0 ? '\ufeff' : '') + randomString(rnd, rnd(1500)), 'utf8');
      if (i % 3 === 0 && b.length > 0) b[rnd(b.length)] = rnd(256);
      if (i % 5 === 0 && b.length > 2) b = b.subarray(0, b.length - 1);
      expect(toText(b)).toBe(ref(b));
    }
    for (const bad of [[0xed, 0xa0, 0x80], [0xc0, 0x80], [0xf4, 0x90, 0x80, 0x80]]) {
      const b = Buffer.concat([Buffer.alloc(300, 0x61), Buffer.from(bad)]);
      expect(toText(b)).toBe(null);
    }
  });
});
