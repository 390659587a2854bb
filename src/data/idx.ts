/**
 * The IDX file format (LeCun's MNIST distribution format):
 *
 *   bytes 0-1   0x00 0x00                     magic
 *   byte  2     type code                     0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
 *   byte  3     rank                          number of dimensions
 *   then        rank × u32, big-endian        the dimensions, outermost first
 *   then        the values, big-endian, row-major
 *
 * The parser trusts nothing: files come from downloads and user uploads, so every size is checked
 * against the bytes actually present before anything is allocated, and every failure says which
 * file, what was expected and what came.
 */
import { Tensor, formatShape, describe } from '../runtime/tensor.ts';

/** A malformed IDX buffer (the message names the file and the defect). */
export class IdxFormatError extends Error {
  override name = 'IdxFormatError';
}

interface IdxType {
  name: string;
  bytes: number;
}

export const IDX_TYPES: Readonly<Record<number, IdxType>> = {
  0x08: { name: 'uint8', bytes: 1 },
  0x09: { name: 'int8', bytes: 1 },
  0x0b: { name: 'int16', bytes: 2 },
  0x0c: { name: 'int32', bytes: 4 },
  0x0d: { name: 'float32', bytes: 4 },
  0x0e: { name: 'float64', bytes: 8 },
};

/**
 * Real IDX files have rank 1 to 4; the format allows 255. Anything past this bound is far more
 * likely a file that is not IDX at all (whose 4th byte happens to follow two zero bytes) than data,
 * and saying so beats a confusing size mismatch.
 */
export const IDX_MAX_RANK = 16;

const hex = (b: number): string => `0x${b.toString(16).padStart(2, '0')}`;

function asBytes(bytes: unknown, what: string): Uint8Array {
  if (bytes instanceof Uint8Array) return bytes;
  if (bytes instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && bytes instanceof SharedArrayBuffer)) {
    return new Uint8Array(bytes);
  }
  if (ArrayBuffer.isView(bytes)) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  throw new TypeError(`${what}: expected the IDX file's bytes as an ArrayBuffer or Uint8Array, got ${describe(bytes)}`);
}

/**
 * Parses an IDX buffer into a host tensor. uint8 data comes back as a Uint8Array view of `bytes`
 * (no copy: the MNIST training images are 47 MB); int8/int16/int32 become Int32Array and
 * float32/float64 become Float32Array (float64 values are rounded to float32, which is what the
 * engine computes in; values beyond float32's range become ±Infinity, as `Math.fround` does). `what` names the file in error messages.
 */
export function parseIdx(bytes: ArrayBuffer | ArrayBufferView, what = 'IDX data'): Tensor {
  const u8 = asBytes(bytes, what);
  const length = u8.byteLength;
  if (length < 4) {
    throw new IdxFormatError(`${what}: too short for an IDX header: it needs at least 4 bytes (magic, type, rank), got ${length}`);
  }
  if (u8[0] !== 0 || u8[1] !== 0) {
    const gzip = u8[0] === 0x1f && u8[1] === 0x8b ? ' (this is gzip data: decompress the .gz file first)' : '';
    throw new IdxFormatError(
      `${what}: not an IDX file: it must start with the magic bytes 0x00 0x00, got ${hex(u8[0]!)} ${hex(u8[1]!)}${gzip}`,
    );
  }
  const typeCode = u8[2]!;
  const type = IDX_TYPES[typeCode];
  if (!type) {
    const known = Object.entries(IDX_TYPES).map(([code, t]) => `${hex(Number(code))} ${t.name}`);
    throw new IdxFormatError(`${what}: unknown IDX type code ${hex(typeCode)} (byte 2); known codes: ${known.join(', ')}`);
  }
  const rank = u8[3]!;
  if (rank === 0 || rank > IDX_MAX_RANK) {
    throw new IdxFormatError(`${what}: IDX rank (byte 3) must be between 1 and ${IDX_MAX_RANK}, got ${rank}`);
  }
  const headerBytes = 4 + 4 * rank;
  if (length < headerBytes) {
    throw new IdxFormatError(
      `${what}: too short for its IDX header: rank ${rank} needs ${headerBytes} header bytes (4 + 4 per dimension), got ${length}`,
    );
  }
  const view = new DataView(u8.buffer, u8.byteOffset, length);
  const shape: number[] = [];
  for (let d = 0; d < rank; d++) shape.push(view.getUint32(4 + 4 * d, false));

  // At most 16 factors below 2^32, so the double product is finite (< 2^512); it is exact while it
  // is a safe integer, and past that it cannot describe a real file anyway.
  const count = shape.reduce((a, b) => a * b, 1);
  const dataBytes = count * type.bytes;
  const expected = headerBytes + dataBytes;
  const declared = `the header declares ${type.name} data of shape ${formatShape(shape)}`;
  if (!Number.isSafeInteger(expected)) {
    throw new IdxFormatError(
      `${what}: ${declared}, ${count.toExponential(3)} values: more than 2^53 bytes, which no file holds (this one has ${length} bytes)`,
    );
  }
  if (length !== expected) {
    const diff = length < expected ? `truncated: ${expected - length} bytes missing` : `${length - expected} unexpected bytes after the data`;
    throw new IdxFormatError(
      `${what}: ${declared} (${count} values × ${type.bytes} bytes + ${headerBytes} header bytes), so it should be ${expected} bytes long, ` +
        `but it is ${length} bytes (${diff})`,
    );
  }

  // From here on, allocations are bounded by the input's own size.
  const at = headerBytes;
  switch (typeCode) {
    case 0x08:
      // A plain Uint8Array (not the Node Buffer subclass) so dtype checks and uploads see the usual type.
      return new Tensor(new Uint8Array(u8.buffer, u8.byteOffset + at, count), shape);
    case 0x09: {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt8(at + i);
      return new Tensor(out, shape);
    }
    case 0x0b: {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(at + 2 * i, false);
      return new Tensor(out, shape);
    }
    case 0x0c: {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(at + 4 * i, false);
      return new Tensor(out, shape);
    }
    case 0x0d: {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(at + 4 * i, false);
      return new Tensor(out, shape);
    }
    default: {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(at + 8 * i, false);
      return new Tensor(out, shape);
    }
  }
}
