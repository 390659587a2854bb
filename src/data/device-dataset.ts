/**
 * Datasets on the GPU, which batches are gathered from into a plan's inputs: images as uploaded
 * (uint8 pixels packed four to a word, or float32), labels (u32 class ids or float32 rows) and,
 * for weighted losses, one float32 weight per sample and output. Two kinds:
 *
 *  - a whole dataset (`DeviceDataset.upload(...)`), uploaded once for a fit/evaluate/predict and
 *    gathered through an index buffer, so steps upload nothing;
 *  - a staging area (`DeviceDataset.staging(...)`), sized for one batch, that a streamed batch is
 *    written into (fitDataset, trainOnBatch): the same gather kernels read it through the identity.
 */
import type { LabelLayout } from '../ops/losses/loss.ts';
import { gatherImages, gatherLabels } from '../../shaders/gather.ts';
import type { Dispatch, Engine, View } from '../runtime/engine.ts';
import { formatShape, sizeOf, type Shape, type Tensor } from '../runtime/tensor.ts';
import { sparseLabelsToU32 } from './labels.ts';

/** One output's labels as a dataset holds them: the loss's layout and the output's per-sample width. */
export interface DatasetLabels {
  tensor: Tensor;
  layout: LabelLayout;
  /**
   * The output's values per sample: its classes for [batch, classes] outputs; for sparse labels of
   * an output [...positions, classes] (a sequence's steps), positions × classes (sparseColumns).
   */
  classes: number;
}

/** What a dataset's columns hold per sample: fixed for a staging area, whose batches must match it. */
export interface DatasetLayout {
  inputs: readonly { features: number; source: 'uint8' | 'float32' }[];
  /** `positions`: the class indices per sample of sparse labels (1 for dense ones). */
  labels: readonly { layout: LabelLayout; classes: number; positions: number }[];
  /** Per output: whether its samples carry a loss weight. */
  weights: readonly boolean[];
}

/** One uploaded tensor: one model input (images as uint8 or float32), one output's labels or weights. */
interface Column {
  view: View;
  /** Words per sample. */
  features: number;
  source: 'uint8' | 'float32';
}

type LabelColumn = Column & { layout: LabelLayout; classes: number };

/** The layout of a batch's tensors (`weighted[i]`: output i carries loss weights): what a staging area for them holds. */
export function layoutOf(xs: readonly Tensor[], ys: readonly DatasetLabels[], weighted: readonly boolean[] = []): DatasetLayout {
  return {
    inputs: xs.map((x) => ({ features: sizeOf(x.shape.slice(1)), source: x.dtype === 'uint8' ? 'uint8' : 'float32' })),
    labels: ys.map((y) => ({ layout: y.layout, classes: y.classes, positions: y.layout === 'sparse' ? sizeOf(sparseColumns(y).positions) : 1 })),
    weights: ys.map((_, i) => weighted[i] === true),
  };
}

/** Whether two layouts describe the same columns. */
export function sameLayout(a: DatasetLayout, b: DatasetLayout): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class DeviceDataset {
  /** Samples held: the whole dataset's, or the rows of the batch last written into a staging area. */
  count: number;
  /** Samples the buffers have room for. */
  readonly capacity: number;
  /** One per model input, in the model's input order. */
  private readonly inputs: Column[] = [];
  /** One per output, in the model's output order (none for predict). */
  private readonly labels: LabelColumn[] = [];
  /** Per output, its samples' loss weights when it has them. */
  private readonly weights: (Column | undefined)[] = [];
  private readonly gathers = new Map<string, Dispatch[]>();

  private constructor(
    private readonly engine: Engine,
    capacity: number,
  ) {
    this.count = 0;
    this.capacity = capacity;
  }

  /** A whole dataset uploaded: the x per input, the labels and optional weights per output. */
  static upload(engine: Engine, xs: readonly Tensor[], ys: readonly DatasetLabels[], weights: readonly (Float32Array | undefined)[] = []): DeviceDataset {
    const count = xs[0]!.shape[0]!;
    const dataset = new DeviceDataset(engine, count);
    try {
      xs.forEach((x, i) => {
        const what = xs.length === 1 ? 'x' : `x[${i}]`;
        const data = inputData(engine, x, what);
        const view = viewOf(engine.upload(data, `${what} (${count} samples)`), data.byteLength);
        dataset.inputs.push({ view, features: sizeOf(x.shape.slice(1)), source: x.dtype === 'uint8' ? 'uint8' : 'float32' });
      });
      ys.forEach((y, i) => {
        const what = ys.length === 1 ? 'y' : `y[${i}]`;
        const data = labelData(y, what);
        const view = viewOf(engine.upload(data, `${what} (${count} labels)`), data.byteLength);
        dataset.labels.push({ view, features: data.length / count, source: 'float32', layout: y.layout, classes: y.classes });
        const w = weights[i];
        dataset.weights.push(w && { view: viewOf(engine.upload(w, `${what} weights`), w.byteLength), features: 1, source: 'float32' });
      });
    } catch (err) {
      dataset.dispose();
      throw err;
    }
    dataset.count = count;
    return dataset;
  }

  /** An empty staging area for batches of up to `capacity` samples laid out as `layout`. */
  static staging(engine: Engine, layout: DatasetLayout, capacity: number): DeviceDataset {
    const area = new DeviceDataset(engine, capacity);
    const column = (words: number, label: string): View => viewOf(engine.buffer(words * 4, label), words * 4);
    try {
      layout.inputs.forEach(({ features, source }, i) => {
        const words = source === 'uint8' ? Math.ceil((capacity * features) / 4) : capacity * features;
        area.inputs.push({ view: column(words, `staged x[${i}]`), features, source });
      });
      layout.labels.forEach(({ layout: kind, classes, positions }, i) => {
        const features = kind === 'sparse' ? positions : classes;
        area.labels.push({ view: column(capacity * features, `staged y[${i}]`), features, source: 'float32', layout: kind, classes });
        area.weights.push(layout.weights[i] ? { view: column(capacity, `staged y[${i}] weights`), features: 1, source: 'float32' } : undefined);
      });
    } catch (err) {
      area.dispose();
      throw err;
    }
    return area;
  }

  /**
   * Writes a batch into a staging area's first rows (queued after the work already submitted, so the
   * GPU may still be reading the previous batch from another area). The tensors must match its
   * layout; labels are validated (and converted) here, before anything is written.
   */
  write(xs: readonly Tensor[], ys: readonly DatasetLabels[], weights: readonly (Float32Array | undefined)[] = []): void {
    const rows = xs[0]!.shape[0]!;
    if (rows > this.capacity) throw new Error(`a batch of ${rows} samples does not fit a staging area of ${this.capacity}`);
    const inputs = xs.map((x, i) => {
      const column = this.inputs[i]!;
      const what = xs.length === 1 ? 'x' : `x[${i}]`;
      const features = sizeOf(x.shape.slice(1));
      const source = x.dtype === 'uint8' ? 'uint8' : 'float32';
      if (features !== column.features || source !== column.source) {
        throw new Error(`${what}: ${x.dtype} of shape ${formatShape(x.shape)} does not fit the staging area (${column.features} ${column.source} features per sample)`);
      }
      return inputData(this.engine, x, what);
    });
    const labels = ys.map((y, i) => labelData(y, ys.length === 1 ? 'y' : `y[${i}]`));
    this.weights.forEach((column, i) => {
      if (!column !== !weights[i]) throw new Error(`output ${i}: the staging area ${column ? 'expects' : 'has no room for'} loss weights`);
    });
    inputs.forEach((data, i) => this.engine.write(this.inputs[i]!.view, data));
    labels.forEach((data, i) => this.engine.write(this.labels[i]!.view, data));
    this.weights.forEach((column, i) => column && this.engine.write(column.view, weights[i]!));
    this.count = rows;
  }

  /**
   * The gather dispatches filling each input's `xs[i]`, each output's `labels[i]` and, where given,
   * its `weights[i]`, for a batch of `batch` rows; cached per target.
   */
  gather(batch: number, indices: View, stepInfo: GPUBuffer, xs: readonly View[], labels: readonly View[], weights: readonly (View | undefined)[] = []): Dispatch[] {
    const id = (v: View | undefined) => (v ? `${cacheId(v.buffer)}@${v.offset}` : '-');
    const targetKey = [batch, ...xs.map((x) => `${id(x)}+${x.size}`), '|', ...labels.map(id), '|', ...weights.map(id), cacheId(indices.buffer), cacheId(stepInfo)].join(':');
    let dispatches = this.gathers.get(targetKey);
    if (!dispatches) {
      const step = { buffer: stepInfo, offset: 0, size: stepInfo.size };
      dispatches = this.inputs.map((column, i) => {
        const scale = column.source === 'uint8' ? 1 / 255 : 1;
        return this.engine.kernel(gatherImages(batch, column.features, column.source, { scale }), [column.view, indices, step, xs[i]!]);
      });
      labels.forEach((target, i) => {
        const column = this.labels[i];
        // A sparse column's features are its class indices per sample.
        if (column) dispatches!.push(this.engine.kernel(gatherLabels(batch, column.layout, column.classes, column.layout === 'sparse' ? column.features : 1), [column.view, indices, step, target]));
      });
      weights.forEach((target, i) => {
        const column = this.weights[i];
        if (target && !column) throw new Error(`output ${i}: the plan weights its loss, but the dataset holds no weights for it`);
        if (target && column) dispatches!.push(this.engine.kernel(gatherImages(batch, 1, 'float32'), [column.view, indices, step, target]));
      });
      this.gathers.set(targetKey, dispatches);
    }
    return dispatches;
  }

  dispose(): void {
    for (const column of [...this.inputs, ...this.labels, ...this.weights]) if (column) this.engine.release(column.view.buffer);
    this.inputs.length = 0;
    this.labels.length = 0;
    this.weights.length = 0;
    this.gathers.clear();
  }
}

/** An input's values as the GPU column holds them: uint8 pixels as they are, int32 as float32; checked finite under checkNumerics. */
function inputData(engine: Engine, x: Tensor, what: string): Uint8Array | Float32Array {
  const features = sizeOf(x.shape.slice(1));
  const pixels = x.dtype === 'int32' ? Float32Array.from(x.values) : (x.values as Uint8Array | Float32Array);
  if (engine.checkNumerics && pixels instanceof Float32Array) {
    const bad = pixels.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      const row = Math.floor(bad / features);
      throw new Error(`${what}: sample ${row} holds ${pixels[bad]} at element ${bad - row * features}; inputs must be finite (checked because the engine has checkNumerics on)`);
    }
  }
  return pixels;
}

/**
 * Sparse labels [N, ...positions] (or [N, ...positions, 1]) of an output [...positions, classes]:
 * the positions and the class count (`classes` is the output's values per sample). Labels of any
 * other shape come back as one per sample, for sparseLabelsToU32 to refuse.
 */
function sparseColumns({ tensor: y, classes }: DatasetLabels): { positions: Shape; classes: number } {
  const perSample = y.shape.slice(1);
  const positions = perSample.length > 0 && perSample[perSample.length - 1] === 1 ? perSample.slice(0, -1) : perSample;
  const classCount = classes / sizeOf(positions);
  return Number.isInteger(classCount) ? { positions, classes: classCount } : { positions: [], classes };
}

/** One output's labels in the loss's layout: validated u32 class ids, or float32 rows. */
function labelData(y: DatasetLabels, what: string): Uint32Array | Float32Array {
  if (y.layout === 'sparse') {
    const { positions, classes } = sparseColumns(y);
    return sparseLabelsToU32(y.tensor, classes, what, positions);
  }
  const values = y.tensor.dataSync();
  return values instanceof Float32Array ? values : Float32Array.from(values);
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
