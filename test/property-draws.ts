/**
 * The seeded draws the property tests share (test/property.test.ts, test/property-families.test.ts):
 * integers and items, engine kinds in a random order, and for each variant table a variant among
 * those that apply, preferring one not drawn yet, so that a family's last test can check that every
 * variant of its tables ran.
 */
import { expect } from 'vitest';
import { applicableNames, variantNames, type VariantTable } from '../src/ops/variants.ts';
import { Random } from '../src/layers/initializers.ts';
import type { Engine } from '../src/runtime/engine.ts';
import { nanBuffer } from './helpers.ts';

/** An integer in [lo, hi]. */
export const int = (r: Random, lo: number, hi: number): number => lo + Math.floor(r.next() * (hi - lo + 1));
/** One of `items`. */
export const oneOf = <T,>(r: Random, items: readonly T[]): T => items[Math.floor(r.next() * items.length)]!;

/** Engine kinds for a family's cases in a seeded random order, `counts` of each (the GPU tables have the most variants to draw). */
export function kindsInOrder<K extends string>(r: Random, counts: Record<K, number>): K[] {
  const kinds = (Object.keys(counts) as K[]).flatMap((kind) => Array<K>(counts[kind]).fill(kind));
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(r.next() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  return kinds;
}

/** A scratch allocator of NaN-filled buffers (so a pass that leaves scratch unwritten shows). */
export const scratchOf = (e: Engine) => (bytes: number) => nanBuffer(e, Math.ceil(bytes / 4));

/**
 * The variants drawn so far, per table, and the seeded draws: `draw` picks a variant of `table`
 * that applies to g on e's profile, preferring those not drawn yet, and records it.
 */
export function variantDraws(seed: number) {
  const r = new Random(seed);
  const drawn = new Map<string, Set<string>>();
  return {
    draw<G, P>(table: VariantTable<G, P>, g: G, e: Engine): string {
      const names = applicableNames(table, g, e.profile);
      const seen = drawn.get(table.op) ?? new Set<string>();
      drawn.set(table.op, seen);
      const fresh = names.filter((n) => !seen.has(n));
      const variant = oneOf(r, fresh.length > 0 ? fresh : names);
      seen.add(variant);
      return variant;
    },
    /** Every variant of each table appeared in some case. */
    expectAllDrawn(tables: readonly VariantTable<never, unknown>[]): void {
      for (const table of tables) expect([...(drawn.get(table.op) ?? [])].sort(), table.op).toEqual(variantNames(table).sort());
    },
  };
}
