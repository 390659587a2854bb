/**
 * The dense op: y = act(x·W + b) over the last axis of x (kernel [in, units]), its geometry and the
 * dispatches of its forward and backward. The Dense layer wraps it (src/layers/dense.ts). On 'gpu'
 * profiles the products run through the tiled matmul (src/ops/matmul.ts).
 */
import * as kernels from '../../shaders/dense.ts';
import type { DenseGeometry } from '../../shaders/dense.ts';
import { PLAIN_SOURCE, reduceLines, type ReduceSource } from '../../shaders/reduce.ts';
import type { BufferView, Dispatch, Engine } from '../runtime/engine.ts';
import { formatShape } from '../runtime/tensor.ts';
import type { Shape } from '../runtime/tensor.ts';
import type { BenchRun } from '../runtime/tuning.ts';
import { benchRun } from './bench-buffers.ts';
import { denseMatmulGeometries, MATMUL_TILES, matmul, matmulConfigApplies, matmulScratchFloats, type MatmulTileName, type TileConfig } from './matmul.ts';
import { always, choose, onGpu, type Variant, type VariantTable } from './variants.ts';

export type { DenseGeometry };

export interface DenseForwardViews {
  /** [rows, inputs] */
  x: BufferView;
  /** [inputs, units] */
  w: BufferView;
  /** [units]; required when geometry.bias. */
  b?: BufferView;
  /** [rows, units] */
  y: BufferView;
}

export interface DenseBackwardViews {
  x: BufferView;
  w: BufferView;
  /** The forward output; read only when relu was fused (its mask). */
  y?: BufferView;
  dy: BufferView;
  /** null when nobody needs the input gradient (the model's first layer): its kernel is skipped. */
  dx: BufferView | null;
  dw: BufferView;
  /** Required when geometry.bias. */
  db?: BufferView | null;
  /** Plan-lifetime memory; without it the rows needing scratch (split-K) are not chosen. */
  scratch?: Scratch;
}

/** Geometry of a dense op on `[batch, ...inputShape]`: rows are every axis but the last. */
export function denseGeometry(batch: number, inputShape: Shape, units: number, options: { relu?: boolean; bias?: boolean } = {}, who = 'dense'): DenseGeometry {
  if (inputShape.length < 1 || !inputShape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`${who} expects inputs of rank ≥ 1 (without the batch) with positive sizes, got ${formatShape(inputShape)}`);
  }
  if (!Number.isInteger(batch) || batch <= 0) throw new Error(`${who}: batch must be a positive integer, got ${batch}`);
  if (!Number.isInteger(units) || units <= 0) throw new Error(`${who}: units must be a positive integer, got ${units}`);
  const inputs = inputShape[inputShape.length - 1]!;
  const rows = batch * inputShape.slice(0, -1).reduce((a, b) => a * b, 1);
  return { rows, inputs, units, relu: options.relu ?? false, bias: options.bias ?? true };
}

function required<T>(value: T | null | undefined, what: string): T {
  if (value == null) throw new Error(`dense: ${what} is required`);
  return value;
}

/** A short key of a dense op's geometry for the variant records. */
export function denseKey(g: DenseGeometry): string {
  return `${g.rows}x${g.inputs} -> ${g.units}${g.relu ? ' relu' : ''}`;
}

import type { Scratch } from '../runtime/engine.ts';
export type { Scratch };

/** The tile presets (src/ops/matmul.ts MATMUL_TILES) a tiled row runs dense's three products with. */
export interface DenseTiles {
  forward: MatmulTileName;
  inputGrad: MatmulTileName;
  kernelGrad: MatmulTileName;
}

/** A row running dense's products through the tiled matmul: 'gpu' profiles, where every preset applies to its product. */
function tiledRow(name: string, params: DenseTiles, extra: (g: DenseGeometry) => boolean, why: string): Variant<DenseGeometry, DenseTiles> {
  return {
    name,
    params,
    why,
    applies: (g, p) => {
      if (!onGpu(g, p) || !extra(g)) return false;
      const m = denseMatmulGeometries(g);
      return matmulConfigApplies(m.forward, MATMUL_TILES[params.forward], p) && matmulConfigApplies(m.inputGrad, MATMUL_TILES[params.inputGrad], p) && matmulConfigApplies(m.kernelGrad, MATMUL_TILES[params.kernelGrad], p);
    },
  };
}

/** Split-K pays where dW's output (inputs × units) is small and its k (rows) long: fewer than 64² outputs over at least 256 rows, 4 rows of k per output. */
const splitKPays = (g: DenseGeometry): boolean => g.inputs * g.units <= 64 * 64 && g.rows >= 256 && g.rows >= 4 * Math.max(g.inputs, g.units);
const UNMEASURED = 'the GPU SGEMM literature\'s shape, unmeasured here (no bench/NOTES.md item yet)';

const DENSE_ROWS: readonly Variant<DenseGeometry, DenseTiles>[] = [
  tiledRow('tiled-64x64', { forward: 'gpu-64x64-4x4', inputGrad: 'gpu-64x64-4x4', kernelGrad: 'gpu-64x64-4x4' }, () => true, `GPUs: every product as 64 × 64 workgroup tiles of 4 × 4 per invocation, double-buffered: ${UNMEASURED}.`),
  tiledRow('tiled-128x64', { forward: 'gpu-128x64-8x4', inputGrad: 'gpu-128x64-8x4', kernelGrad: 'gpu-128x64-8x4' }, () => true, `GPUs: 128 × 64 tiles of 8 × 4 per invocation for large products, behind 64 × 64: ${UNMEASURED}.`),
  tiledRow('tiled-64x64-splitk4', { forward: 'gpu-64x64-4x4', inputGrad: 'gpu-64x64-4x4', kernelGrad: 'splitk-32x32-s4' }, splitKPays, `GPUs: dW with few inputs × units over many rows split into 4 k slices (more workgroups), the rest as 64 × 64: ${UNMEASURED}.`),
  {
    name: 'registers-blocks',
    applies: always,
    note: 'bench/NOTES.md item 58',
    why: 'Register blocks of 16 × 4 outputs per invocation, no workgroup memory: every profile runs them.',
  },
];

/** The dense op's variants: the tiled matmul's presets first on 'gpu' profiles, the register blocks everywhere (the 'cpu' choice). */
export const denseTable: VariantTable<DenseGeometry, DenseTiles> = { op: 'dense', key: denseKey, rows: DENSE_ROWS, bench: denseBench };

/** The same rows without those needing scratch memory (split-K): what a backward without views.scratch chooses from. */
const denseNoScratchTable: VariantTable<DenseGeometry, DenseTiles> = { ...denseTable, rows: DENSE_ROWS.filter((r) => r.params?.kernelGrad !== 'splitk-32x32-s4') };

/** The tiles of a tiled row, or null for the register blocks. */
function tilesOf(row: Variant<DenseGeometry, DenseTiles>): { forward: TileConfig; inputGrad: TileConfig; kernelGrad: TileConfig } | null {
  const p = row.params;
  return p ? { forward: MATMUL_TILES[p.forward], inputGrad: MATMUL_TILES[p.inputGrad], kernelGrad: MATMUL_TILES[p.kernelGrad] } : null;
}

/** y = act(x·W + b); `variant` forces a row of denseTable. */
export function denseForward(engine: Engine, g: DenseGeometry, views: DenseForwardViews, variant?: string): Dispatch[] {
  const tiles = tilesOf(choose(denseTable, g, engine, variant));
  const b = g.bias ? [required(views.b, 'b (the bias) with bias: true')] : [];
  if (tiles) return matmul(engine, denseMatmulGeometries(g).forward, { a: views.x, b: views.w, bias: b[0], c: views.y }, tiles.forward);
  return [engine.kernel(kernels.denseForward(g), [views.x, views.w, ...b, views.y])];
}

/** The relu-masked gradient g = dy · [y > 0] as a reduction source (bindings dy, y): the bias gradient of a tiled row sums it. */
const RELU_MASKED_GRADIENT: ReduceSource = {
  key: 'dense-relu-masked-dy',
  reads: 2,
  code: `@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> relu_out: array<f32>;
fn value(k: u32) -> f32 { return select(0.0, dy[k], relu_out[k] > 0.0); }`,
};

/**
 * dx = g·Wᵀ (skipped when views.dx is null), dW = xᵀ·g, db = Σ_rows g; g = dy masked by [y > 0]
 * under relu; `variant` forces a row of denseTable. The tiled rows run dx and dW as tiled
 * products and db as one reduction pass (an invocation per unit); split-K's partial sums need
 * views.scratch, without which its row is not chosen.
 */
export function denseBackward(engine: Engine, g: DenseGeometry, views: DenseBackwardViews, variant?: string): Dispatch[] {
  if (variant !== undefined && !views.scratch && !denseNoScratchTable.rows.some((r) => r.name === variant)) {
    throw new Error(`dense: the variant '${variant}' needs views.scratch (plan-lifetime memory for split-K's partial sums), got none`);
  }
  const tiles = tilesOf(choose(views.scratch ? denseTable : denseNoScratchTable, g, engine, variant));
  const y = g.relu ? required(views.y, 'y (the forward output) with a fused relu') : undefined;
  const grad = y ? [views.dy, y] : [views.dy];
  const dispatches: Dispatch[] = [];
  if (tiles) {
    const m = denseMatmulGeometries(g);
    if (views.dx) dispatches.push(...matmul(engine, m.inputGrad, { a: views.dy, maskA: y, b: views.w, c: views.dx }, tiles.inputGrad));
    const partial = matmulScratchFloats(m.kernelGrad, tiles.kernelGrad) ? views.scratch!(matmulScratchFloats(m.kernelGrad, tiles.kernelGrad) * 4, 'dense dW split-K partials') : undefined;
    dispatches.push(...matmul(engine, m.kernelGrad, { a: views.x, b: views.dy, maskB: y, c: views.dw, partial }, tiles.kernelGrad));
    if (g.bias) {
      const source = y ? RELU_MASKED_GRADIENT : PLAIN_SOURCE;
      dispatches.push(engine.kernel(reduceLines('sum', { outer: 1, axis: g.rows, inner: g.units }, source), [...grad, required(views.db, 'db (the bias gradient) with bias: true')]));
    }
    return dispatches;
  }
  if (views.dx) dispatches.push(engine.kernel(kernels.denseBackwardInput(g), [...grad, views.w, views.dx]));
  const db = g.bias ? [required(views.db, 'db (the bias gradient) with bias: true')] : [];
  dispatches.push(engine.kernel(kernels.denseBackwardWeights(g), [views.x, ...grad, views.dw, ...db]));
  return dispatches;
}

/** Dense's bench: the variant's forward then its backward (dx too), as a training step runs them. */
function denseBench(engine: Engine, g: DenseGeometry, name: string): BenchRun {
  return benchRun(engine, (s) => {
    const x = s.input(g.rows * g.inputs, 'bench dense x');
    const w = s.input(g.inputs * g.units, 'bench dense w');
    const b = g.bias ? s.input(g.units, 'bench dense b') : undefined;
    const y = s.output(g.rows * g.units, 'bench dense y');
    const dy = s.input(g.rows * g.units, 'bench dense dy');
    const [dx, dw] = [s.output(g.rows * g.inputs, 'bench dense dx'), s.output(g.inputs * g.units, 'bench dense dw')];
    const db = g.bias ? s.output(g.units, 'bench dense db') : undefined;
    return [...denseForward(engine, g, { x, w, b, y }, name), ...denseBackward(engine, g, { x, w, y, dy, dx, dw, db, scratch: s.scratch }, name)];
  });
}
