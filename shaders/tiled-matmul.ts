/**
 * One configurable workgroup-tiled matrix product for GPUs (geometry and configuration in
 * shaders/tiled-matmul-config.ts):
 *
 *   C[b] (= | +=) act(op(A[b]) · op(B[b]) + bias)
 *
 * A workgroup of wgX × wgY invocations computes a tileM × tileN tile of C. Per step along k it
 * stages a tileM × tileK tile of op(A) and a tileK × tileN tile of op(B) in workgroup memory
 * (both k-major: the invocations of one row read neighbouring words), then every invocation
 * adds the product of its blockRows × blockCols register block. Invocation (x, y) owns rows
 * y + r·wgY and columns x + c·wgX of the tile, so neighbouring invocations read neighbouring
 * words of the B tile and store neighbouring words of C. Elements past an edge of op(A) or op(B)
 * are staged as zeros and results past an edge of C are not stored, so any m, n and k are exact.
 *
 * Options (TileConfig): vec4 loads of an operand along its contiguous axis; double buffering
 * (the next step's loads are in flight during this step's product; one barrier per step);
 * subgroupShuffle in place of the workgroup-memory reads of op(A); split-K, whose slices write
 * partial products that matmulSplitKSum adds (f32 has no atomic add in WGSL). Either operand may
 * be gathered by a caller's WGSL function instead of read from a matrix (OperandLoaders: the
 * convolutions as implicit GEMM, shaders/conv2d-gemm.ts), and C's rows pooled by 2×2 windows
 * before the store (MatmulGeometry.pool: a convolution's pooled forward).
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { BindingKind, KernelSource } from './kernel.ts';
import { constants, each, flatIndex, grid } from './wgsl.ts';
import {
  DEFAULT_MATMUL_LIMITS,
  gatheredVec4,
  type MatmulGeometry,
  type MatmulLimits,
  matmulGeometryKey,
  type OperandLoaders,
  type OperandPlan,
  operandPlans,
  productLaunch,
  type TileConfig,
  tileConfigKey,
  validateLoaders,
  validateMatmulGeometry,
  validateTileConfig,
} from './tiled-matmul-config.ts';

export * from './tiled-matmul-config.ts';

/** The bindings of the product kernel in order: its WGSL names and kinds. */
export function matmulBindings(g: MatmulGeometry, c: TileConfig): { name: string; kind: BindingKind }[] {
  const reads = ['a', 'b', ...(g.maskA ? ['maskA'] : []), ...(g.maskB ? ['maskB'] : [])];
  const outputs = c.splitK > 1 ? ['partial'] : [...(g.bias ? ['bias'] : []), 'c', ...(g.pool?.argmax ? ['argmax'] : [])];
  return [...reads, ...outputs].map((name) => ({ name, kind: name === 'c' || name === 'partial' || name === 'argmax' ? 'write' : 'read' }));
}

/** `@group(0) @binding(i)` declarations of `names` with the element types given. */
function declare(bindings: readonly { name: string; kind: BindingKind }[], types: Readonly<Record<string, string>>): string {
  return bindings
    .map(({ name, kind }, i) => `@group(0) @binding(${i}) var<storage, ${kind === 'write' ? 'read_write' : 'read'}> ${name}: array<${types[name] ?? 'f32'}>;`)
    .join('\n');
}

/**
 * For operand X (A or B): `fn loadX(base, r0, c0, e)`, load `e` of the tile whose stored corner
 * is (r0, c0), zero outside the matrix (and masked when asked), and `fn stageX(slot, e, v)`,
 * which writes it into the k-major workgroup tile. Neighbouring loads lie along the stored rows.
 * `gathered`: the element comes from the loaders' `gatherX(base, r, c)` instead of the binding.
 */
function operandStaging(p: OperandPlan, masked: boolean, gathered = false): string {
  const x = p.name;
  const type = p.width === 4 ? 'vec4f' : 'f32';
  const binding = x.toLowerCase();
  const tileSide = x === 'A' ? 'TILE_M' : 'TILE_N';
  const perRow = `${x}_LOADS_PER_ROW`;
  const index = p.width === 4 ? `(base + r * ${x}_COLS + c) / 4u` : `base + r * ${x}_COLS + c`;
  const zero = p.width === 4 ? 'vec4f(0.0)' : '0.0';
  const value = masked ? `select(${zero}, ${binding}[i], mask${x}[i] > ${zero})` : `${binding}[i]`;
  const read = gathered ? `v = gather${x}(base, r, c);` : `let i = ${index};
    v = ${value};`;
  const column = p.width === 4 ? `(e % ${perRow}) * 4u` : `e % ${perRow}`;
  // Stored element (r, c + t) of the tile goes to tile[k][mn]: k is r when the stored rows run along k.
  const shifted = (t: string) => (t ? `(c + ${t})` : 'c');
  const target = (t: string) => (p.rowsAlongK ? `r * ${tileSide} + c${t ? ` + ${t}` : ''}` : `${shifted(t)} * ${tileSide} + r`);
  const offset = (t: number) => (t === 0 ? '' : `${t}u`);
  const components = p.width === 4 ? each(4, (t) => `tile${x}[slot + ${target(offset(t))}] = v.${'xyzw'[t]};`) : `tile${x}[slot + ${target('')}] = v;`;
  return `// ${x} is ${gathered ? 'gathered as' : 'stored'} ${p.rows} × ${p.cols}${p.rowsAlongK === (x === 'A') ? ' (transposed)' : ''}; its tile, ${p.tileRows} × ${p.tileCols} stored, loads ${p.width === 4 ? 'as vec4' : 'by element'}.
${constants({ [`${x}_ROWS`]: p.rows, [`${x}_COLS`]: p.cols, [`${x}_TILE_ROWS`]: p.tileRows, [`${x}_TILE_COLS`]: p.tileCols })}
${constants({ [perRow]: p.tileCols / p.width, [`${x}_LOADS`]: p.units, [`${x}_LOADS_PER_INVOCATION`]: p.loadsPerInvocation })}

/** Load e of ${x}'s tile with stored corner (r0, c0): elements (r, c${p.width === 4 ? '..c+3' : ''}), zero outside ${x}. */
fn load${x}(base: u32, r0: u32, c0: u32, e: u32) -> ${type} {
  let r = r0 + e / ${perRow};
  let c = c0 + ${column};
  var v = ${zero};
  if ((r < ${x}_ROWS) & (c < ${x}_COLS)) {
    ${read}
  }
  return v;
}

/** Writes load e of ${x}'s tile into workgroup tile${x} at \`slot\` (k-major). */
fn stage${x}(slot: u32, e: u32, v: ${type}) {
  let r = e / ${perRow};
  let c = ${column};
  ${components}
}`;
}

/** act(v + bias) of column col, as WGSL (bias read from the binding named bias). */
function activated(g: MatmulGeometry): string {
  const z = g.bias ? 'v + bias[col]' : 'v';
  return g.relu ? `max(${z}, 0.0)` : z;
}

/** `fn storeC(batch, row, col, v)`: bias, activation and store (or add) of one element of C. Bindings named bias and c. */
function epilogue(g: MatmulGeometry): string {
  const value = activated(g);
  return `/** C[batch][row, col] ${g.accumulate ? '+=' : '='} ${value}. */
fn storeC(batch: u32, row: u32, col: u32, v: f32) {
  let i = batch * C_BATCH_STRIDE + row * N + col;
  c[i] ${g.accumulate ? '+=' : '='} ${value};
}`;
}

/** The pooled epilogue's constants and its act(v + bias) (PoolEpilogue): C [windows, n], argmax [windows, ceil(n / 4)]. */
function poolFunctions(g: MatmulGeometry): string {
  return `// C's rows come in 2×2 pooling windows: row y + q·WG_Y of a tile is member q (2·dy + dx) of window wg.y·WG_Y + y.
${constants({ WINDOWS: g.pool!.windows, ARGMAX_GROUPS: Math.ceil(g.n / 4) })}

/** act(v + bias) of column col: the value the pool compares. */
fn activated(col: u32, v: f32) -> f32 { return ${activated(g)}; }`;
}

/**
 * main()'s end with a pooled epilogue: per column, the first maximum of the invocation's 4 rows
 * (one window) compared as shaders/pool.ts poolWindow compares (strictly greater wins), stored;
 * with the argmax, each column's position staged in tileA (free after the loop's last barrier)
 * and packed, 4 columns a word, by one invocation per word.
 */
function poolStore(g: MatmulGeometry): string {
  const argmax = g.pool!.argmax;
  return `let window = wg.y * WG_Y + lid.y;
  for (var col = 0u; col < BLOCK_COLS; col++) {
    let n = n0 + lid.x + col * WG_X;
    var arg = 0u;
    if (n < N) {
      var best = activated(n, acc[0][col]);
      for (var q = 1u; q < 4u; q++) {
        let v = activated(n, acc[q][col]);
        if (v > best) { best = v; arg = q; }
      }
      if (window < WINDOWS) { c[window * N + n] = best; }
    }${argmax ? `
    tileA[lid.y * TILE_N + lid.x + col * WG_X] = f32(arg);` : ''}
  }${argmax ? `
  workgroupBarrier(); // every position of the tile is staged
  // Word e of the tile: window row e / (TILE_N / 4), columns 4·(e % (TILE_N / 4)) on, staged from tileA[4·e].
  for (var e = local; e < WG_Y * TILE_N / 4u; e += INVOCATIONS) {
    let w = wg.y * WG_Y + e / (TILE_N / 4u);
    let n = n0 + e % (TILE_N / 4u) * 4u;
    if ((w < WINDOWS) & (n < N)) {
      argmax[w * ARGMAX_GROUPS + n / 4u] = u32(tileA[4u * e]) | (u32(tileA[4u * e + 1u]) << 2u) | (u32(tileA[4u * e + 2u]) << 4u) | (u32(tileA[4u * e + 3u]) << 6u);
    }
  }` : ''}`;
}

/** The product's accumulation over one pair of workgroup tiles: from workgroup memory, and through subgroup shuffles. */
function multiplyFunctions(c: TileConfig): string {
  const common = `
    for (var col = 0u; col < BLOCK_COLS; col++) { b[col] = tileB[slotB + kk * TILE_N + x + col * WG_X]; }
    for (var row = 0u; row < BLOCK_ROWS; row++) {
      for (var col = 0u; col < BLOCK_COLS; col++) { (*acc)[row][col] += a[row] * b[col]; }
    }`;
  return wgsl`
/** acc += rows y + r·WG_Y of the A tile at slotA times columns x + c·WG_X of the B tile at slotB. */
fn multiplyTiles(slotA: u32, slotB: u32, x: u32, y: u32, acc: ptr<function, Accumulators>) {
  var a: array<f32, BLOCK_ROWS>;
  var b: array<f32, BLOCK_COLS>;
  for (var kk = 0u; kk < TILE_K; kk++) {
    for (var row = 0u; row < BLOCK_ROWS; row++) { a[row] = tileA[slotA + kk * TILE_M + y + row * WG_Y]; }${common}
  }
}
#if ${c.subgroups}

/**
 * multiplyTiles with op(A) passed between invocations: the \`width\` lanes from \`first\` share
 * row y; per group of \`width\` k steps, lane first + j reads step j's values of A from workgroup
 * memory and the others take them by subgroupShuffle.
 */
fn multiplyTilesShuffled(slotA: u32, slotB: u32, x: u32, y: u32, first: u32, mine: u32, width: u32, acc: ptr<function, Accumulators>) {
  var fetched: array<f32, BLOCK_ROWS>;
  var a: array<f32, BLOCK_ROWS>;
  var b: array<f32, BLOCK_COLS>;
  for (var k0 = 0u; k0 < TILE_K; k0 += width) {
    for (var row = 0u; row < BLOCK_ROWS; row++) { fetched[row] = tileA[slotA + (k0 + mine) * TILE_M + y + row * WG_Y]; }
    for (var j = 0u; j < width; j++) {
      let kk = k0 + j;
      for (var row = 0u; row < BLOCK_ROWS; row++) { a[row] = subgroupShuffle(fetched[row], first + j); }${common.replace(/\n {4}/g, '\n      ')}
    }
  }
}
#endif`;
}

/**
 * The loop over k of main(): single-buffered (stage, barrier, multiply, barrier) or
 * double-buffered (the next tiles' loads go to registers before this step's product and into the
 * other workgroup tiles after it; one barrier per step).
 */
function kLoop(c: TileConfig, a: OperandPlan, b: OperandPlan, multiply: (slotA: string, slotB: string) => string): string {
  const barrier = (why: string) => (c.unsafeOmitBarriers ? `// (barrier omitted: unsafeOmitBarriers, a test-only option) ${why}` : `workgroupBarrier(); // ${why}`);
  const guarded = (p: OperandPlan, body: string) => (p.units % (c.wgX * c.wgY) === 0 ? body : `if (e < ${p.name}_LOADS) { ${body} }`);
  const corner = (p: OperandPlan) => (p.name === 'A' ? (p.rowsAlongK ? 'k0, m0' : 'm0, k0') : p.rowsAlongK ? 'k0, n0' : 'n0, k0');
  const forLoads = (p: OperandPlan, body: string, indent: string) =>
    `for (var s = 0u; s < ${p.name}_LOADS_PER_INVOCATION; s++) {\n${indent}  let e = local + s * INVOCATIONS;\n${indent}  ${guarded(p, body)}\n${indent}}`;
  if (!c.doubleBuffer) {
    return `for (var t = 0u; t < kTiles; t++) {
    let k0 = kBegin + t * TILE_K;
    ${forLoads(a, `stageA(0u, e, loadA(baseA, ${corner(a)}, e));`, '    ')}
    ${forLoads(b, `stageB(0u, e, loadB(baseB, ${corner(b)}, e));`, '    ')}
    ${barrier('the tiles are whole before anyone reads them')}
    ${multiply('0u', '0u')}
    ${barrier('everyone has read them before the next step overwrites them')}
  }`;
  }
  const type = (p: OperandPlan) => (p.width === 4 ? 'vec4f' : 'f32');
  return `var nextA: array<${type(a)}, A_LOADS_PER_INVOCATION>;
  var nextB: array<${type(b)}, B_LOADS_PER_INVOCATION>;
  // The first step's tiles go straight to slot 0.
  {
    let k0 = kBegin;
    ${forLoads(a, `stageA(0u, e, loadA(baseA, ${corner(a)}, e));`, '    ')}
    ${forLoads(b, `stageB(0u, e, loadB(baseB, ${corner(b)}, e));`, '    ')}
  }
  ${barrier('slot 0 is whole')}
  for (var t = 0u; t < kTiles; t++) {
    let current = t % 2u;
    let more = t + 1u < kTiles;
    // Issue the next step's loads now: they are in flight while this step multiplies.
    if (more) {
      let k0 = kBegin + (t + 1u) * TILE_K;
      ${forLoads(a, `nextA[s] = loadA(baseA, ${corner(a)}, e);`, '      ')}
      ${forLoads(b, `nextB[s] = loadB(baseB, ${corner(b)}, e);`, '      ')}
    }
    ${multiply('current * A_TILE', 'current * B_TILE')}
    // The other slot was last read in step t − 1, before the previous barrier: safe to overwrite.
    if (more) {
      ${forLoads(a, `stageA((1u - current) * A_TILE, e, nextA[s]);`, '      ')}
      ${forLoads(b, `stageB((1u - current) * B_TILE, e, nextB[s]);`, '      ')}
    }
    ${barrier('the next slot is whole, and this one read, before step t + 1')}
  }`;
}

/**
 * The product kernel: C (= | +=) act(op(A)·op(B) + bias), or with splitK > 1 the partial
 * products of the k slices into `partial` [splitK][batch][m][n], which matmulSplitKSum finishes.
 * Bindings: matmulBindings(g, c). `limits`: the device's (WebGPU's defaults unless given).
 * `loaders`: operands gathered by the caller's WGSL (implicit GEMM) instead of read as matrices.
 */
export function tiledMatmul(g: MatmulGeometry, c: TileConfig, limits: MatmulLimits = DEFAULT_MATMUL_LIMITS, loaders?: OperandLoaders): KernelSource {
  validateMatmulGeometry(g, 'tiledMatmul');
  validateTileConfig(c, limits);
  if (loaders) validateLoaders(g, loaders);
  const { sliceK, workgroups } = productLaunch(g, c);
  const { a, b } = operandPlans(g, c, loaders);
  const bindings = matmulBindings(g, c);
  const split = c.splitK > 1;
  const types = { a: a.width === 4 ? 'vec4f' : 'f32', maskA: a.width === 4 ? 'vec4f' : 'f32', b: b.width === 4 ? 'vec4f' : 'f32', maskB: b.width === 4 ? 'vec4f' : 'f32', argmax: 'u32' };
  const multiply = (slotA: string, slotB: string) =>
    c.subgroups
      ? `if (shuffle) { multiplyTilesShuffled(${slotA}, ${slotB}, lid.x, lid.y, first, mine, width, &acc); } else { multiplyTiles(${slotA}, ${slotB}, lid.x, lid.y, &acc); }`
      : `multiplyTiles(${slotA}, ${slotB}, lid.x, lid.y, &acc);`;
  const subgroupBuiltins = c.subgroups ? ', @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) lanes: u32' : '';
  return {
    key: `matmul:tiled:${matmulGeometryKey(g)}:${tileConfigKey(g, c, loaders)}`,
    bindings: bindings.map((x) => x.kind),
    workgroups,
    code: wgsl`${c.subgroups ? 'enable subgroups;\n// Whether a shuffle is safe is checked at run time (subgroupAll below), which the static analysis cannot see.\ndiagnostic(off, subgroup_uniformity);\n' : ''}
${declare(bindings, types)}

${constants({ BATCH: g.batch, M: g.m, N: g.n, K: g.k, A_BATCH_STRIDE: g.strideA, B_BATCH_STRIDE: g.strideB, C_BATCH_STRIDE: g.strideC })}
// One workgroup's tile of C, its k step, its shape and each invocation's register block.
${constants({ TILE_M: c.tileM, TILE_N: c.tileN, TILE_K: c.tileK, WG_X: c.wgX, WG_Y: c.wgY, BLOCK_ROWS: c.blockRows, BLOCK_COLS: c.blockCols })}
${constants({ INVOCATIONS: c.wgX * c.wgY })}
// Split-K: workgroup layer z covers k in [slice · SLICE_K, (slice + 1) · SLICE_K) of slice z / BATCH (one slice: all of k).
${constants({ SPLIT_K: c.splitK, SLICE_K: sliceK })}
${constants({ A_TILE: c.tileK * c.tileM, B_TILE: c.tileK * c.tileN })}
${loaders ? `\n// The gathered operands' addressing${gatheredVec4(g, c, loaders) ? ', 4 stored columns a gather' : ''}.\n${gatheredVec4(g, c, loaders) ? loaders.vec4Code : loaders.code}\n` : ''}
// k-major workgroup tiles: tileA[k][m], tileB[k][n]${c.doubleBuffer ? ', two slots each (double buffering)' : ''}.
var<workgroup> tileA: array<f32, ${c.doubleBuffer ? '2 * ' : ''}A_TILE>;
var<workgroup> tileB: array<f32, ${c.doubleBuffer ? '2 * ' : ''}B_TILE>;

alias Accumulators = array<array<f32, BLOCK_COLS>, BLOCK_ROWS>;

${operandStaging(a, g.maskA, !!loaders?.a)}

${operandStaging(b, g.maskB, !!loaders?.b)}
${multiplyFunctions(c)}
#if ${split}

/** The partial product of slice \`slice\` for C[batch][row, col]. */
fn storePartial(slice: u32, batch: u32, row: u32, col: u32, v: f32) {
  partial[((slice * BATCH + batch) * M + row) * N + col] = v;
}
#else

${g.pool ? poolFunctions(g) : epilogue(g)}
#endif

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) local: u32${subgroupBuiltins}) {
  // The tile, batch and k range are uniform across the workgroup, so the barriers of the loop over k are too.
  let n0 = wg.x * TILE_N;
  let m0 = wg.y * TILE_M;
  let batch = wg.z % BATCH;
  let slice = wg.z / BATCH;
  let kBegin = slice * SLICE_K;
  let kTiles = (min(kBegin + SLICE_K, K) - kBegin + TILE_K - 1u) / TILE_K;
  let baseA = batch * A_BATCH_STRIDE;
  let baseB = batch * B_BATCH_STRIDE;
#if ${c.subgroups}
  ${SHUFFLE_CONDITION}
  let first = lane - lane % width;
  let mine = lane % width;
#endif
  var acc: Accumulators; // zeros
  ${kLoop(c, a, b, multiply)}
  ${g.pool ? poolStore(g) : `for (var row = 0u; row < BLOCK_ROWS; row++) {
    let m = m0 + lid.y + row * WG_Y;
    for (var col = 0u; col < BLOCK_COLS; col++) {
      let n = n0 + lid.x + col * WG_X;
      if ((m < M) & (n < N)) { ${split ? 'storePartial(slice, batch, m, n, acc[row][col]);' : 'storeC(batch, m, n, acc[row][col]);'} }
    }
  }`}
}`
      .replace(/\n{3,}/g, '\n\n')
      .trimStart(),
  };
}

/**
 * When multiplyTilesShuffled may run: subgroups that are aligned runs of local indices (lane =
 * local % lanes, all full) and runs of \`width\` lanes within one row of the workgroup; else the
 * kernel reads workgroup memory. Needs \`local\`, \`lane\` and \`lanes\` (main's builtins).
 */
const SHUFFLE_CONDITION = `let width = min(lanes, WG_X);
  let aligned = subgroupAll((local / lanes == subgroupBroadcastFirst(local / lanes)) & (lane == local % lanes));
  let shuffle = aligned & (max(lanes, WG_X) % width == 0u) & (TILE_K % width == 0u) & (INVOCATIONS % lanes == 0u);`;

/** A kernel that writes main()'s shuffle condition for configuration c, 1.0 or 0.0 per invocation, so a test can see whether the shuffles run on its device. */
export function shuffleConditionProbe(c: TileConfig): string {
  return `enable subgroups;
@group(0) @binding(0) var<storage, read_write> flags: array<f32>;
${constants({ WG_X: c.wgX, WG_Y: c.wgY, TILE_K: c.tileK, INVOCATIONS: c.wgX * c.wgY })}

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(local_invocation_index) local: u32, @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) lanes: u32) {
  ${SHUFFLE_CONDITION}
  flags[local] = select(0.0, 1.0, shuffle);
}`;
}

/** The bindings of matmulSplitKSum in order: its WGSL names and kinds. */
export function splitKSumBindings(g: MatmulGeometry): { name: string; kind: BindingKind }[] {
  return [
    { name: 'partial', kind: 'read' },
    ...(g.bias ? [{ name: 'bias', kind: 'read' as const }] : []),
    { name: 'c', kind: 'write' },
  ];
}

/** Split-K's second kernel: C (= | +=) act(Σ_slices partial + bias), one invocation per element of C. Bindings: splitKSumBindings(g). */
export function matmulSplitKSum(g: MatmulGeometry, splitK: number): KernelSource {
  validateMatmulGeometry(g, 'matmulSplitKSum');
  if (!Number.isInteger(splitK) || splitK < 2) throw new Error(`matmulSplitKSum: splitK must be an integer ≥ 2, got ${splitK}`);
  const total = g.batch * g.m * g.n;
  const { workgroups, rowStride } = grid(total, 64);
  const bindings = splitKSumBindings(g);
  return {
    key: `matmul:split-k-sum:${matmulGeometryKey(g)}:splitK${splitK}`,
    bindings: bindings.map((x) => x.kind),
    workgroups,
    code: `${declare(bindings, {})}

${constants({ BATCH: g.batch, M: g.m, N: g.n, C_BATCH_STRIDE: g.strideC, SPLIT_K: splitK })}

${epilogue(g)}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'BATCH * M * N')}
  var v = 0.0;
  for (var slice = 0u; slice < SPLIT_K; slice++) { v += partial[slice * BATCH * M * N + i]; }
  let element = i % (M * N);
  storeC(i / (M * N), element / N, element % N, v);
}`,
  };
}
