/**
 * The embedding op: a lookup of rows of a table W [vocab, dim] by integer ids (held as float32),
 * its geometry, the host-side check of ids, and the dispatches of its forward and of the table's
 * deterministic gradient (shaders/embedding.ts explains the counting sort behind it).
 */
import * as kernels from '../../shaders/embedding.ts';
import type { EmbeddingChunks, EmbeddingGeometry } from '../../shaders/embedding.ts';
import type { BufferView, Dispatch, Engine } from '../runtime/engine.ts';
import { formatShape, sizeOf, type Shape } from '../runtime/tensor.ts';
import type { Scratch } from './reduce.ts';
import { zeros } from './elementwise.ts';

export type { EmbeddingChunks, EmbeddingGeometry };

/** Ids are float32 on the GPU: integers are exact up to 2^24, so no table may have more rows. */
export const MAX_EMBEDDING_ROWS = 2 ** 24;

/**
 * The count table's budget in words (chunks × vocab): zeroing it and the per-row pass over it cost
 * as much as the table is big, so a big vocabulary gets fewer, longer chunks.
 */
const COUNT_TABLE_WORDS = 1 << 17;
/** The chunk length the positions are split into when the budget allows. */
const CHUNK_LENGTH = 256;

/** The geometry of looking up `[batch, ...idShape]` ids in a [vocab, dim] table; throws naming `who`. */
export function embeddingGeometry(batch: number, idShape: Shape, vocab: number, dim: number, who = 'embedding'): EmbeddingGeometry {
  if (idShape.length < 1 || !idShape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`${who} expects ids of rank ≥ 1 (without the batch) with positive sizes, got ${formatShape(idShape)}`);
  }
  if (!Number.isInteger(batch) || batch <= 0) throw new Error(`${who}: batch must be a positive integer, got ${batch}`);
  if (!Number.isInteger(vocab) || vocab <= 0 || vocab > MAX_EMBEDDING_ROWS) {
    throw new Error(`${who}: the table must have between 1 and ${MAX_EMBEDDING_ROWS} rows (ids are float32), got ${vocab}`);
  }
  if (!Number.isInteger(dim) || dim <= 0) throw new Error(`${who}: the table's row length must be a positive integer, got ${dim}`);
  return { positions: batch * sizeOf(idShape), vocab, dim };
}

/** How the gradient splits the positions: chunks of CHUNK_LENGTH, fewer and longer when the count table's budget requires. */
export function embeddingChunks(g: EmbeddingGeometry): EmbeddingChunks {
  const wanted = Math.max(1, Math.min(Math.ceil(g.positions / CHUNK_LENGTH), Math.floor(COUNT_TABLE_WORDS / g.vocab)));
  const chunkLength = Math.ceil(g.positions / wanted);
  return { chunks: Math.ceil(g.positions / chunkLength), chunkLength };
}

/**
 * Throws unless every value is an integer id in [0, vocab): the message names `who`, the sample
 * (`firstSample` + its index in `values`), the value and its position within the sample.
 */
export function checkIds(values: ArrayLike<number>, sampleShape: Shape, firstSample: number, vocab: number, who: string): void {
  const perSample = Math.max(1, sizeOf(sampleShape));
  for (let i = 0; i < values.length; i++) {
    const id = values[i]!;
    if (Number.isInteger(id) && id >= 0 && id < vocab) continue;
    const sample = firstSample + Math.floor(i / perSample);
    const position = positionIn(i % perSample, sampleShape);
    throw new Error(`${who}: input ${sample} holds id ${id} at position ${position}; ids must be integers in [0, ${vocab})`);
  }
}

/** A flat index within a sample as it reads: `7` for a rank-1 sample, `[1, 3]` for rank 2. */
function positionIn(flat: number, shape: Shape): string {
  if (shape.length <= 1) return String(flat);
  const index: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    index.unshift(flat % shape[d]!);
    flat = Math.floor(flat / shape[d]!);
  }
  return `[${index.join(', ')}]`;
}

/** y[p, :] = W[ids[p], :]: ids f32 [positions], W [vocab, dim], y [positions, dim]; an invalid id gives zeros. */
export function embeddingForward(engine: Engine, g: EmbeddingGeometry, views: { ids: BufferView; w: BufferView; y: BufferView }): Dispatch[] {
  return [engine.kernel(kernels.embeddingForward(g), [views.ids, views.w, views.y])];
}

/**
 * dW[v, :] = Σ dy[p, :] over the positions whose id is v, summed in ascending p (the same bits on
 * every run); dW is fully overwritten, rows no id hits with zeros. Invalid ids contribute nothing.
 * Six dispatches: zero the count table, count, chunk offsets, row scan, scatter, sum.
 */
export function embeddingBackward(engine: Engine, g: EmbeddingGeometry, views: { ids: BufferView; dy: BufferView; dw: BufferView }, scratch: Scratch): Dispatch[] {
  const c = embeddingChunks(g);
  const words = kernels.embeddingScratchWords(g, c);
  const counts = scratch(words.counts * 4, 'embedding counts');
  const rowStart = scratch(words.rowStart * 4, 'embedding row starts');
  const order = scratch(words.order * 4, 'embedding sorted positions');
  return [
    zeros(engine, counts, words.counts),
    engine.kernel(kernels.embeddingCount(g, c), [views.ids, counts]),
    engine.kernel(kernels.embeddingChunkOffsets(g, c), [counts, rowStart]),
    engine.kernel(kernels.embeddingRowScan(g), [rowStart]),
    engine.kernel(kernels.embeddingScatter(g, c), [views.ids, counts, rowStart, order]),
    engine.kernel(kernels.embeddingGradSum(g), [rowStart, order, views.dy, views.dw]),
  ];
}
