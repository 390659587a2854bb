/** PReLU's kernels: y = x or alpha·x per position, its input gradient, and d(alpha) reduced over the batch and shared axes in two passes. */
import type { KernelSource } from './kernel.ts';
import { constants, flatIndex, grid } from './wgsl.ts';

/** Invocations per workgroup of the elementwise kernels. */
const WG = 256;

/**
 * PReLU over `batch` samples of `sample` elements, with alpha of `alpha` elements: the sample's
 * shape with the shared axes collapsed to 1. `dims` is the sample's shape with runs of shared and
 * of unshared axes merged, outermost first.
 */
export interface PreluGeometry {
  batch: number;
  sample: number;
  alpha: number;
  dims: readonly { size: number; shared: boolean }[];
}

/** The strides of each merged dim in the sample (x) and in alpha (0 for shared dims). */
function preluStrides(g: PreluGeometry): { size: number; shared: boolean; xStride: number; aStride: number }[] {
  let x = 1;
  let a = 1;
  const out = [];
  for (let i = g.dims.length - 1; i >= 0; i--) {
    const d = g.dims[i]!;
    out.unshift({ ...d, xStride: x, aStride: d.shared ? 0 : a });
    x *= d.size;
    if (!d.shared) a *= d.size;
  }
  return out;
}

/** `(v / stride) % size` without the no-op parts. */
function coordinate(v: string, stride: number, size: number, total: number): string {
  const q = stride === 1 ? v : `(${v} / ${stride}u)`;
  return stride * size === total ? q : `(${q} % ${size}u)`;
}

/** `fn alpha_index(p)`: alpha's element for position p of a sample. */
function alphaIndexFn(g: PreluGeometry): string {
  const terms = preluStrides(g)
    .filter((d) => !d.shared)
    .map((d) => {
      const c = coordinate('p', d.xStride, d.size, g.sample);
      return d.aStride === 1 ? c : `${c} * ${d.aStride}u`;
    });
  return `// The alpha element of sample position p: p's coordinates on the unshared axes.
fn alpha_index(p: u32) -> u32 { return ${terms.length ? terms.join(' + ') : '0u'}; }`;
}

function checkPrelu(g: PreluGeometry): void {
  const product = g.dims.reduce((a, d) => a * d.size, 1);
  const alpha = g.dims.reduce((a, d) => a * (d.shared ? 1 : d.size), 1);
  if (!Number.isInteger(g.batch) || g.batch < 1 || product !== g.sample || alpha !== g.alpha || g.dims.some((d) => !Number.isInteger(d.size) || d.size < 1)) {
    throw new Error(`prelu: inconsistent geometry ${JSON.stringify(g)}`);
  }
}

/** y = x for x ≥ 0, alpha·x below (TF.js's prelu). Bindings: x, alpha (read), y (write). */
export function preluForward(g: PreluGeometry): KernelSource {
  checkPrelu(g);
  const n = g.batch * g.sample;
  const { workgroups, rowStride } = grid(n, WG);
  return {
    key: `prelu-forward:${g.batch}:${JSON.stringify(g.dims)}`,
    bindings: ['read', 'read', 'write'],
    workgroups,
    code: `// PReLU: y = x for x ≥ 0, alpha·x below, alpha broadcast over the batch and the shared axes.
${constants({ COUNT: n, SAMPLE: g.sample })}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> alpha: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

${alphaIndexFn(g)}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'COUNT', 'i')}
  let v = x[i];
  y[i] = select(alpha[alpha_index(i % SAMPLE)] * v, v, v >= 0.0);
}`,
  };
}

/** dx = dy for x > 0, alpha·dy otherwise (TF.js's mask). Bindings: x, alpha, dy (read), dx (write). */
export function preluInputGrad(g: PreluGeometry): KernelSource {
  checkPrelu(g);
  const n = g.batch * g.sample;
  const { workgroups, rowStride } = grid(n, WG);
  return {
    key: `prelu-input-grad:${g.batch}:${JSON.stringify(g.dims)}`,
    bindings: ['read', 'read', 'read', 'write'],
    workgroups,
    code: `// PReLU input gradient: dx = dy where x > 0, alpha·dy elsewhere.
${constants({ COUNT: n, SAMPLE: g.sample })}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> alpha: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

${alphaIndexFn(g)}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'COUNT', 'i')}
  dx[i] = select(alpha[alpha_index(i % SAMPLE)] * dy[i], dy[i], x[i] > 0.0);
}`,
  };
}

/**
 * How d(alpha) is reduced: each alpha element sums `positions` terms x·dy (the batch times the
 * shared axes), in `chunks` chunks of `chunk` positions; with one chunk the first pass writes
 * d(alpha) itself, else it writes partial sums [chunks, alpha] that a second pass adds up.
 */
export function preluReduction(g: PreluGeometry): { positions: number; chunk: number; chunks: number } {
  const positions = g.batch * (g.sample / g.alpha);
  // √positions per chunk balances the two passes; short reductions stay one pass.
  const chunk = positions <= 64 ? positions : Math.ceil(Math.sqrt(positions));
  return { positions, chunk, chunks: Math.ceil(positions / chunk) };
}

/**
 * First pass of d(alpha) = Σ over the batch and shared axes of [x ≤ 0]·x·dy: invocation
 * (chunk c, alpha a) sums chunk c's positions of a. Bindings: x, dy (read), out (write): d(alpha)
 * when preluReduction(g).chunks is 1, else the partial sums [chunks, alpha].
 */
export function preluAlphaGradPartials(g: PreluGeometry): KernelSource {
  checkPrelu(g);
  const { positions, chunk, chunks } = preluReduction(g);
  const strides = preluStrides(g);
  const sharedCount = g.sample / g.alpha;
  // Position m = (b, shared coordinates), shared fastest: its offset in x from alpha element a's base.
  let sharedStride = 1;
  const sharedTerms: string[] = [];
  for (let i = strides.length - 1; i >= 0; i--) {
    const d = strides[i]!;
    if (!d.shared) continue;
    const c = coordinate('m', sharedStride, d.size, positions);
    sharedTerms.unshift(d.xStride === 1 ? c : `${c} * ${d.xStride}u`);
    sharedStride *= d.size;
  }
  const batchTerm = sharedCount === 1 ? 'm * SAMPLE' : `(m / ${sharedCount}u) * SAMPLE`;
  const baseTerms = strides
    .filter((d) => !d.shared)
    .map((d) => {
      const c = coordinate('a', d.aStride, d.size, g.alpha);
      return d.xStride === 1 ? c : `${c} * ${d.xStride}u`;
    });
  const total = chunks * g.alpha;
  const { workgroups, rowStride } = grid(total, WG);
  return {
    key: `prelu-alpha-grad:${g.batch}:${JSON.stringify(g.dims)}`,
    bindings: ['read', 'read', 'write'],
    workgroups,
    code: `// PReLU d(alpha), ${chunks === 1 ? 'in one pass' : 'first pass: partial sums of CHUNK positions'}: Σ [x ≤ 0]·x·dy over the batch and shared axes.
${constants({ SAMPLE: g.sample, ALPHA: g.alpha, POSITIONS: positions, CHUNK: chunk, INVOCATIONS: total })}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// Where alpha element a's positions start in x (its coordinates on the unshared axes)...
fn alpha_base(a: u32) -> u32 { return ${baseTerms.length ? baseTerms.join(' + ') : '0u'}; }
// ...and where its position m (the sample, then the shared coordinates) lies from there.
fn position_offset(m: u32) -> u32 { return ${[batchTerm, ...sharedTerms].join(' + ')}; }

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'INVOCATIONS', 'g')}
  let a = g % ALPHA; // neighbouring invocations take neighbouring alpha elements
  let c = g / ALPHA;
  let base = alpha_base(a);
  var s = 0.0;
  for (var m = c * CHUNK; m < min(POSITIONS, (c + 1u) * CHUNK); m++) {
    let k = base + position_offset(m);
    let v = x[k];
    s += select(v * dy[k], 0.0, v > 0.0);
  }
  out[g] = s;
}`,
  };
}

/** Second pass of d(alpha), when there are several chunks: dalpha[a] = Σ_c partials[c, a]. Bindings: partials (read), dalpha (write). */
export function preluAlphaGradSum(g: PreluGeometry): KernelSource {
  checkPrelu(g);
  const { chunks } = preluReduction(g);
  const { workgroups, rowStride } = grid(g.alpha, WG);
  return {
    key: `prelu-alpha-grad-sum:${g.alpha}:${chunks}`,
    bindings: ['read', 'write'],
    workgroups,
    code: `// PReLU d(alpha), second pass: adds the CHUNKS partial sums of each alpha element.
${constants({ ALPHA: g.alpha, CHUNKS: chunks })}

@group(0) @binding(0) var<storage, read> partials: array<f32>; // [CHUNKS, ALPHA]
@group(0) @binding(1) var<storage, read_write> dalpha: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'ALPHA', 'a')}
  var s = 0.0;
  for (var c = 0u; c < CHUNKS; c++) { s += partials[c * ALPHA + a]; }
  dalpha[a] = s;
}`,
  };
}
