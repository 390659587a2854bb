/**
 * The seeded draws the property tests share (test/property.test.ts, test/property-families.test.ts,
 * test/property-losses-convs.test.ts): integers and items, engine kinds in a random order, and for
 * each variant table a variant among those that apply, preferring one not drawn yet, so that a
 * family's last test can check that every variant of its tables ran; and the checks' error records.
 */
import { expect, it } from 'vitest';
import { applicableNames, variantNames, type VariantTable } from '../src/ops/variants.ts';
import { Random } from '../src/layers/initializers.ts';
import type { Engine } from '../src/runtime/engine.ts';
import { measuredErrors, nanBuffer } from './helpers.ts';

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

/** Variant tables of any geometry, for expectAllDrawn. */
export type Tables = VariantTable<never, unknown>[];

/**
 * The checks of a property file: `checker(family, kind, variant)` expects a relL2 within tolerance
 * (the message names the engine kind, the variant and the output) and records the worst per family,
 * variant and kind, which the environment variable `envVar` prints after the file.
 */
export function relL2Checker(envVar: string) {
  const record = measuredErrors(envVar, ['forward', 'backward', 'update']);
  return (family: string, kind: string, variant: string, detail = '') =>
    (metric: 'forward' | 'backward' | 'update', what: string, value: number, tolerance: number) =>
      expect(record(`${family} ${variant} (${kind})`, metric, value), `${kind} ${variant}${detail} ${what}`).toBeLessThanOrEqual(tolerance);
}

/**
 * A family's cases: `counts` engine kinds in an order drawn from `seed`, `body(r, draws, c, kind)`
 * adding case c's test (r draws its geometry, draws its variants), then a test that every variant
 * of `tables` was drawn.
 */
export function propertyCases<K extends string>(seed: number, counts: Record<K, number>, tables: Tables, body: (r: Random, draws: ReturnType<typeof variantDraws>, c: number, kind: K) => void): void {
  const r = new Random(seed);
  const draws = variantDraws(seed + 1);
  for (const [c, kind] of kindsInOrder(r, counts).entries()) body(r, draws, c, kind);
  it('drew every variant of its tables', () => {
    draws.expectAllDrawn(tables);
  });
}
