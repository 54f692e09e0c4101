import { parseIdentity } from '../scenario/factors/git-identity.js';
import { isHostname } from '../scenario/factors/hostname.js';

/**
 * How a value of an axis is taken apart so that every probe is still a valid value: a URL by its
 * components, then its host's labels, then their characters; a hostname by labels then
 * characters; an e-mail address by domain labels then characters; a path by segments; a locale by
 * its components; free text by tokens then characters. Pure functions of the value.
 */

export const SHAPES = ['url', 'hostname', 'email', 'identity', 'path', 'locale', 'zone', 'number', 'text', 'atomic'] as const;
export type ShapeName = (typeof SHAPES)[number];

/** One reduction level: the value cut into units that may be removed, and how to put the rest back. */
export interface Level {
  name: string;
  units: string[];
  /** The value with only the kept units, or null when that is not a value of the shape. */
  rebuild(keep: boolean[]): string | null;
  /** Text only: each unit's positions in the value the search started from (parts are runs of them). */
  origins?: number[][];
}

/** A piece of the minimal value that a condition may be about, with where it sits. */
export interface Part {
  /** The field it belongs to, as rules name it: host, path, local part, domain, name, value. */
  field: string;
  text: string;
  /** UTF-16 offsets in the minimal value. */
  start: number;
  end: number;
  /** Its field is dot-separated labels (a hostname, a mail domain): contexts add labels too. */
  labelled: boolean;
  atStart: boolean;
  atEnd: boolean;
  /** The part is its whole field. */
  whole: boolean;
}

export interface Shape {
  name: ShapeName;
  /** Reduction levels, coarse to fine, each built from the value the previous one left. */
  levels: Array<(value: string) => Level | null>;
  parts(value: string, trace?: Trace): Part[];
  /** The text of a field of any value of this shape (for checking a rule against corpus values). */
  field(value: string, field: string): string | null;
  /** Is this a value of the shape at all (before the axis's own checks)? */
  valid(value: string): boolean;
}

/** The levels a minimisation went through, with what each kept (text needs it to find its parts). */
export type Trace = Array<{ level: Level; keep: boolean[] }>;

// ---- a value as fields of units ----------------------------------------------------------------

interface Field {
  name: string;
  units: string[];
  /** Written before the first unit, between units, after the last (when the field has units). */
  lead: string;
  sep: string;
  trail: string;
  required: boolean;
  labelled: boolean;
  /** Its units are parts a rule can be about. */
  parts: boolean;
  /** A unit's own check (a host label). */
  unitValid?: (unit: string) => boolean;
}

function format(fields: Field[]): { text: string; spans: Array<{ field: Field; index: number; start: number; end: number }> } | null {
  let text = '';
  const spans: Array<{ field: Field; index: number; start: number; end: number }> = [];
  for (const f of fields) {
    if (f.units.length === 0) {
      if (f.required) return null;
      continue;
    }
    text += f.lead;
    f.units.forEach((u, i) => {
      if (i > 0) text += f.sep;
      spans.push({ field: f, index: i, start: text.length, end: text.length + u.length });
      text += u;
    });
    text += f.trail;
  }
  return { text, spans };
}

function fieldsValid(fields: Field[]): boolean {
  return fields.every((f) => (!f.required || f.units.length > 0) && (!f.unitValid || f.units.every(f.unitValid)));
}

/** Removing whole units of the named fields. */
function unitLevel(name: string, fields: Field[], which: string[], check: (v: string) => boolean): Level | null {
  const refs: Array<[number, number]> = [];
  fields.forEach((f, fi) => {
    if (which.includes(f.name)) f.units.forEach((_, ui) => refs.push([fi, ui]));
  });
  if (refs.length === 0) return null;
  return {
    name,
    units: refs.map(([fi, ui]) => fields[fi]!.units[ui]!),
    rebuild(keep) {
      const next = fields.map((f) => ({ ...f, units: [...f.units] }));
      const dropped = new Set(refs.filter((_, i) => !keep[i]).map(([fi, ui]) => `${fi}:${ui}`));
      for (const [fi, f] of next.entries()) f.units = fields[fi]!.units.filter((_, ui) => !dropped.has(`${fi}:${ui}`));
      if (!fieldsValid(next)) return null;
      const text = format(next)?.text ?? null;
      return text !== null && check(text) ? text : null;
    },
  };
}

/** Removing characters (code points) inside the units of the named fields; no unit may vanish. */
function charLevel(name: string, fields: Field[], which: string[], check: (v: string) => boolean): Level | null {
  const refs: Array<[number, number, number]> = [];
  const chars = fields.map((f) => f.units.map((u) => Array.from(u)));
  fields.forEach((f, fi) => {
    if (which.includes(f.name)) chars[fi]!.forEach((cs, ui) => cs.forEach((_, ci) => refs.push([fi, ui, ci])));
  });
  if (refs.length < 2) return null;
  return {
    name,
    units: refs.map(([fi, ui, ci]) => chars[fi]![ui]![ci]!),
    rebuild(keep) {
      const dropped = new Set(refs.filter((_, i) => !keep[i]).map((r) => r.join(':')));
      const next = fields.map((f, fi) => ({
        ...f,
        units: chars[fi]!.map((cs, ui) => cs.filter((_, ci) => !dropped.has(`${fi}:${ui}:${ci}`)).join('')),
      }));
      if (next.some((f, fi) => f.units.some((u, ui) => u === '' && fields[fi]!.units[ui] !== ''))) return null;
      if (!fieldsValid(next)) return null;
      const text = format(next)?.text ?? null;
      return text !== null && check(text) ? text : null;
    },
  };
}

function partsOf(fields: Field[]): Part[] {
  const out = format(fields);
  if (!out) return [];
  return out.spans
    .filter((s) => s.field.parts)
    .map((s) => ({
      field: s.field.name,
      text: s.field.units[s.index]!,
      start: s.start,
      end: s.end,
      labelled: s.field.labelled,
      atStart: s.index === 0,
      atEnd: s.index === s.field.units.length - 1,
      whole: s.field.units.length === 1,
    }));
}

/** A shape whose values parse into fields; `fieldName` maps a rule's field to the parsed fields. */
function fieldShape(
  name: ShapeName,
  parse: (v: string) => Field[] | null,
  plan: Array<{ level: string; kind: 'units' | 'chars'; fields: string[] }>,
): Shape {
  const valid = (v: string) => {
    const f = parse(v);
    return f !== null && fieldsValid(f) && format(f)?.text === v;
  };
  return {
    name,
    valid,
    levels: plan.map((p) => (value: string) => {
      const fields = parse(value);
      if (!fields) return null;
      return p.kind === 'units' ? unitLevel(p.level, fields, p.fields, valid) : charLevel(p.level, fields, p.fields, valid);
    }),
    parts: (value) => {
      const f = parse(value);
      return f ? partsOf(f) : [];
    },
    field(value, field) {
      const f = parse(value)?.find((x) => x.name === field);
      return f ? f.units.join(f.sep) : null;
    },
  };
}

const LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const labelValid = (l: string) => LABEL.test(l);

function hostField(host: string): Field | null {
  // An IP literal is one opaque unit: its numbers are not labels.
  if (/^\[.*\]$/.test(host) || /^[0-9.]+$/.test(host)) {
    return { name: 'host', units: [host], lead: '', sep: '', trail: '', required: true, labelled: false, parts: true };
  }
  if (!isHostname(host)) return null;
  return { name: 'host', units: host.split('.'), lead: '', sep: '.', trail: '', required: true, labelled: true, parts: true, unitValid: labelValid };
}

const opt = (name: string, lead: string, trail: string, value: string | null | undefined, parts = false): Field => ({
  name,
  units: value === null || value === undefined ? [] : [value],
  lead,
  sep: '',
  trail,
  required: false,
  labelled: false,
  parts,
});

const URL_PARTS = /^(https?:\/\/)(?:([^@/?#]*)@)?([^:/?#]*)(?::(\d+))?(\/[^?#]*)?(\?[^#]*)?(#.*)?$/s;

function parseUrl(value: string): Field[] | null {
  const m = URL_PARTS.exec(value);
  if (!m) return null;
  const [, scheme, userinfo, host, port, path, query, fragment] = m;
  const hf = hostField(host!);
  if (!hf) return null;
  return [
    { name: 'scheme', units: [scheme!], lead: '', sep: '', trail: '', required: true, labelled: false, parts: false },
    opt('userinfo', '', '@', userinfo),
    hf,
    opt('port', ':', '', port, true),
    { name: 'path', units: path === undefined ? [] : path.slice(1).split('/'), lead: '/', sep: '/', trail: '', required: false, labelled: false, parts: true },
    opt('query', '?', '', query?.slice(1), true),
    opt('fragment', '#', '', fragment?.slice(1)),
  ];
}

const url = fieldShape('url', parseUrl, [
  { level: 'URL components', kind: 'units', fields: ['userinfo', 'port', 'path', 'query', 'fragment'] },
  { level: 'host labels', kind: 'units', fields: ['host'] },
  { level: 'host characters', kind: 'chars', fields: ['host'] },
]);

const hostname = fieldShape('hostname', (v) => {
  const f = hostField(v);
  return f ? [f] : null;
}, [
  { level: 'labels', kind: 'units', fields: ['host'] },
  { level: 'characters', kind: 'chars', fields: ['host'] },
]);

const LOCAL = /^[^@\s<>]+$/;

function emailFields(address: string): Field[] | null {
  const at = address.lastIndexOf('@');
  if (at <= 0) return null;
  const local = address.slice(0, at);
  const domain = hostField(address.slice(at + 1));
  if (!domain || !LOCAL.test(local)) return null;
  return [
    { name: 'local part', units: [local], lead: '', sep: '', trail: '@', required: true, labelled: false, parts: true, unitValid: (u) => LOCAL.test(u) },
    { ...domain, name: 'domain' },
  ];
}

const email = fieldShape('email', emailFields, [
  { level: 'domain labels', kind: 'units', fields: ['domain'] },
  { level: 'characters', kind: 'chars', fields: ['local part', 'domain'] },
]);

const identity = fieldShape('identity', (v) => {
  const id = parseIdentity(v);
  const mail = id ? emailFields(id.email) : null;
  if (!id || !mail || id.name !== id.name.trim()) return null;
  return [
    { name: 'name', units: id.name.split(' '), lead: '', sep: ' ', trail: ' <', required: true, labelled: false, parts: true, unitValid: (u) => u !== '' && !/[<>\n]/.test(u) },
    ...mail.map((f) => (f.name === 'domain' ? { ...f, trail: '>' } : f)),
  ];
}, [
  { level: 'name words', kind: 'units', fields: ['name'] },
  { level: 'domain labels', kind: 'units', fields: ['domain'] },
  { level: 'characters', kind: 'chars', fields: ['name', 'local part', 'domain'] },
]);

const path = fieldShape('path', (v) => {
  if (!v.includes('/') || /\s/.test(v)) return null;
  const absolute = v.startsWith('/');
  const segments = (absolute ? v.slice(1) : v).split('/');
  return [{ name: 'path', units: segments, lead: absolute ? '/' : '', sep: '/', trail: '', required: true, labelled: false, parts: true, unitValid: (u) => u !== '' || segments.length === 1 }];
}, [
  { level: 'segments', kind: 'units', fields: ['path'] },
  { level: 'characters', kind: 'chars', fields: ['path'] },
]);

const LOCALE = /^([a-z]{2,3}|C|POSIX)(?:_([A-Z]{2}))?(?:\.([A-Za-z0-9-]+))?(?:@([A-Za-z0-9]+))?$/;

const locale = fieldShape('locale', (v) => {
  const m = LOCALE.exec(v);
  if (!m) return null;
  return [
    { name: 'language', units: [m[1]!], lead: '', sep: '', trail: '', required: true, labelled: false, parts: true },
    opt('territory', '_', '', m[2], true),
    opt('codeset', '.', '', m[3], true),
    opt('modifier', '@', '', m[4], true),
  ];
}, [{ level: 'components', kind: 'units', fields: ['territory', 'codeset', 'modifier'] }]);

/** Free text: tokens (a separator starts a token), then characters; parts are runs of what is left. */
const TOKEN_START = /(?=[\s\-_.:/@,;=+])/u;

function textShape(): Shape {
  const cps = (v: string) => Array.from(v);
  const level = (name: string, value: string, groups: number[][]): Level => {
    const chars = cps(value);
    return {
      name,
      units: groups.map((g) => g.map((i) => chars[i]).join('')),
      origins: groups,
      rebuild: (keep) => {
        const text = groups.filter((_, i) => keep[i]).map((g) => g.map((i) => chars[i]).join('')).join('');
        return text === '' ? null : text;
      },
    };
  };
  return {
    name: 'text',
    valid: () => true,
    levels: [
      (value) => {
        let at = 0;
        const groups = value.split(TOKEN_START).map((t) => {
          const n = cps(t).length;
          const g = Array.from({ length: n }, (_, k) => at + k);
          at += n;
          return g;
        });
        return groups.length > 1 ? level('tokens', value, groups) : null;
      },
      (value) => (cps(value).length > 1 ? level('characters', value, cps(value).map((_, i) => [i])) : null),
    ],
    parts(value, trace) {
      // Each level's origins index into that level's input; follow them back to the first input.
      let kept = cps(value).map((_, i) => i);
      if (trace && trace.length > 0) {
        for (let t = trace.length - 1; t >= 0; t--) {
          const { level: l, keep } = trace[t]!;
          const keptInputs = l.origins!.filter((_, i) => keep[i]).flat();
          kept = kept.map((i) => keptInputs[i]!);
        }
      }
      const chars = cps(value);
      const runs: Array<{ from: number; to: number }> = [];
      kept.forEach((orig, i) => {
        const last = runs[runs.length - 1];
        if (last && orig === kept[i - 1]! + 1) last.to = i + 1;
        else runs.push({ from: i, to: i + 1 });
      });
      const offset = (cp: number) => chars.slice(0, cp).join('').length;
      return runs.map((r, i) => ({
        field: 'value',
        text: chars.slice(r.from, r.to).join(''),
        start: offset(r.from),
        end: offset(r.to),
        labelled: false,
        atStart: i === 0,
        atEnd: i === runs.length - 1,
        whole: runs.length === 1,
      }));
    },
    field: (value) => value,
  };
}

const text = textShape();

/** Values with no inner structure to reduce: only corpora and catalogue values can be tried. */
function opaque(name: 'zone' | 'atomic' | 'number'): Shape {
  return { name, valid: () => true, levels: [], parts: () => [], field: (v) => v };
}

const BY_NAME: Record<ShapeName, Shape> = {
  url,
  hostname,
  email,
  identity,
  path,
  locale,
  text,
  zone: opaque('zone'),
  atomic: opaque('atomic'),
  number: opaque('number'),
};

export function shapeNamed(name: ShapeName): Shape {
  return BY_NAME[name];
}

const NUMBER = /^-?\d+(\.\d+)?$/;

export function isNumber(value: string): boolean {
  return NUMBER.test(value);
}

/** The shape of a machine factor's values, by its kind. */
export function shapeOfKind(kind: string): ShapeName {
  switch (kind) {
    case 'base-url':
    case 'proxy-url':
    case 'git-remote':
      return 'url';
    case 'hostname':
      return 'hostname';
    case 'git-identity':
      return 'identity';
    case 'timezone':
      return 'zone';
    case 'locale':
      return 'locale';
    case 'user':
    case 'no-proxy':
    case 'machine-id':
    case 'mac-address':
      return 'text';
    default:
      return 'atomic';
  }
}

/** The shape of an environment variable's values, guessed from the values themselves. */
export function shapeOfValues(values: string[]): ShapeName {
  const all = (test: (v: string) => boolean) => values.length > 0 && values.every(test);
  if (all(isNumber)) return 'number';
  if (all((v) => url.valid(v))) return 'url';
  if (all((v) => email.valid(v))) return 'email';
  if (all((v) => v.includes('.') && hostname.valid(v) && /[A-Za-z]/.test(v))) return 'hostname';
  if (all((v) => path.valid(v))) return 'path';
  return 'text';
}
