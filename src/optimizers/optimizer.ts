/**
 * What every optimizer shares: its learning rate (a number the host uploads when it changes, or a
 * schedule the GPU evaluates from the step counter), Keras's gradient clipping (clipnorm,
 * clipvalue, globalClipnorm) and decoupled weight decay, its state slots (one flat buffer per
 * slot, as large as the flat parameter buffer), and the dispatches of one step: clipping's
 * reduction and a one-invocation prologue when needed, then ONE update over the flat buffer.
 */
import { clipNormsKernel, type ClipSpec, type Segment } from '../../shaders/clipping.ts';
import { needsPrologue, prologueKernel, scalarCount, type UpdateOptions, type UpdateRule } from '../../shaders/optimizers.ts';
import type { BufferView, Dispatch, Engine } from '../runtime/engine.ts';
import { describe } from '../runtime/tensor.ts';
import { LearningRateSchedule, serializeSchedule, type SerializedSchedule } from './schedules.ts';
import { updateDispatches } from './update-variants.ts';
import { checkNumber, checkOptionalPositive } from './validation.ts';

/** Size of the uniform the host writes (shaders/optimizers.ts HYPER_STRUCT: the rate and padding). */
export const HYPER_BYTES = 16;

export type OptimizerClassName = 'SGD' | 'Momentum' | 'Adagrad' | 'Adadelta' | 'Adam' | 'AdamW' | 'Adamax' | 'Nadam' | 'RMSprop';

/** The options every optimizer takes (Keras's base optimizer arguments, camelCase). */
export interface BaseOptimizerConfig {
  /** A number, settable later (`optimizer.learningRate = x`), or a schedule from `optimizers.schedules`. */
  learningRate?: number | LearningRateSchedule;
  /** Scale each weight's gradient to an L2 norm of at most this. */
  clipnorm?: number | null;
  /** Clamp every gradient element to [−clipvalue, clipvalue]. */
  clipvalue?: number | null;
  /** Scale all gradients together to a global L2 norm of at most this. */
  globalClipnorm?: number | null;
  /** Keras's decoupled weight decay: w ← w − w·weightDecay·lr before each update. */
  weightDecay?: number | null;
}

export const BASE_KEYS = ['learningRate', 'clipnorm', 'clipvalue', 'globalClipnorm', 'weightDecay'] as const;

export interface OptimizerViews {
  params: BufferView;
  grads: BufferView;
  /** One view per `slotNames` entry, in that order, each as large as `params`; zeroed before step 1. */
  slots: readonly BufferView[];
  /** HYPER_BYTES of a buffer with UNIFORM usage, written by prepareStep(). */
  hyper: BufferView;
  /** The StepInfo uniform (shaders/kernel.ts); its `step` is the 1-based step being taken. */
  stepInfo: BufferView;
  /** Each trainable weight's range in the flat buffers, in floats (norm clipping); default: one range [0, n). */
  segments?: readonly Segment[];
  /** Buffers the step keeps for itself (per-step scalars, clipping's sums), created once. */
  scratch: (floats: number, label: string) => BufferView;
}

/** A JSON value in an optimizer's config. */
export type ConfigValue = number | boolean | string | null | SerializedSchedule;

export abstract class Optimizer {
  static readonly HYPER_BYTES = HYPER_BYTES;
  /** Names of the state slots (checkpoints name them `<weight>/<slot>`), in the order the update binds them. */
  abstract readonly slotNames: readonly string[];
  /** Keras class name. */
  readonly className: OptimizerClassName;
  readonly learningRateSchedule: LearningRateSchedule | undefined;
  readonly clipnorm: number | undefined;
  readonly clipvalue: number | undefined;
  readonly globalClipnorm: number | undefined;
  /** Decoupled weight decay (0: none). */
  readonly weightDecay: number;
  private lr = 0;
  /** Updates applied when the last step was prepared (what a schedule's current value refers to). */
  private iterations = 0;
  /** Per uniform buffer: the rate last written there. */
  private readonly written = new WeakMap<GPUBuffer, string>();

  protected constructor(className: OptimizerClassName, config: BaseOptimizerConfig, defaultLearningRate: number) {
    this.className = className;
    const lr = config.learningRate ?? defaultLearningRate;
    if (lr instanceof LearningRateSchedule) this.learningRateSchedule = lr;
    else this.learningRate = lr;
    this.clipnorm = checkOptionalPositive(className, 'clipnorm', config.clipnorm);
    this.clipvalue = checkOptionalPositive(className, 'clipvalue', config.clipvalue);
    this.globalClipnorm = checkOptionalPositive(className, 'globalClipnorm', config.globalClipnorm);
    const clips = [this.clipnorm, this.clipvalue, this.globalClipnorm].filter((v) => v !== undefined).length;
    if (clips > 1) {
      throw new Error(`${className}: only one of clipnorm, clipvalue and globalClipnorm can be set, got clipnorm=${this.clipnorm}, clipvalue=${this.clipvalue}, globalClipnorm=${this.globalClipnorm}`);
    }
    const wd = config.weightDecay;
    this.weightDecay = wd === undefined || wd === null ? 0 : checkNumber(className, 'weightDecay', wd, (v) => v >= 0, 'a finite number ≥ 0');
  }

  /**
   * The rate of the next update: the number set, or the schedule's value after the steps taken so
   * far. Setting it takes effect at the next step; an optimizer built on a schedule rejects it (as Keras does).
   */
  get learningRate(): number {
    return this.learningRateSchedule ? this.learningRateSchedule.valueAt(this.iterations) : this.lr;
  }

  set learningRate(value: number) {
    if (this.learningRateSchedule) {
      throw new TypeError(
        `${this.className}: this optimizer was created with the learning-rate schedule ${this.learningRateSchedule.className}, so its learning rate cannot be set; create it with a number as learningRate to set it`,
      );
    }
    if ((value as unknown) instanceof LearningRateSchedule) throw new TypeError(`${this.className}: a schedule can only be given at construction: optimizers.${this.className.toLowerCase()}({ learningRate: schedule })`);
    this.lr = checkNumber(this.className, 'learningRate', value, (v) => v > 0, 'a finite number > 0 (or a schedule from optimizers.schedules)');
  }

  /** The rule of this optimizer's update (shaders/update-rules.ts). */
  protected abstract rule(): UpdateRule;

  /** The clipping this optimizer applies, over `segments`. */
  private clipSpec(segments: readonly Segment[]): ClipSpec {
    if (this.clipvalue !== undefined) return { kind: 'value', clipvalue: this.clipvalue };
    if (this.clipnorm !== undefined) return { kind: 'norm', clipnorm: this.clipnorm, segments };
    if (this.globalClipnorm !== undefined) return { kind: 'global', clipnorm: this.globalClipnorm, segments };
    return { kind: 'none' };
  }

  /**
   * The dispatches of one step over the first `n` floats of the flat buffers, created once (no
   * readback, nothing per step); `variant` forces a row of optimizerUpdateTable (src/optimizers/update-variants.ts).
   */
  dispatches(engine: Engine, n: number, views: OptimizerViews, variant?: string): Dispatch[] {
    if (views.slots.length !== this.slotNames.length) {
      throw new Error(`${this.className} needs ${this.slotNames.length} slot buffers (${this.slotNames.join(', ') || 'none'}), got ${views.slots.length}`);
    }
    const segments = views.segments ?? [{ offset: 0, size: n }];
    checkSegments(this.className, segments, n);
    const rule = this.rule();
    const options: UpdateOptions = { clip: this.clipSpec(segments), weightDecay: this.weightDecay, schedule: this.learningRateSchedule?.spec() };
    const out: Dispatch[] = [];
    let sums: BufferView | undefined;
    if (options.clip.kind === 'norm' || options.clip.kind === 'global') {
      sums = views.scratch(segments.length, 'clip-sums');
      out.push(engine.kernel(clipNormsKernel(segments), [views.grads, sums]));
    }
    let rate = views.hyper;
    if (needsPrologue(rule, options)) {
      rate = views.scratch(scalarCount(rule, options), 'optimizer-scalars');
      out.push(engine.kernel(prologueKernel(rule, options), [views.hyper, views.stepInfo, rate, ...(sums ? [sums] : [])]));
    }
    const bindings = [views.params, views.grads, ...views.slots, rate, ...(rule.readsStep ? [views.stepInfo] : [])];
    // Under its own scope: describeVariants lists the update's variant as the 'optimizer' row of a plan.
    out.push(...engine.withScope('optimizer', () => updateDispatches(engine, { n, rule, options }, bindings, variant)));
    return out;
  }

  /** Contents of the uniform: the rate when it is a number (a schedule's lives on the GPU). */
  hyperparameters(step?: number): Float32Array {
    if (step !== undefined && (!Number.isInteger(step) || step < 1)) throw new Error(`${this.className}: step must be an integer ≥ 1, got ${step}`);
    return new Float32Array([this.learningRateSchedule ? 0 : this.lr, 0, 0, 0]);
  }

  /** Before step `step` (1-based): uploads the rate to `hyper` only if it changed since the last upload there. */
  prepareStep(engine: Engine, hyper: BufferView, step: number): void {
    const data = this.hyperparameters(step);
    this.iterations = step;
    const written = `${hyper.offset ?? 0}:${data[0]}`;
    if (this.written.get(hyper.buffer) === written) return;
    engine.write(hyper, data);
    this.written.set(hyper.buffer, written);
  }

  /** The options beside the rule's own that Keras writes (only those set), snake_case. */
  protected baseConfig(): Record<string, ConfigValue> {
    return {
      learning_rate: this.learningRateSchedule ? serializeSchedule(this.learningRateSchedule) : this.learningRate,
      ...(this.weightDecay > 0 && { weight_decay: this.weightDecay }),
      ...(this.clipnorm !== undefined && { clipnorm: this.clipnorm }),
      ...(this.globalClipnorm !== undefined && { global_clipnorm: this.globalClipnorm }),
      ...(this.clipvalue !== undefined && { clipvalue: this.clipvalue }),
    };
  }

  /** Keras-style snake_case config. */
  abstract getConfig(): Record<string, ConfigValue>;
}

function checkSegments(owner: string, segments: readonly Segment[], n: number): void {
  if (segments.length === 0) throw new Error(`${owner}: no weight ranges to update`);
  let end = 0;
  for (const s of segments) {
    if (!Number.isInteger(s.offset) || !Number.isInteger(s.size) || s.size < 1 || s.offset < end || s.offset + s.size > n) {
      throw new Error(`${owner}: weight ranges must be increasing, non-overlapping ranges within the ${n} floats updated, got ${describe(segments.map((g) => [g.offset, g.size]))}`);
    }
    end = s.offset + s.size;
  }
}
