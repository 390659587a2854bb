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
 * zero where the addressing has none (a convolution's padding). Such operands load by element.
 */
export interface OperandLoaders {
  /** The pipeline key's part naming the addressing and everything it bakes in. */
  key: string;
  /** WGSL at module scope: named constants and the gather functions, reading bindings `a` and `b` (f32 arrays). */
  code: string;
  /** Present for each operand that gathers: the floats its binding must hold. */
  a?: { floats: number };
  b?: { floats: number };
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
  return g;
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

/** The staging plan of op(A) and op(B) for a geometry and configuration; gathered operands (`loaders`) load by element. */
export function operandPlans(g: MatmulGeometry, c: TileConfig, loaders?: OperandLoaders): { a: OperandPlan; b: OperandPlan } {
  const invocations = c.wgX * c.wgY;
  const plan = (name: 'A' | 'B', rows: number, cols: number, tileRows: number, tileCols: number, stride: number, rowsAlongK: boolean): OperandPlan => {
    const gathered = name === 'A' ? loaders?.a : loaders?.b;
    const width = !gathered && c.vec4 && cols % 4 === 0 && stride % 4 === 0 && tileCols % 4 === 0 ? 4 : 1;
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
  return `${g.batch}x${g.m}x${g.n}x${g.k}:${g.transposeA ? 'At' : 'A'}${g.transposeB ? 'Bt' : 'B'}:strides${g.strideA},${g.strideB},${g.strideC}:${flags}`;
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
