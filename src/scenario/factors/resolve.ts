import { distance } from '../../levenshtein.js';
import { ScenarioError } from '../scenario-file.js';
import { buildFactor, definitionOf, valueParams, type Catalogue, type Factor, type FactorDefinition } from './catalogue.js';

function nearest(name: string, known: string[]): string | undefined {
  return known.find((k) => distance(k, name) <= 2) ?? known.find((k) => k.split('.').pop() === name.split('.').pop());
}

/**
 * The scenario's factors as runs use them: each a catalogue factor, limited to the values the
 * scenario gives (in its order; plain values outside the catalogue allowed where the kind takes them).
 */
export function resolveFactors(factors: Record<string, string[]>, catalogue: Catalogue, where: string): Map<string, Factor> {
  const out = new Map<string, Factor>();
  for (const [name, values] of Object.entries(factors)) {
    const factor = catalogue.factors.get(name);
    if (!factor) {
      const near = nearest(name, [...catalogue.factors.keys()]);
      throw new ScenarioError(`${where}: factors.${name}: not a factor of the catalogue${near ? ` (did you mean ${near}?)` : ''}; promptdiff factors lists them`);
    }
    const chosen = new Map<string, unknown>();
    for (const [i, value] of values.entries()) {
      const found = valueParams(factor, value);
      if ('error' in found) throw new ScenarioError(`${where}: factors.${name}[${i}]: ${found.error}`);
      chosen.set(value, found.params);
    }
    out.set(name, { ...factor, values: chosen });
  }
  return out;
}

/** Factor definitions stored in a manifest, rebuilt and checked like catalogue entries. */
export function factorsFromDefinitions(defs: Record<string, FactorDefinition>, where: string): Map<string, Factor> {
  return new Map(Object.entries(defs).map(([name, def]) => [name, buildFactor(name, def, `${where}: factors.${name}`)]));
}

export function definitionsOf(factors: Iterable<Factor>): Record<string, FactorDefinition> {
  return Object.fromEntries([...factors].map((f) => [f.name, definitionOf(f)]));
}
