/**
 * A dataset kept on the GPU for the life of a fit/evaluate/predict: images as uploaded (uint8 pixels
 * packed four to a word, or float32) and labels (u32 class ids or float32 one-hot rows). Batches are
 * gathered from it through an index buffer, so steps upload nothing.
 */
import type { LabelLayout } from '../ops/losses/loss.ts';
import { gatherImages, gatherLabels } from '../../shaders/gather.ts';
import type { Dispatch, Engine, View } from '../runtime/engine.ts';
import { sizeOf, type Tensor } from '../runtime/tensor.ts';
import { sparseLabelsToU32 } from './labels.ts';


export class DeviceDataset {
  readonly count: number;
  readonly features: number;
  readonly images: View;
  readonly imageSource: 'uint8' | 'float32';
  readonly labels: View | undefined;
  readonly labelKind: LabelLayout | undefined;
  readonly classes: number;
  private readonly gathers = new Map<string, Dispatch[]>();

  constructor(
    private readonly engine: Engine,
    x: Tensor,
    y: Tensor | undefined,
    labelKind: LabelLayout | undefined,
    classes: number,
  ) {
    this.count = x.shape[0]!;
    this.features = sizeOf(x.shape.slice(1));
    this.classes = classes;
    this.imageSource = x.dtype === 'uint8' ? 'uint8' : 'float32';
    const pixels = x.dtype === 'int32' ? Float32Array.from(x.data) : x.data;
    if (engine.checkNumerics && pixels instanceof Float32Array) {
      const bad = pixels.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) {
        const row = Math.floor(bad / this.features);
        throw new Error(`x: sample ${row} holds ${pixels[bad]} at element ${bad - row * this.features}; inputs must be finite (checked because the engine has checkNumerics on)`);
      }
    }
    this.images = viewOf(engine.upload(pixels, `x (${this.count} samples)`), pixels.byteLength);
    try {
      if (y && labelKind) {
        const data = labelKind === 'sparse' ? sparseLabelsToU32(y, classes, 'y') : y.data instanceof Float32Array ? y.data : Float32Array.from(y.data);
        this.labels = viewOf(engine.upload(data, `y (${this.count} labels)`), data.byteLength);
        this.labelKind = labelKind;
      }
    } catch (err) {
      engine.release(this.images.buffer);
      throw err;
    }
  }

  /** The gather dispatches filling `x` (and `labels`) of a batch of `batch` rows; cached per target. */
  gather(batch: number, indices: View, stepInfo: GPUBuffer, x: View, labels: View | undefined): Dispatch[] {
    const targetKey = [batch, x.size, cacheId(x.buffer), labels ? cacheId(labels.buffer) : '-', cacheId(indices.buffer), cacheId(stepInfo)].join(':');
    let dispatches = this.gathers.get(targetKey);
    if (!dispatches) {
      const step = { buffer: stepInfo, offset: 0, size: stepInfo.size };
      const scale = this.imageSource === 'uint8' ? 1 / 255 : 1;
      dispatches = [this.engine.kernel(gatherImages(batch, this.features, this.imageSource, { scale }), [this.images, indices, step, x])];
      if (labels && this.labels && this.labelKind) {
        dispatches.push(this.engine.kernel(gatherLabels(batch, this.labelKind, this.classes), [this.labels, indices, step, labels]));
      }
      this.gathers.set(targetKey, dispatches);
    }
    return dispatches;
  }

  dispose(): void {
    this.engine.release(this.images.buffer);
    if (this.labels) this.engine.release(this.labels.buffer);
    this.gathers.clear();
  }
}

const ids = new WeakMap<GPUBuffer, number>();
let nextId = 0;
/** A stable identity for a buffer, for cache keys. */
function cacheId(buffer: GPUBuffer): number {
  let id = ids.get(buffer);
  if (id === undefined) ids.set(buffer, (id = nextId++));
  return id;
}

function viewOf(buffer: GPUBuffer, bytes: number): View {
  return { buffer, offset: 0, size: Math.ceil(bytes / 4) * 4 };
}
