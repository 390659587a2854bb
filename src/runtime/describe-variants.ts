/**
 * What each layer of a plan runs: the variant choices the op families' tables made while the plan
 * was built (src/ops/variants.ts records them on the engine, under the scope the plan gives each
 * layer with Engine.withScope), as rows to inspect or print.
 */
import type { Engine } from './engine.ts';

/** One choice: the layer (the scope it was made in), the op, the variant and the geometry's key. */
export interface VariantRow {
  layer: string;
  op: string;
  variant: string;
  key: string;
}

/**
 * Runs `build` (e.g. building a model's train plan) inside a fresh recording on `engine` and
 * returns the choices it made, each distinct one once, in the order first made. Plans already
 * built are cached and make no choices: build a new one (another batch size or mode) to see one.
 */
export function describeVariants(engine: Engine, build: () => void): VariantRow[] {
  const { choices } = engine.recordVariantChoices(build);
  const seen = new Set<string>();
  const rows: VariantRow[] = [];
  for (const c of choices) {
    const id = [c.scope, c.op, c.variant, c.key].join('\u0000');
    if (seen.has(id)) continue;
    seen.add(id);
    rows.push({ layer: c.scope, op: c.op, variant: c.variant, key: c.key });
  }
  return rows;
}

/** The rows as an aligned text table (layer, op, variant, geometry), one line each, for logs. */
export function formatVariantTable(rows: readonly VariantRow[]): string {
  const header: VariantRow = { layer: 'layer', op: 'op', variant: 'variant', key: 'geometry' };
  const all = [header, ...rows.map((r) => ({ ...r, layer: r.layer || '(no layer)' }))];
  const width = (field: keyof VariantRow) => Math.max(...all.map((r) => r[field].length));
  const [wl, wo, wv] = [width('layer'), width('op'), width('variant')];
  return all.map((r) => `${r.layer.padEnd(wl)}  ${r.op.padEnd(wo)}  ${r.variant.padEnd(wv)}  ${r.key}`.trimEnd()).join('\n');
}
