/**
 * The geometry and tile configuration of the workgroup-tiled matrix product
 * (shaders/tiled-matmul.ts), their validation, and the staging plan of each operand: which
 * operands load as vec4, how many loads each invocation makes per tile.
 *
 *   C[b] (= | +=) act(op(A[b]) · op(B[b]) + bias)    op(A) [m, k], op(B) [k, n], C[b] [m, n]
 *
 * A[b] is stored [m, k], or [k, m] when transposeA; B[b] is stored [k, n], or [n, k] when
 * transposeB; C[b] is [m, n]; every matrix row-major, batch b at b · stride (a stride of 0 reuses
 * one matrix for every batch).
 *
 * An operand may instead be gathered through a loader (OperandLoaders): a WGSL function of its
 * stored coordinates, e.g. a convolution's im2col read as an implicit GEMM (shaders/conv2d-gemm.ts).
 * C's rows may be pooled by 2×2 windows before the store (PoolEpilogue), which lays out m by windows.
 */

/** A batched product's sizes and transposes (shaders/batched-matmul.ts), with strides, epilogues and masks. */
import type { BatchedMatmulGeometry } from './batched-matmul.ts';

export interface MatmulGeometry extends BatchedMatmulGeometry {
  /** Elements from one batch's matrix to the next (m·k, k·n, m·n when packed; 0: one matrix for all). */
  strideA: number;
  strideB: number;
  strideC: number;
  /** Adds bias[n] (a binding) to every row. */
  bias: boolean;
  /** max(·, 0) after the bias. */
  relu: boolean;
  /** C += act(product + bias) instead of C = act(product + bias). */
  accumulate: boolean;
  /**
   * op(A) (op(B)) multiplied elementwise by [mask > 0], the mask stored exactly like the operand
   * (a binding after the operands): the gradient through a fused ReLU, dy masked by y > 0.
   */
  maskA: boolean;
  maskB: boolean;
  /** C's rows pooled by 2×2 windows before the store (a convolution's pooled forward); absent: C stored as is. */
  pool?: PoolEpilogue;
}

/**
 * A 2×2 max pool as the product's epilogue. Rows come in windows: row m, in tile t = m / tileM at
 * local row l = m % tileM, is member q = l / wgY (2·dy + dx, shaders/pool.ts poolWindow's order)
 * of window t·wgY + l % wgY, so an invocation's blockRows = 4 rows are one window's 4 pixels and
 * m = ceil(windows / wgY)·tileM (poolRows). C stores [windows, n]: per column the first maximum
 * over the window after bias and activation, compared as poolWindow compares. The kernel names
 * the count WINDOWS beside TILE_M and WG_Y, for the gather that lays A's rows out this way.
 */
export interface PoolEpilogue {
  /** Pooling windows (C's stored rows); gathered rows past the last are zeros and never stored. */
  windows: number;
  /** Also store each window's first-max positions, 2 bits a column in a u32 per 4 columns (binding argmax, POOL_WINDOW_WGSL's format). */
  argmax: boolean;
}

/** The product's m for `windows` pooled windows under configuration c (PoolEpilogue's row layout). */
export function poolRows(windows: number, c: Pick<TileConfig, 'tileM' | 'wgY'>): number {
  return Math.ceil(windows / c.wgY) * c.tileM;
}

export interface TileConfig {
  /** C tile of one workgroup: tileM rows × tileN columns, staged tileK deep per step. */
  tileM: number;
  tileN: number;
  tileK: number;
  /** Workgroup shape: wgX invocations along n, wgY along m. */
  wgX: number;
  wgY: number;
  /** Register block of one invocation: blockRows × blockCols elements of C (tileM = wgY·blockRows, tileN = wgX·blockCols). */
  blockRows: number;
  blockCols: number;
  /** Load an operand as vec4 along its contiguous axis where that axis, its batch stride and its tile extent allow; scalar loads otherwise. */
  vec4: boolean;
  /** Two workgroup tiles per operand: the loads of step k+1 are issued before the product of step k, one barrier per step. */
  doubleBuffer: boolean;
  /**
   * Exchange op(A)'s values between the invocations that share a row through subgroupShuffle
   * instead of each reading workgroup memory. Needs the device's 'subgroups' feature; the kernel
   * checks at run time that its subgroups are aligned runs of local_invocation_index (else it
   * reads workgroup memory as without the option).
   */
  subgroups: boolean;
  /** Split-K: s partial products over s slices of k, written to s slices of a scratch buffer that a second kernel sums. 1: none. */
  splitK: number;
  /** TEST ONLY: leaves out every workgroupBarrier(), so the tiles race with the product (the barrier test's broken twin). */
  unsafeOmitBarriers?: boolean;
}

/**
 * Operands gathered by functions instead of read from a row-major matrix (implicit GEMM): the
 * staging code calls `fn gatherA(base: u32, r: u32, c: u32) -> f32` (gatherB) for stored element
 * (r, c) of batch base / stride, inside the matrix's bounds only; the gather returns the value,
 * zero where the addressing has none (a convolution's padding). Such operands load by element,
 * or as vec4 through `vec4Code` where it is given (gatheredVec4).
 */
export interface OperandLoaders {
  /** The pipeline key's part naming the addressing and everything it bakes in. */
  key: string;
  /** WGSL at module scope: named constants and the gather functions, reading bindings `a` and `b` (f32 arrays). */
  code: string;
  /** Present for each operand that gathers: the floats its binding must hold. */
  a?: { floats: number };
  b?: { floats: number };
  /**
   * The same module-scope WGSL with every gather returning vec4f, stored elements (r, c..c+3) for
   * c a multiple of 4, its bindings read as array<vec4f>: given where 4 neighbouring stored
   * columns of each gathered operand are 4 neighbouring floats (a convolution's channels in
   * groups of 4), and every gathered operand's stored columns are a multiple of 4.
   */
  vec4Code?: string;
}

/** Whether the gathered operands load as vec4: the loaders offer vec4Code, the configuration loads vec4 and every gathered operand's tile spans whole vec4s. */
export function gatheredVec4(g: MatmulGeometry, c: TileConfig, loaders?: OperandLoaders): boolean {
  if (!loaders?.vec4Code || !c.vec4) return false;
  const tileCols = (x: 'A' | 'B') => (x === 'A' ? (g.transposeA ? c.tileM : c.tileK) : g.transposeB ? c.tileK : c.tileN);
  return (['A', 'B'] as const).every((x) => !loaders[x === 'A' ? 'a' : 'b'] || tileCols(x) % 4 === 0);
}

/** What a device allows a configuration, WebGPU's defaults unless the profile says more. */
export interface MatmulLimits {
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupSizeX: number;
  maxComputeWorkgroupSizeY: number;
}

/** WebGPU's default limits: a configuration within them runs on every device. */
export const DEFAULT_MATMUL_LIMITS: MatmulLimits = {
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxComputeWorkgroupSizeY: 256,
};

const MAX_GROUPS_PER_DIM = 65535;

/** Bytes of workgroup memory a configuration uses: one tile of op(A) and one of op(B), twice when double-buffered. */
export function workgroupStorageBytes(c: TileConfig): number {
  return 4 * (c.tileM * c.tileK + c.tileK * c.tileN) * (c.doubleBuffer ? 2 : 1);
}

function positiveInteger(who: string, field: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new Error(`${who}: ${field} must be a positive integer, got ${String(value)}`);
  }
}

function flag(who: string, field: string, value: unknown): void {
  if (typeof value !== 'boolean') throw new Error(`${who}: ${field} must be true or false, got ${String(value)}`);
}

/** Checks a tile configuration against itself and the device limits; throws an Error naming the field. */
export function validateTileConfig(c: TileConfig, limits: MatmulLimits = DEFAULT_MATMUL_LIMITS, who = 'tiledMatmul'): TileConfig {
  for (const field of ['tileM', 'tileN', 'tileK', 'wgX', 'wgY', 'blockRows', 'blockCols', 'splitK'] as const) positiveInteger(who, field, c[field]);
  for (const field of ['vec4', 'doubleBuffer', 'subgroups'] as const) flag(who, field, c[field]);
  if (c.unsafeOmitBarriers !== undefined) flag(who, 'unsafeOmitBarriers', c.unsafeOmitBarriers);
  if (c.tileM !== c.wgY * c.blockRows) {
    throw new Error(`${who}: tileM must equal wgY × blockRows (${c.wgY} × ${c.blockRows} = ${c.wgY * c.blockRows}), got ${c.tileM}`);
  }
  if (c.tileN !== c.wgX * c.blockCols) {
    throw new Error(`${who}: tileN must equal wgX × blockCols (${c.wgX} × ${c.blockCols} = ${c.wgX * c.blockCols}), got ${c.tileN}`);
  }
  const invocations = c.wgX * c.wgY;
  if (invocations > limits.maxComputeInvocationsPerWorkgroup) {
    throw new Error(`${who}: wgX × wgY must be at most ${limits.maxComputeInvocationsPerWorkgroup} invocations, got ${c.wgX} × ${c.wgY} = ${invocations}`);
  }
  if (c.wgX > limits.maxComputeWorkgroupSizeX) throw new Error(`${who}: wgX must be at most ${limits.maxComputeWorkgroupSizeX}, got ${c.wgX}`);
  if (c.wgY > limits.maxComputeWorkgroupSizeY) throw new Error(`${who}: wgY must be at most ${limits.maxComputeWorkgroupSizeY}, got ${c.wgY}`);
  const bytes = workgroupStorageBytes(c);
  if (bytes > limits.maxComputeWorkgroupStorageSize) {
    throw new Error(
      `${who}: tileM, tileN and tileK (${c.tileM}, ${c.tileN}, ${c.tileK}${c.doubleBuffer ? ', doubleBuffer' : ''}) need ${bytes} bytes of workgroup memory, ` +
        `expected at most ${limits.maxComputeWorkgroupStorageSize}`,
    );
  }
  return c;
}

/** Checks a geometry (sizes, strides, flags); throws an Error naming the field. */
export function validateMatmulGeometry(g: MatmulGeometry, who = 'matmul'): MatmulGeometry {
  for (const field of ['batch', 'm', 'n', 'k'] as const) {
    positiveInteger(who, field, g[field]);
    if (g[field] >= 2 ** 31) throw new Error(`${who}: ${field} must be below 2^31, got ${g[field]}`);
  }
  for (const field of ['strideA', 'strideB', 'strideC'] as const) {
    const value = g[field];
    if (!Number.isInteger(value) || value < 0) throw new Error(`${who}: ${field} must be a non-negative integer, got ${String(value)}`);
  }
  for (const field of ['transposeA', 'transposeB', 'bias', 'relu', 'accumulate', 'maskA', 'maskB'] as const) flag(who, field, g[field]);
  if (g.batch > 1 && g.strideC < g.m * g.n) {
    throw new Error(`${who}: strideC must be at least m × n = ${g.m * g.n} (batches of C may not overlap), got ${g.strideC}`);
  }
  if (g.pool) {
    positiveInteger(who, 'pool.windows', g.pool.windows);
    flag(who, 'pool.argmax', g.pool.argmax);
    if (g.batch !== 1 || g.accumulate) throw new Error(`${who}: a pooled epilogue needs batch 1 and no accumulate, got batch ${g.batch}${g.accumulate ? ' with accumulate' : ''}`);
  }
  return g;
}

/**
 * Checks a pooled geometry against a configuration: 4 rows an invocation, no split-K, m laid out
 * as poolRows, and for the argmax whole groups of 4 columns a tile and room in tileA for every
 * invocation's positions (staged there after the loop over k); throws an Error naming the field.
 */
export function validatePoolEpilogue(g: MatmulGeometry, c: TileConfig, who = 'tiledMatmul'): void {
  if (!g.pool) return;
  if (c.blockRows !== 4) throw new Error(`${who}: a pooled epilogue needs blockRows 4 (one 2×2 window an invocation), got ${c.blockRows}`);
  if (c.splitK !== 1) throw new Error(`${who}: a pooled epilogue cannot split k, got splitK ${c.splitK}`);
  const rows = poolRows(g.pool.windows, c);
  if (g.m !== rows) throw new Error(`${who}: m must be poolRows(${g.pool.windows} windows) = ${rows} for tileM ${c.tileM} and wgY ${c.wgY}, got ${g.m}`);
  if (!g.pool.argmax) return;
  if (c.tileN % 4 !== 0) throw new Error(`${who}: a pooled epilogue's argmax needs tileN a multiple of 4, got ${c.tileN}`);
  const room = c.tileM * c.tileK * (c.doubleBuffer ? 2 : 1);
  if (room < c.wgY * c.tileN) throw new Error(`${who}: a pooled epilogue's argmax stages wgY × tileN = ${c.wgY * c.tileN} positions in tileA, which holds ${room}`);
}

/** How one operand is staged from memory into its workgroup tile. */
export interface OperandPlan {
  /** 'A' or 'B'. */
  name: 'A' | 'B';
  /** Stored rows × columns of one batch's matrix (columns contiguous). */
  rows: number;
  cols: number;
  /** The tile in stored orientation: tileRows × tileCols. */
  tileRows: number;
  tileCols: number;
  /** Elements per load: 4 (a vec4 along the columns) or 1. */
  width: 1 | 4;
  /** Loads per tile (tileRows · tileCols / width) and per invocation (rounded up). */
  units: number;
  loadsPerInvocation: number;
  /** The stored row index runs along k (A transposed, B not). */
  rowsAlongK: boolean;
}

/** The staging plan of op(A) and op(B) for a geometry and configuration; gathered operands (`loaders`) load by element, or all as vec4 (gatheredVec4). */
export function operandPlans(g: MatmulGeometry, c: TileConfig, loaders?: OperandLoaders): { a: OperandPlan; b: OperandPlan } {
  const invocations = c.wgX * c.wgY;
  const gatherVec4 = gatheredVec4(g, c, loaders);
  const plan = (name: 'A' | 'B', rows: number, cols: number, tileRows: number, tileCols: number, stride: number, rowsAlongK: boolean): OperandPlan => {
    const gathered = name === 'A' ? loaders?.a : loaders?.b;
    const width = (gathered ? gatherVec4 : c.vec4 && cols % 4 === 0 && stride % 4 === 0 && tileCols % 4 === 0) ? 4 : 1;
    const units = (tileRows * tileCols) / width;
    return { name, rows, cols, tileRows, tileCols, width, units, loadsPerInvocation: Math.ceil(units / invocations), rowsAlongK };
  };
  return {
    a: g.transposeA ? plan('A', g.k, g.m, c.tileK, c.tileM, g.strideA, true) : plan('A', g.m, g.k, c.tileM, c.tileK, g.strideA, false),
    b: g.transposeB ? plan('B', g.n, g.k, c.tileN, c.tileK, g.strideB, false) : plan('B', g.k, g.n, c.tileK, c.tileN, g.strideB, true),
  };
}

/** k elements each split-K slice covers (whole tiles), and the workgroup grid of the product. */
export function productLaunch(g: MatmulGeometry, c: TileConfig, who = 'tiledMatmul'): { sliceK: number; workgroups: [number, number, number] } {
  const kTiles = Math.ceil(g.k / c.tileK);
  if (c.splitK > kTiles) {
    throw new Error(`${who}: splitK must be at most ${kTiles} (k = ${g.k} is ${kTiles} tiles of tileK = ${c.tileK}), got ${c.splitK}`);
  }
  const sliceK = Math.ceil(kTiles / c.splitK) * c.tileK;
  if ((c.splitK - 1) * sliceK >= g.k) {
    throw new Error(`${who}: splitK ${c.splitK} leaves its last slice empty (k = ${g.k}, ${sliceK / c.tileK} tiles a slice); expected at most ${Math.ceil(g.k / sliceK)}`);
  }
  validatePoolEpilogue(g, c, who);
  const workgroups: [number, number, number] = [Math.ceil(g.n / c.tileN), Math.ceil(g.m / c.tileM), g.batch * c.splitK];
  const axes = ['n / tileN', 'm / tileM', 'batch × splitK'];
  workgroups.forEach((count, i) => {
    if (count > MAX_GROUPS_PER_DIM) throw new Error(`${who}: ${axes[i]} needs ${count} workgroups along one axis, expected at most ${MAX_GROUPS_PER_DIM}`);
  });
  return { sliceK, workgroups };
}

/** The pipeline key's part for a geometry. */
export function matmulGeometryKey(g: MatmulGeometry): string {
  const flags = [g.bias && 'bias', g.relu && 'relu', g.accumulate && 'acc', g.maskA && 'maskA', g.maskB && 'maskB'].filter(Boolean).join('+') || 'plain';
  const pool = g.pool ? `:pool2x2-windows${g.pool.windows}${g.pool.argmax ? '+argmax' : ''}` : '';
  return `${g.batch}x${g.m}x${g.n}x${g.k}:${g.transposeA ? 'At' : 'A'}${g.transposeB ? 'Bt' : 'B'}:strides${g.strideA},${g.strideB},${g.strideC}:${flags}${pool}`;
}

/** The pipeline key's part for a configuration (with what the geometry made of vec4). */
export function tileConfigKey(g: MatmulGeometry, c: TileConfig, loaders?: OperandLoaders): string {
  const { a, b } = operandPlans(g, c, loaders);
  return (
    `tile${c.tileM}x${c.tileN}x${c.tileK}:wg${c.wgX}x${c.wgY}:block${c.blockRows}x${c.blockCols}:loadA${a.width}B${b.width}` +
    `:${c.doubleBuffer ? 'double' : 'single'}${c.subgroups ? ':subgroups' : ''}:splitK${c.splitK}${c.unsafeOmitBarriers ? ':UNSAFE-no-barriers' : ''}` +
    (loaders ? `:gather${loaders.a ? 'A' : ''}${loaders.b ? 'B' : ''}:${loaders.key}` : '')
  );
}

/** Checks loaders against a geometry: at least one gathered operand, none masked, a key; throws an Error naming the field. */
export function validateLoaders(g: MatmulGeometry, loaders: OperandLoaders, who = 'tiledMatmul'): OperandLoaders {
  if (!loaders.a && !loaders.b) throw new Error(`${who}: loaders must gather operand a, b or both, got neither`);
  if (!loaders.key) throw new Error(`${who}: loaders.key must name the addressing, got an empty key`);
  for (const x of ['a', 'b'] as const) {
    const gathered = loaders[x];
    if (!gathered) continue;
    if (!Number.isInteger(gathered.floats) || gathered.floats <= 0) throw new Error(`${who}: loaders.${x}.floats must be a positive integer, got ${String(gathered.floats)}`);
    if (x === 'a' ? g.maskA : g.maskB) throw new Error(`${who}: a gathered operand cannot be masked (mask${x.toUpperCase()} with loaders.${x}); fold the mask into the gather`);
  }
  return loaders;
}
