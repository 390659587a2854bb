/**
 * The one MetricOp implementation every built-in metric is an instance of: a name, the kernel
 * (shaders/metric-formulas.ts) that adds a batch's totals into its slice, the checks of labels and
 * output shape, and the decoding of the slice into the metric's value.
 */
import { ACCUMULATOR_LAYOUT, ACCUMULATOR_WORDS, type MetricAccumulation } from '../../../shaders/metric-kernels.ts';
import { metricKernelAccumulation, metricKernelLabels, metricKernelSource, type MetricKernelName } from '../../../shaders/metric-formulas.ts';
import type { BufferView, Dispatch, Engine } from '../../runtime/engine.ts';
import { formatShape, type Shape } from '../../runtime/tensor.ts';
import type { LabelLayout, LossGeometry } from '../losses/loss.ts';
import type { MetricOp, MetricOptions, MetricViews } from './metric.ts';

export interface KernelMetricSpec {
  /** TF.js's (or, where TF.js has none, Keras's camelCased) name. */
  name: string;
  kernel: MetricKernelName;
  /** Top-k's k. */
  k?: number;
  /** The value is the square root of the mean (Keras's RootMeanSquaredError). */
  root?: boolean;
  /** The least size of the output's last axis the metric makes sense for. */
  minWidth?: number;
  /** Appended to the error of labels in the other layout: what to use instead. */
  labelsHint?: string;
}

/** [batch, ...outputShape] as the metric kernels see it: rows of `positions` positions of `width`. */
export function metricKernelGeometry(g: LossGeometry): { batch: number; positions: number; width: number } {
  const shape = g.outputShape;
  return { batch: g.batch, positions: shape.slice(0, -1).reduce((a, b) => a * b, 1), width: shape[shape.length - 1]! };
}

/** The words of a slice read back, as u32 and f32 readers (little-endian, as WebGPU's buffers). */
function slice(words: ArrayBuffer | ArrayBufferView, count: number, who: string): { u: (i: number) => number; f: (i: number) => number } {
  const view = ArrayBuffer.isView(words) ? new DataView(words.buffer, words.byteOffset, words.byteLength) : new DataView(words);
  if (view.byteLength < count * 4) throw new Error(`${who}: needs its ${count} words (${count * 4} bytes), got ${view.byteLength} bytes`);
  return { u: (i) => view.getUint32(i * 4, true), f: (i) => view.getFloat32(i * 4, true) };
}

export class KernelMetric implements MetricOp {
  readonly name: string;
  readonly words: number;
  readonly labels: LabelLayout;
  private readonly accumulation: MetricAccumulation;

  constructor(private readonly spec: KernelMetricSpec) {
    this.name = spec.name;
    this.accumulation = metricKernelAccumulation(spec.kernel);
    this.words = ACCUMULATOR_WORDS[this.accumulation];
    this.labels = metricKernelLabels(spec.kernel);
  }

  check(outputShape: Shape, labels: LabelLayout, who: string): void {
    const metric = `metric ${this.name}`;
    if (!Array.isArray(outputShape) || outputShape.length < 1 || !outputShape.every((d) => Number.isInteger(d) && d > 0)) {
      const shown = Array.isArray(outputShape) ? formatShape(outputShape) : String(outputShape);
      throw new Error(`${who}: ${metric} needs an output of rank ≥ 1 (without the batch) with positive sizes, got ${shown}`);
    }
    if (labels !== 'sparse' && labels !== 'dense') throw new Error(`${who}: ${metric}: labels must be 'sparse' or 'dense', got ${String(labels)}`);
    if (labels !== this.labels) {
      const wants = this.labels === 'sparse' ? 'class-index (sparse) labels' : 'dense labels shaped like the output';
      const has = labels === 'sparse' ? 'class indices' : 'dense labels';
      throw new Error(`${who}: ${metric} needs ${wants}, but the loss takes ${has}${this.spec.labelsHint ?? ''}`);
    }
    const width = outputShape[outputShape.length - 1]!;
    const k = this.spec.k;
    if (k !== undefined && width <= k) {
      throw new Error(`${who}: ${metric} with k = ${k} needs more than ${k} classes on the output's last axis (else every class is in the top ${k}), got output shape ${formatShape(outputShape)}`);
    }
    const min = this.spec.minWidth ?? 1;
    if (width < min) throw new Error(`${who}: ${metric} needs at least ${min} classes on the output's last axis, got output shape ${formatShape(outputShape)}`);
  }

  dispatches(engine: Engine, g: LossGeometry, views: MetricViews, options: MetricOptions): Dispatch[] {
    const who = `metric ${this.name}`;
    if (!Number.isInteger(g.batch) || g.batch < 1) throw new Error(`${who}: batch must be a positive integer, got ${g.batch}`);
    this.check(g.outputShape, options.labels, 'dispatches');
    const fused = options.fused;
    if (fused !== undefined && fused !== 'softmax' && fused !== 'sigmoid') throw new Error(`${who}: fused must be 'softmax', 'sigmoid' or absent, got ${String(fused)}`);
    const { view, base } = this.accumulatorBinding(engine, views.accumulator, who);
    const source = metricKernelSource(this.spec.kernel, metricKernelGeometry(g), { fused, base, ...(this.spec.k !== undefined ? { k: this.spec.k } : {}) });
    return [engine.kernel(source, [views.output, views.labels, view, views.stepInfo])];
  }

  /** The slice bound from the storage offset alignment below it, and its word offset in that binding. */
  private accumulatorBinding(engine: Engine, slice: BufferView, who: string): { view: Required<BufferView>; base: number } {
    const offset = slice.offset ?? 0;
    const bytes = this.words * 4;
    if (!Number.isInteger(offset) || offset < 0 || offset % 4 !== 0) throw new Error(`${who}: the accumulator slice's offset must be a multiple of 4 bytes, got ${offset}`);
    if (slice.size !== undefined && slice.size < bytes) throw new Error(`${who}: the accumulator slice needs ${bytes} bytes (${this.words} words), got ${slice.size}`);
    if (offset + bytes > slice.buffer.size) throw new Error(`${who}: the accumulator slice at byte ${offset} runs past its buffer of ${slice.buffer.size} bytes`);
    const align = engine.limits.minStorageBufferOffsetAlignment;
    const aligned = offset - (offset % align);
    return { view: { buffer: slice.buffer, offset: aligned, size: offset - aligned + bytes }, base: (offset - aligned) / 4 };
  }

  value(words: ArrayBuffer | ArrayBufferView): number {
    const { u, f } = slice(words, this.words, `metric ${this.name}`);
    switch (this.accumulation) {
      case 'mean': {
        const L = ACCUMULATOR_LAYOUT.mean;
        const count = u(L.count);
        // In float64: the f32 sum and its compensation together hold more than f32 precision.
        const mean = count === 0 ? NaN : (f(L.sum) - f(L.compensation)) / count;
        return this.spec.root ? Math.sqrt(mean) : mean;
      }
      case 'hits': {
        const L = ACCUMULATOR_LAYOUT.hits;
        const count = u(L.count);
        return count === 0 ? NaN : u(L.hits) / count;
      }
      case 'confusion': {
        const L = ACCUMULATOR_LAYOUT.confusion;
        if (u(L.elements) === 0) return NaN;
        const denominator = u(L.denominator);
        // Keras's divide_no_nan: no predicted (or actual) positives is a value of 0.
        return denominator === 0 ? 0 : u(L.truePositives) / denominator;
      }
      case 'r2': {
        const L = ACCUMULATOR_LAYOUT.r2;
        if (u(L.count) === 0) return NaN;
        return 1 - (f(L.residualSum) - f(L.residualCompensation)) / (f(L.deviationSum) - f(L.deviationCompensation));
      }
    }
  }
}
