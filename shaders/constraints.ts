/**
 * The weight constraints' projections, run in place on a weight after the optimizer's step
 * (src/ops/regularizers.ts dispatches them): NonNeg clamps each value at 0; the norm constraints
 * (MaxNorm, MinMaxNorm, UnitNorm) compute each L2 norm over the reduced axes and scale the values
 * by desired / (EPSILON + norm), in TF.js's order of operations. One invocation per norm: it
 * visits its values twice (the norm, then the scaling), so no two invocations share a value.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { KernelSource } from './kernel.ts';
import { constants, f32, flatIndex, grid } from './wgsl.ts';

/** TF.js's epsilon() under float32, which the norm constraints add to the norm. */
export const CONSTRAINT_EPSILON = 1e-7;

const WG = 64;

/** w = max(w, 0) over n values (TF.js's relu). */
export function nonNegKernel(n: number): KernelSource {
  if (!Number.isInteger(n) || n < 1) throw new Error(`nonNeg kernel: n must be a positive integer, got ${n}`);
  const { workgroups, rowStride } = grid(n, 256);
  return {
    key: `constraint-non-neg:${n}`,
    bindings: ['write'],
    workgroups,
    code: wgsl`// NonNeg: negative weights become 0.
${constants({ N: n })}

@group(0) @binding(0) var<storage, read_write> w: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'N')}
  w[i] = max(w[i], 0.0);
}`,
  };
}

/** What a norm constraint makes of each norm: TF.js's `desired`. */
export type NormTarget = { kind: 'maxNorm'; maxValue: number } | { kind: 'minMaxNorm'; minValue: number; maxValue: number; rate: number } | { kind: 'unitNorm' };

/**
 * The norm constraint over `axes` (sorted, in [0, rank)) of a row-major weight of `shape`: one
 * invocation per index of the kept axes.
 */
export function normConstraintKernel(shape: readonly number[], axes: readonly number[], target: NormTarget): KernelSource {
  if (shape.length === 0 || shape.some((d) => !Number.isInteger(d) || d < 1)) throw new Error(`norm constraint kernel: bad shape [${shape.join(', ')}]`);
  if (axes.length === 0 || axes.some((a, i) => !Number.isInteger(a) || a < 0 || a >= shape.length || (i > 0 && a <= axes[i - 1]!))) {
    throw new Error(`norm constraint kernel: axes [${axes.join(', ')}] must be sorted, distinct and in [0, ${shape.length})`);
  }
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const kept = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const norms = kept.reduce((a, i) => a * shape[i]!, 1);
  const reduced = axes.reduce((a, i) => a * shape[i]!, 1);
  const names: Record<string, number> = { NORMS: norms, REDUCED: reduced };
  for (const i of [...kept, ...axes]) {
    names[`DIM${i}`] = shape[i]!;
    names[`STRIDE${i}`] = strides[i]!;
  }
  const desired =
    target.kind === 'maxNorm'
      ? 'clamp(norm, 0.0, MAX_VALUE)'
      : target.kind === 'minMaxNorm'
        ? 'RATE * clamp(norm, MIN_VALUE, MAX_VALUE) + (1.0 - RATE) * norm'
        : '';
  const floats: Record<string, number> = { EPSILON: CONSTRAINT_EPSILON };
  if (target.kind === 'maxNorm') floats.MAX_VALUE = target.maxValue;
  if (target.kind === 'minMaxNorm') Object.assign(floats, { MIN_VALUE: target.minValue, MAX_VALUE: target.maxValue, RATE: target.rate });
  const { workgroups, rowStride } = grid(norms, WG);
  const code = wgsl`// ${target.kind}: each L2 norm over axes [${axes.join(', ')}] of a [${shape.join(', ')}] weight ${target.kind === 'unitNorm' ? 'scaled to 1' : `moved to ${desired}`}.
${constants(names)}
${Object.entries(floats)
  .map(([name, value]) => `const ${name} = ${f32(value)};`)
  .join('\n')}

@group(0) @binding(0) var<storage, read_write> w: array<f32>;

// The offset of the first value of norm k: its index over the kept axes, the last fastest.
fn norm_offset(k: u32) -> u32 {
  var rest = k;
  var offset = 0u;
  ${offsetLines(kept)}
  return offset;
}

// The offset of value r of a norm, from its first: r over the reduced axes, the last fastest.
fn value_offset(r: u32) -> u32 {
  var rest = r;
  var offset = 0u;
  ${offsetLines(axes)}
  return offset;
}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'NORMS', 'k')}
  let first = norm_offset(k);
  var squares = 0.0;
  for (var r = 0u; r < REDUCED; r++) {
    let x = w[first + value_offset(r)];
    squares += x * x;
  }
  let norm = sqrt(squares);
#if ${target.kind === 'unitNorm'}
  let divisor = EPSILON + norm;
  for (var r = 0u; r < REDUCED; r++) {
    let i = first + value_offset(r);
    w[i] = w[i] / divisor;
  }
#else
  let factor = (${desired}) / (EPSILON + norm);
  for (var r = 0u; r < REDUCED; r++) {
    let i = first + value_offset(r);
    w[i] = w[i] * factor;
  }
#endif
}`;
  const params = Object.values(floats).map(f32).join(':');
  return { key: `constraint-${target.kind}:${shape.join('x')}:${axes.join(',')}:${params}`, bindings: ['write'], workgroups, code };
}

/** Statements adding the offset of `rest` decomposed over `axes` (the last fastest) to `offset`. */
function offsetLines(axes: readonly number[]): string {
  if (axes.length === 0) return '// (no axes: offset 0)';
  return [...axes]
    .reverse()
    .map((a, i, list) => (i === list.length - 1 ? `offset += rest * STRIDE${a};` : `offset += (rest % DIM${a}) * STRIDE${a};\n  rest = rest / DIM${a};`))
    .join('\n  ');
}
