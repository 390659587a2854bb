/**
 * Tensors as users hold them: `Tensor` is host data (a typed array with a shape), `GPUTensor` is a
 * shaped range of a GPU buffer owned by an engine, read back with `read()`.
 */
import type { BufferView, Engine } from './engine.ts';

export type DType = 'float32' | 'int32' | 'uint8';
export type TypedArrayFor<D extends DType> = D extends 'float32' ? Float32Array : D extends 'int32' ? Int32Array : Uint8Array;
export type HostData = Float32Array | Int32Array | Uint8Array;

/** A shape without the batch dimension, e.g. [28, 28, 1]. */
export type Shape = readonly number[];

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function dtypeOf(data: HostData): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint8Array) return 'uint8';
  throw new TypeError(`tensor data must be a Float32Array, Int32Array or Uint8Array, got ${describe(data)}`);
}

/** A short description of a value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as unknown as ArrayLike<number>).length})`;
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'an object';
  return `${typeof value} ${String(value)}`;
}

export function formatShape(shape: readonly (number | null)[]): string {
  return `[${shape.map((d) => (d === null ? 'null' : d)).join(', ')}]`;
}

/** Host tensor: data in row-major order (NHWC for images). */
export class Tensor<D extends HostData = HostData> {
  /** A mutable array type as TF.js's, so a shape passes to TF.js calls as it is (do not modify it). */
  readonly shape: number[];
  /** The values in row-major order (what TF.js's `dataSync()` returns; `data()` resolves to them). */
  readonly values: D;
  readonly dtype: DType;

  constructor(data: D, shape: readonly number[]) {
    this.dtype = dtypeOf(data);
    if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new TypeError(`tensor shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (sizeOf(shape) !== data.length) {
      throw new RangeError(`tensor shape ${formatShape(shape)} holds ${sizeOf(shape)} values, but the data has ${data.length}`);
    }
    this.values = data;
    this.shape = [...shape];
  }

  get size(): number {
    return this.values.length;
  }

  /** The rank (TF.js's `rank`). */
  get rank(): number {
    return this.shape.length;
  }

  /** The values (TF.js's `await t.data()`): a host tensor has them already, so this resolves at once. */
  async data(): Promise<D> {
    return this.values;
  }

  /** The values (TF.js's `dataSync()`). */
  dataSync(): D {
    return this.values;
  }

  /** The values as nested arrays of the shape (TF.js's `await t.array()`). */
  async array(): Promise<NestedArray> {
    return this.arraySync();
  }

  /** The values as nested arrays of the shape (TF.js's `arraySync()`); a scalar gives a number. */
  arraySync(): NestedArray {
    const values = Array.from(this.values as ArrayLike<number>);
    const nest = (offset: number, dims: readonly number[]): NestedArray => {
      if (dims.length === 0) return values[offset]!;
      const step = sizeOf(dims.slice(1));
      return Array.from({ length: dims[0]! }, (_, i) => nest(offset + i * step, dims.slice(1)));
    };
    return nest(0, this.shape);
  }

  /** A host tensor holds no GPU memory: there is nothing to free (kept for TF.js code that calls it). */
  dispose(): void {}
}

/** What array() gives: numbers nested as deep as the tensor's rank. */
export type NestedArray = number | NestedArray[];

/** Makes a host tensor: `tensor(new Float32Array(n * 784), [n, 28, 28, 1])`. */
export function tensor<D extends HostData>(data: D | number[], shape: readonly number[]): Tensor<D> {
  const typed = (Array.isArray(data) ? new Float32Array(data) : data) as D;
  return new Tensor(typed, shape);
}

/** A shaped range of a GPU buffer. */
export class GPUTensor {
  constructor(
    readonly engine: Engine,
    readonly view: Required<BufferView>,
    readonly shape: readonly number[],
    readonly dtype: DType = 'float32',
    private readonly owned = true,
  ) {}

  static fromHost(engine: Engine, data: HostData, shape: readonly number[]): GPUTensor {
    const buffer = engine.upload(data);
    return new GPUTensor(engine, { buffer, offset: 0, size: data.byteLength }, shape, dtypeOf(data));
  }

  static empty(engine: Engine, shape: readonly number[], dtype: DType = 'float32'): GPUTensor {
    const bytes = sizeOf(shape) * (dtype === 'uint8' ? 1 : 4);
    const buffer = engine.buffer(bytes);
    return new GPUTensor(engine, { buffer, offset: 0, size: Math.ceil(bytes / 4) * 4 }, shape, dtype);
  }

  get size(): number {
    return sizeOf(this.shape);
  }

  async read(): Promise<Float32Array | Int32Array | Uint8Array> {
    const bytes = await this.engine.read(this.view, this.view.size);
    if (this.dtype === 'float32') return new Float32Array(bytes, 0, this.size);
    if (this.dtype === 'int32') return new Int32Array(bytes, 0, this.size);
    return new Uint8Array(bytes, 0, this.size);
  }

  dispose(): void {
    if (this.owned) this.engine.release(this.view.buffer);
  }
}
