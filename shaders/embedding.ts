/**
 * Embedding kernels: a gather of rows of the table W [vocab, dim] by ids, and the table's gradient
 * as a deterministic stable counting sort of the ids followed by one sum per (row, column).
 *
 *   forward   y[p, :] = W[id(p), :]                 ids f32 [positions], y [positions, dim]
 *   backward  dW[v, :] = Σ dy[p, :] over the positions p with id(p) = v, in ascending p; 0 elsewhere
 *
 * The backward never loops over vocab × positions. The positions are split into CHUNKS runs of
 * CHUNK_LEN consecutive positions, one invocation each, and the count table `counts` holds one
 * column of VOCAB counters per chunk (chunk-major: counts[c · VOCAB + v]):
 *   1. embeddingCount:        each chunk counts its ids in its own column (no atomics, no races);
 *   2. embeddingChunkOffsets: per row v, counts[c, v] becomes the exclusive prefix over chunks
 *                             c' < c, and rowStart[v] the row's total;
 *   3. embeddingRowScan:      one workgroup turns rowStart into the exclusive prefix over rows,
 *                             rowStart[VOCAB] = the number of valid ids;
 *   4. embeddingScatter:      each chunk walks its positions in order, writing each position to
 *                             order[rowStart[v] + counts[c, v]++]: every row's positions end up in
 *                             ascending order (chunks in order, positions in order within one);
 *   5. embeddingGradSum:      one invocation per row sums dy over the row's positions in that
 *                             order, column group by column group, so the result is the same bit
 *                             for bit on every run; a row no id hits sums nothing and stores 0.
 * The table is zeroed before step 1 (a fill). Ids are f32 (exact below 2^24); an id that is not in
 * [0, VOCAB) (the host rejects those before upload: Layer.checkInputData) reads as "no row": the
 * forward stores zeros for it and the backward leaves it out, so no access leaves the bindings.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { KernelSource } from './kernel.ts';
import { constants, flatIndex, grid } from './wgsl.ts';

const WG = 64;
/** Invocations of the single-workgroup row scan. */
const SCAN_WG = 256;

export interface EmbeddingGeometry {
  /** Ids per batch: batch × the per-sample id count. */
  positions: number;
  /** Rows of the table (inputDim). */
  vocab: number;
  /** Columns of the table (outputDim). */
  dim: number;
}

/** How the backward splits the positions: `chunks` runs of `chunkLength` (the last may be shorter). */
export interface EmbeddingChunks {
  chunks: number;
  chunkLength: number;
}

/** 4 columns as a vec4 when the rows are whole vec4s, else 1. */
function lanes(g: EmbeddingGeometry): 1 | 4 {
  return g.dim % 4 === 0 ? 4 : 1;
}

function key(g: EmbeddingGeometry): string {
  return `${g.positions}x${g.vocab}x${g.dim}:lanes${lanes(g)}`;
}

/** The sizes, `T` (a row's lane type), and `row(p)`: the row of position p's id, or VOCAB when it is not a valid id. */
function declarations(g: EmbeddingGeometry, c?: EmbeddingChunks): string {
  return wgsl`
${constants({ POSITIONS: g.positions, VOCAB: g.vocab, GROUPS: g.dim / lanes(g) })}
#if ${c !== undefined}
${constants({ CHUNKS: c?.chunks ?? 0, CHUNK_LEN: c?.chunkLength ?? 0 })}
#endif
#if ${lanes(g) === 4}
alias T = vec4f;
#else
alias T = f32;
#endif
@group(0) @binding(0) var<storage, read> ids: array<f32>;

/** The table row of position p, VOCAB when its id is not an integer in [0, VOCAB) (NaN included). */
fn row(p: u32) -> u32 {
  let id = ids[p];
  let valid = (id >= 0.0) & (id < f32(VOCAB)) & (floor(id) == id);
  return select(VOCAB, min(u32(max(id, 0.0)), VOCAB - 1u), valid);
}`;
}

/**
 * y[p, :] = W[row(p), :], zeros for an invalid id. Bindings: ids, W, y. One invocation per
 * position, copying its row one lane group at a time.
 */
export function embeddingForward(g: EmbeddingGeometry): KernelSource {
  const { workgroups, rowStride } = grid(g.positions, WG);
  return {
    key: `embedding-forward:${key(g)}`,
    bindings: ['read', 'read', 'write'],
    workgroups,
    code: wgsl`
${declarations(g)}
@group(0) @binding(1) var<storage, read> w: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'POSITIONS', 'p')}
  let v = row(p);
  // An invalid id reads row 0 (in bounds) and stores zeros.
  let source = min(v, VOCAB - 1u) * GROUPS;
  let keep = v < VOCAB;
  for (var group = 0u; group < GROUPS; group++) { y[p * GROUPS + group] = select(T(0.0), w[source + group], keep); }
}`,
  };
}

/** Step 1: counts[c, v] = how many of chunk c's positions hold id v (counts zeroed before). Bindings: ids, counts. */
export function embeddingCount(g: EmbeddingGeometry, c: EmbeddingChunks): KernelSource {
  const { workgroups, rowStride } = grid(c.chunks, WG);
  return {
    key: `embedding-count:${key(g)}:${c.chunks}x${c.chunkLength}`,
    bindings: ['read', 'write'],
    workgroups,
    code: wgsl`
${declarations(g, c)}
@group(0) @binding(1) var<storage, read_write> counts: array<u32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'CHUNKS', 'chunk')}
  let first = chunk * CHUNK_LEN;
  let end = min(first + CHUNK_LEN, POSITIONS);
  for (var p = first; p < end; p++) {
    let v = row(p);
    if (v < VOCAB) { counts[chunk * VOCAB + v] += 1u; }
  }
}`,
  };
}

/**
 * Step 2: per row v, counts[c, v] becomes Σ counts[c', v] over c' < c (where chunk c's positions
 * of row v start within the row), and rowStart[v] the row's total. Bindings: counts, rowStart.
 */
export function embeddingChunkOffsets(g: EmbeddingGeometry, c: EmbeddingChunks): KernelSource {
  const { workgroups, rowStride } = grid(g.vocab, WG);
  return {
    key: `embedding-chunk-offsets:${key(g)}:${c.chunks}x${c.chunkLength}`,
    bindings: ['write', 'write'],
    workgroups,
    code: wgsl`
${constants({ VOCAB: g.vocab, CHUNKS: c.chunks })}
@group(0) @binding(0) var<storage, read_write> counts: array<u32>;
@group(0) @binding(1) var<storage, read_write> rowStart: array<u32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'VOCAB', 'v')}
  var running = 0u;
  for (var chunk = 0u; chunk < CHUNKS; chunk++) {
    let n = counts[chunk * VOCAB + v];
    counts[chunk * VOCAB + v] = running;
    running += n;
  }
  rowStart[v] = running;
}`,
  };
}

/**
 * Step 3: rowStart[0..VOCAB) (each row's total) becomes the exclusive prefix sum over rows, in
 * place, and rowStart[VOCAB] the sum of all. One workgroup: each invocation owns a run of
 * ROWS_PER rows, sums them, invocation 0 scans the SCAN_WG partial sums, then each writes its run.
 * Bindings: rowStart.
 */
export function embeddingRowScan(g: EmbeddingGeometry): KernelSource {
  const rowsPer = Math.ceil(g.vocab / SCAN_WG);
  return {
    key: `embedding-row-scan:${g.vocab}`,
    bindings: ['write'],
    workgroups: [1, 1, 1],
    code: wgsl`
${constants({ VOCAB: g.vocab, ROWS_PER: rowsPer, WG: SCAN_WG })}
@group(0) @binding(0) var<storage, read_write> rowStart: array<u32>;
var<workgroup> partial: array<u32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  let first = min(lid * ROWS_PER, VOCAB);
  let end = min(first + ROWS_PER, VOCAB);
  var sum = 0u;
  for (var v = first; v < end; v++) { sum += rowStart[v]; }
  partial[lid] = sum;
  workgroupBarrier();
  if (lid == 0u) {
    var before = 0u;
    for (var t = 0u; t < WG; t++) {
      let n = partial[t];
      partial[t] = before;
      before += n;
    }
    rowStart[VOCAB] = before;
  }
  workgroupBarrier();
  var running = partial[lid];
  for (var v = first; v < end; v++) {
    let n = rowStart[v];
    rowStart[v] = running;
    running += n;
  }
}`,
  };
}

/**
 * Step 4: each chunk walks its positions in order and writes position p to
 * order[rowStart[v] + counts[c, v]], then increments that counter. Bindings: ids, counts, rowStart, order.
 */
export function embeddingScatter(g: EmbeddingGeometry, c: EmbeddingChunks): KernelSource {
  const { workgroups, rowStride } = grid(c.chunks, WG);
  return {
    key: `embedding-scatter:${key(g)}:${c.chunks}x${c.chunkLength}`,
    bindings: ['read', 'write', 'read', 'write'],
    workgroups,
    code: wgsl`
${declarations(g, c)}
@group(0) @binding(1) var<storage, read_write> counts: array<u32>;
@group(0) @binding(2) var<storage, read> rowStart: array<u32>;
@group(0) @binding(3) var<storage, read_write> order: array<u32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'CHUNKS', 'chunk')}
  let first = chunk * CHUNK_LEN;
  let end = min(first + CHUNK_LEN, POSITIONS);
  for (var p = first; p < end; p++) {
    let v = row(p);
    if (v < VOCAB) {
      let slot = chunk * VOCAB + v;
      // A valid id's slot lies below rowStart[VOCAB] ≤ POSITIONS; min() keeps that plain to see.
      order[min(rowStart[v] + counts[slot], POSITIONS - 1u)] = p;
      counts[slot] += 1u;
    }
  }
}`,
  };
}

/**
 * Step 5: dW[v, :] = Σ dy[p, :] over row v's positions in `order`, ascending; 0 for a row no id
 * hits. Bindings: rowStart, order, dy, dW. One invocation per row, one lane group at a time (on
 * SwiftShader, fewer and longer invocations beat one per lane group).
 */
export function embeddingGradSum(g: EmbeddingGeometry): KernelSource {
  const { workgroups, rowStride } = grid(g.vocab, WG);
  return {
    key: `embedding-grad-sum:${key(g)}`,
    bindings: ['read', 'read', 'read', 'write'],
    workgroups,
    code: wgsl`
${constants({ POSITIONS: g.positions, VOCAB: g.vocab, GROUPS: g.dim / lanes(g) })}
#if ${lanes(g) === 4}
alias T = vec4f;
#else
alias T = f32;
#endif
@group(0) @binding(0) var<storage, read> rowStart: array<u32>;
@group(0) @binding(1) var<storage, read> order: array<u32>;
@group(0) @binding(2) var<storage, read> dy: array<T>;
@group(0) @binding(3) var<storage, read_write> dw: array<T>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'VOCAB', 'v')}
  let first = rowStart[v];
  let end = min(rowStart[v + 1u], POSITIONS);
  for (var group = 0u; group < GROUPS; group++) {
    var sum = T(0.0);
    for (var s = first; s < end; s++) { sum += dy[min(order[s], POSITIONS - 1u) * GROUPS + group]; }
    dw[v * GROUPS + group] = sum;
  }
}`,
  };
}

/** The words of the backward's scratch: the count table, the row starts and the sorted positions. */
export function embeddingScratchWords(g: EmbeddingGeometry, c: EmbeddingChunks): { counts: number; rowStart: number; order: number } {
  return { counts: c.chunks * g.vocab, rowStart: g.vocab + 1, order: g.positions };
}
