/**
 * Streamed datasets, as fitDataset and evaluateDataset take them: any sync or async iterable of
 * `{ xs, ys }` batches, a function returning one (called once per epoch), an iterator, or an object
 * with `iterator()` (TF.js's tf.data.Dataset: `await ds.iterator()`, then `await it.next()`). A
 * batch's values are our tensors or anything tensor-like: `{ values: TypedArray, shape }`, or a
 * TF.js tensor (`shape`, `dtype`, `data()`), read back asynchronously.
 */
import { describe, Tensor, type HostData } from '../runtime/tensor.ts';

/** One step of an iterator (TF.js's LazyIterator and JS iterators alike). */
export interface BatchIterator {
  next(): Promise<IteratorResult<unknown>> | IteratorResult<unknown>;
  return?(value?: unknown): unknown;
}

/** Something fitDataset can draw batches from. */
export type DatasetSource =
  | AsyncIterable<unknown>
  | Iterable<unknown>
  | BatchIterator
  | { iterator(): Promise<BatchIterator> | BatchIterator }
  | (() => DatasetSource | Promise<DatasetSource>);

/** A batch as a dataset yields it: tensors (or lists / objects by name of them) for the inputs and outputs. */
export interface DatasetBatch {
  xs: unknown;
  ys: unknown;
}

function isObject(value: unknown): value is Record<string | symbol, unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null;
}

/** Whether the value is a dataset source (not a pair of tensors such as fit's validationData). */
export function isDatasetSource(value: unknown): value is DatasetSource {
  if (Array.isArray(value)) return false;
  if (typeof value === 'function') return true;
  return isObject(value) && (typeof value.iterator === 'function' || typeof value.next === 'function' || Symbol.asyncIterator in value || Symbol.iterator in value);
}

/**
 * A fresh iterator over `source`: a function is called, a dataset's iterator() opened, an iterable
 * iterated anew. An iterator given as such is returned as is: it cannot be restarted, so a second
 * epoch over it finds it finished.
 */
export async function openIterator(source: DatasetSource, what: string): Promise<BatchIterator> {
  let value: unknown = source;
  if (typeof value === 'function') value = await (value as () => unknown)();
  if (isObject(value) && typeof value.iterator === 'function' && typeof value.next !== 'function') value = await (value.iterator as () => unknown).call(value);
  if (isObject(value) && typeof value.next === 'function') return value as unknown as BatchIterator;
  if (isObject(value) && typeof value[Symbol.asyncIterator] === 'function') return (value[Symbol.asyncIterator] as () => BatchIterator).call(value);
  if (isObject(value) && typeof value[Symbol.iterator] === 'function') return (value[Symbol.iterator] as () => BatchIterator).call(value);
  throw new Error(
    `${what}: expected a dataset: an iterable or async iterable of { xs, ys } batches, a function returning one, an iterator, or an object with iterator() (tf.data.Dataset); got ${describe(value)}`,
  );
}

/** Closes an iterator left early (a generator's finally blocks run); its own errors are ignored. */
export async function closeIterator(iterator: BatchIterator | undefined): Promise<void> {
  try {
    await iterator?.return?.();
  } catch {
    // The iterator failing to close must not hide why training stopped.
  }
}

/** Reads a TF.js-style tensor's values (`await t.data()`) into one of ours; other values pass as they are. */
export async function hostTensor(value: unknown, what: string): Promise<unknown> {
  if (value instanceof Tensor || !isObject(value) || typeof value.data !== 'function' || !Array.isArray(value.shape)) return value;
  const dtype = value.dtype;
  if (dtype !== undefined && dtype !== 'float32' && dtype !== 'int32' && dtype !== 'bool') {
    throw new Error(`${what}: a ${String(dtype)} tensor cannot feed a model; expected float32, int32 or bool`);
  }
  let data = (await (value.data as () => Promise<unknown>).call(value)) as HostData;
  if (!ArrayBuffer.isView(data)) throw new Error(`${what}: data() gave ${describe(data)}, not a typed array`);
  // A bool tensor's values come as a Uint8Array, which would read as pixels (scaled by 1/255).
  if (dtype === 'bool' || !(data instanceof Float32Array || data instanceof Int32Array)) data = Float32Array.from(data as ArrayLike<number>);
  try {
    return new Tensor(data, value.shape as number[]);
  } catch (err) {
    throw new Error(`${what}: ${(err as Error).message}`);
  }
}

/** `value` (a tensor, a list of them, or an object of them by name) with each TF.js tensor read into ours. */
async function hostValues(value: unknown, what: string): Promise<unknown> {
  if (Array.isArray(value)) return Promise.all(value.map((v, i) => hostTensor(v, `${what}[${i}]`)));
  if (isObject(value) && !(value instanceof Tensor) && !ArrayBuffer.isView(value.values) && !ArrayBuffer.isView(value.data) && typeof value.data !== 'function') {
    const entries = await Promise.all(Object.entries(value).map(async ([k, v]) => [k, await hostTensor(v, `${what}.${k}`)] as const));
    return Object.fromEntries(entries);
  }
  return hostTensor(value, what);
}

/** A yielded value as `{ xs, ys }` with every tensor on the host; anything else is an Error naming the batch. */
export async function readBatch(value: unknown, what: string): Promise<DatasetBatch> {
  if (!isObject(value) || !('xs' in value) || !('ys' in value) || value.xs == null || value.ys == null) {
    throw new Error(`${what}: a dataset must yield objects { xs, ys } (each a tensor, a list of tensors or an object of them by input / output name), got ${describe(value)}`);
  }
  const [xs, ys] = await Promise.all([hostValues(value.xs, `${what}: xs`), hostValues(value.ys, `${what}: ys`)]);
  return { xs, ys };
}
