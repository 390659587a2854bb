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


/** One output's labels as a dataset holds them: the loss's layout and the output's per-sample width. */
export interface DatasetLabels {
  tensor: Tensor;
  layout: LabelLayout;
  /** Classes (sparse) or the output's values per sample (dense). */
  classes: number;
}

/** One uploaded tensor: one model input (images as uint8 or float32) or one output's labels. */
interface Column {
  view: View;
  /** Words per sample. */
  features: number;
  source: 'uint8' | 'float32';
}

export class DeviceDataset {
  readonly count: number;
  /** One per model input, in the model's input order. */
  private readonly inputs: Column[] = [];
  /** One per output, in the model's output order (none for predict). */
  private readonly labels: (Column & { layout: LabelLayout; classes: number })[] = [];
  private readonly gathers = new Map<string, Dispatch[]>();

  constructor(
    private readonly engine: Engine,
    xs: readonly Tensor[],
    ys: readonly DatasetLabels[],
  ) {
    this.count = xs[0]!.shape[0]!;
    try {
      xs.forEach((x, i) => {
        const features = sizeOf(x.shape.slice(1));
        const pixels = x.dtype === 'int32' ? Float32Array.from(x.data) : x.data;
        const what = xs.length === 1 ? 'x' : `x[${i}]`;
        if (engine.checkNumerics && pixels instanceof Float32Array) {
          const bad = pixels.findIndex((v) => !Number.isFinite(v));
          if (bad >= 0) {
            const row = Math.floor(bad / features);
            throw new Error(`${what}: sample ${row} holds ${pixels[bad]} at element ${bad - row * features}; inputs must be finite (checked because the engine has checkNumerics on)`);
          }
        }
        const view = viewOf(engine.upload(pixels, `${what} (${this.count} samples)`), pixels.byteLength);
        this.inputs.push({ view, features, source: x.dtype === 'uint8' ? 'uint8' : 'float32' });
      });
      ys.forEach(({ tensor: y, layout, classes }, i) => {
        const what = ys.length === 1 ? 'y' : `y[${i}]`;
        const data = layout === 'sparse' ? sparseLabelsToU32(y, classes, what) : y.data instanceof Float32Array ? y.data : Float32Array.from(y.data);
        const view = viewOf(engine.upload(data, `${what} (${this.count} labels)`), data.byteLength);
        this.labels.push({ view, features: data.length / this.count, source: 'float32', layout, classes });
      });
    } catch (err) {
      this.dispose();
      throw err;
    }
  }

  /** The gather dispatches filling each input's `xs[i]` (and each output's `labels[i]`) of a batch of `batch` rows; cached per target. */
  gather(batch: number, indices: View, stepInfo: GPUBuffer, xs: readonly View[], labels: readonly View[]): Dispatch[] {
    const targetKey = [batch, ...xs.map((x) => `${cacheId(x.buffer)}@${x.offset}+${x.size}`), '|', ...labels.map((l) => `${cacheId(l.buffer)}@${l.offset}`), cacheId(indices.buffer), cacheId(stepInfo)].join(':');
    let dispatches = this.gathers.get(targetKey);
    if (!dispatches) {
      const step = { buffer: stepInfo, offset: 0, size: stepInfo.size };
      dispatches = this.inputs.map((column, i) => {
        const scale = column.source === 'uint8' ? 1 / 255 : 1;
        return this.engine.kernel(gatherImages(batch, column.features, column.source, { scale }), [column.view, indices, step, xs[i]!]);
      });
      labels.forEach((target, i) => {
        const column = this.labels[i];
        if (column) dispatches!.push(this.engine.kernel(gatherLabels(batch, column.layout, column.classes), [column.view, indices, step, target]));
      });
      this.gathers.set(targetKey, dispatches);
    }
    return dispatches;
  }

  dispose(): void {
    for (const column of [...this.inputs, ...this.labels]) this.engine.release(column.view.buffer);
    this.inputs.length = 0;
    this.labels.length = 0;
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
