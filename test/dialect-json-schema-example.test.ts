import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { exampleFromJsonSchema } from '../src/dialects/index.js';
import { TRICKY, validates } from './helpers/dialect-fixtures.js';

describe('exampleFromJsonSchema', () => {
  const schemas: Array<[string, unknown]> = [
    ['string', { type: 'string' }],
    ['enum', { enum: ['a', 'b'] }],
    ['const', { const: 42 }],
    ['bounded integer', { type: 'integer', minimum: 5, maximum: 9 }],
    ['exclusive number', { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 }],
    ['negative max', { type: 'integer', maximum: -3 }],
    ['boolean', { type: 'boolean' }],
    ['nullable type list', { type: ['null', 'string'] }],
    ['short string', { type: 'string', maxLength: 2 }],
    ['long string', { type: 'string', minLength: 10 }],
    ['array minItems', { type: 'array', items: { type: 'integer' }, minItems: 3 }],
    ['array maxItems 0', { type: 'array', items: { type: 'string' }, maxItems: 0 }],
    ['anyOf', { anyOf: [{ type: 'null' }, { type: 'object', properties: { x: { type: 'number' } }, required: ['x'] }] }],
    ['oneOf', { oneOf: [{ type: 'string' }, { type: 'integer' }] }],
    [
      'nested object with $ref',
      {
        type: 'object',
        $defs: { step: { type: 'object', properties: { name: { type: 'string' }, done: { type: 'boolean' } }, required: ['name'] } },
        properties: { steps: { type: 'array', items: { $ref: '#/$defs/step' } }, mode: { type: 'string', enum: ['fast', 'slow'] } },
        required: ['steps', 'mode'],
        additionalProperties: false,
      },
    ],
    [
      'gemini upper-case',
      { type: 'OBJECT', properties: { n: { type: 'INTEGER' }, list: { type: 'ARRAY', items: { type: 'STRING' } }, b: { type: 'BOOLEAN' } }, required: ['n'] },
    ],
  ];
  it.each(schemas)('%s: the example validates', (_name, schema) => {
    const v = exampleFromJsonSchema(schema, 'stub text');
    expect(validates(schema, v)).toBe(true);
    // And it survives the JSON round trip a stub reply puts it through.
    expect(JSON.parse(JSON.stringify(v))).toEqual(v);
  });

  it('fills strings with the stub text and picks first enum values', () => {
    expect(exampleFromJsonSchema({ type: 'string' }, TRICKY)).toBe(TRICKY);
    expect(exampleFromJsonSchema({ type: 'STRING', enum: ['z', 'y'] })).toBe('z');
    expect(exampleFromJsonSchema({ type: 'number' })).toBe(1);
    expect(exampleFromJsonSchema({ type: 'integer', minimum: 2.5 })).toBe(3);
  });

  it('answers an unbounded number with 1, which a range given only in words accepts', () => {
    // Gemini CLI 0.61's router asks for this schema and checks 1 <= score <= 100 in code: 0 made it log a ZodError.
    const router = {
      type: 'OBJECT',
      properties: {
        complexity_reasoning: { type: 'STRING', description: 'Brief explanation for the score.' },
        complexity_score: { type: 'INTEGER', description: 'Complexity score from 1-100.' },
      },
      required: ['complexity_reasoning', 'complexity_score'],
    };
    expect(exampleFromJsonSchema(router, 's')).toEqual({ complexity_reasoning: 's', complexity_score: 1 });
    expect(exampleFromJsonSchema({ type: 'integer', maximum: 0 })).toBe(0);
    expect(exampleFromJsonSchema({ type: 'number', exclusiveMaximum: 1 })).toBeLessThan(1);
  });

  it('fills required names that have no property schema', () => {
    expect(exampleFromJsonSchema({ type: 'object', required: ['a'] }, 's')).toEqual({ a: 's' });
  });

  it('follows Gemini propertyOrdering', () => {
    const v = exampleFromJsonSchema({ type: 'object', properties: { a: { type: 'string' }, b: { type: 'string' } }, propertyOrdering: ['b', 'a'] });
    expect(Object.keys(v as object)).toEqual(['b', 'a']);
  });

  it('stops on recursive schemas', () => {
    const tree = { $defs: { node: { type: 'object', properties: { kids: { type: 'array', items: { $ref: '#/$defs/node' }, minItems: 1 } } } }, $ref: '#/$defs/node' };
    expect(() => JSON.stringify(exampleFromJsonSchema(tree))).not.toThrow();
  });

  it('never throws on garbage', () => {
    fc.assert(fc.property(fc.jsonValue(), (s) => void exampleFromJsonSchema(s)));
  });
});

// ---------------------------------------------------------------------------------------------
