/**
 * The weights manifest and the weight data → named weights: every entry checked against the bytes
 * (names, shapes, dtypes, sizes) before anything is made from them. Which weights a model needs is
 * src/io/load.ts's business.
 */
import { describeValue } from '../layers/config.ts';
import { describe, formatShape, sizeOf } from '../runtime/tensor.ts';
import { asObject, ModelFormatError } from './artifacts.ts';

/** A weight cut from the data; `optimizer` for the optimizer's state (group 'optimizer'). */
export interface LoadedWeight {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  optimizer: boolean;
  values: Float32Array | Int32Array;
}

/** One ArrayBuffer from what TF.js handlers hand over: an ArrayBuffer, a list of them (sharded), or views. */
function joinWeightData(value: unknown): ArrayBuffer {
  const parts = Array.isArray(value) ? value : [value];
  const bytes = parts.map((p, i) => {
    if (p instanceof ArrayBuffer) return new Uint8Array(p);
    if (ArrayBuffer.isView(p)) return new Uint8Array(p.buffer, p.byteOffset, p.byteLength);
    throw new ModelFormatError(`weightData${Array.isArray(value) ? `[${i}]` : ''} must be an ArrayBuffer, got ${describe(p)}`);
  });
  const out = new Uint8Array(bytes.reduce((n, b) => n + b.byteLength, 0));
  let offset = 0;
  for (const b of bytes) {
    out.set(b, offset);
    offset += b.byteLength;
  }
  return out.buffer;
}

/** Validates the manifest's entries against the data and cuts the data into weights. */
export function readWeights(specs: unknown, weightData: unknown): LoadedWeight[] {
  if (!Array.isArray(specs)) throw new ModelFormatError(`weightSpecs (the manifest's weights) must be an array, got ${describe(specs)}`);
  const data = joinWeightData(weightData ?? new ArrayBuffer(0));
  const weights: LoadedWeight[] = [];
  const names = new Set<string>();
  let offset = 0;
  specs.forEach((value, i) => {
    const spec = asObject(value, `weight ${i} of the manifest`);
    const name = spec.name;
    if (typeof name !== 'string' || name === '') throw new ModelFormatError(`weight ${i} of the manifest: name must be a non-empty string, got ${describe(name)}`);
    const where = `weight ${i} '${name}'`;
    const shape = spec.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new ModelFormatError(`${where}: shape must be an array of non-negative integers, got ${describeValue(shape)}`);
    }
    if (spec.dtype !== 'float32' && spec.dtype !== 'int32') throw new ModelFormatError(`${where}: dtype ${describeValue(spec.dtype)} is not supported (float32, int32)`);
    if (spec.quantization != null) throw new ModelFormatError(`${where}: quantized weights are not supported`);
    if (spec.group != null && typeof spec.group !== 'string') throw new ModelFormatError(`${where}: group must be a string, got ${describe(spec.group)}`);
    const optimizer = spec.group === 'optimizer';
    const key = `${optimizer ? 'optimizer:' : ''}${name}`;
    if (names.has(key)) throw new ModelFormatError(`${where}: the manifest names two ${optimizer ? 'optimizer ' : ''}weights '${name}'`);
    names.add(key);
    const bytes = sizeOf(shape) * 4;
    if (offset + bytes > data.byteLength) {
      throw new ModelFormatError(`${where} (${spec.dtype} ${formatShape(shape)}) needs bytes ${offset}..${offset + bytes} but the weight data has ${data.byteLength} bytes`);
    }
    const slice = data.slice(offset, offset + bytes);
    weights.push({ name, shape, dtype: spec.dtype, optimizer, values: spec.dtype === 'int32' ? new Int32Array(slice) : new Float32Array(slice) });
    offset += bytes;
  });
  if (offset !== data.byteLength) {
    throw new ModelFormatError(`the weight data has ${data.byteLength} bytes but the manifest's ${specs.length} weights take ${offset}; the data and model.json do not belong together`);
  }
  return weights;
}
