/**
 * Host batches fed to a plan one at a time (fitDataset, evaluateDataset, trainOnBatch and the other
 * on-batch calls): each batch is checked against the model, then written into one of two staging
 * areas on the GPU, alternately, so that writing the next batch never waits for the step still
 * reading the previous one; the plan's gathers read the area through an index buffer that maps
 * the plan's padding rows to the batch's last sample (as fit's partial last batch does).
 *
 * Plans: a batch runs through the plan the caller is using when it fits (a smaller, e.g. last,
 * batch: StepInfo's `rows` leaves the padding out), else through a plan of its own size, built
 * when first needed. The staging areas grow with the plan.
 */
import { layoutOf, sameLayout, DeviceDataset, type DatasetLabels, type DatasetLayout } from '../data/device-dataset.ts';
import type { Plan, PlanMode } from '../graph/plan.ts';
import type { Dispatch, View } from '../runtime/engine.ts';
import { sizeOf } from '../runtime/tensor.ts';
import type { ModelData } from './args.ts';
import { indexBuffer, type DeviceState } from './device.ts';
import type { Batches, ModelRuntime } from './runtime.ts';
import { classSampleWeights, type ClassWeight } from './sample-weights.ts';
import { lossWeightViews } from './training-loop.ts';

/** A batch checked against the model, ready to stage. */
export interface CheckedBatch extends Batches {
  size: number;
  /** What its columns hold (dtypes, widths): a dataset's batches must keep it. */
  layout: DatasetLayout;
}

export class BatchFeeder {
  private areas: DeviceDataset[] = [];
  private turn = 0;
  private layout: DatasetLayout | undefined;
  private indices: View | undefined;
  /** Real rows the index buffer maps (the rest to the last of them). */
  private indexedRows = 0;

  constructor(
    private readonly rt: ModelRuntime,
    private readonly state: DeviceState,
    readonly mode: PlanMode,
    /** Per output, whether its loss is weighted (train only). */
    private readonly weighted: readonly boolean[] | undefined,
    private readonly use: string,
  ) {}

  /**
   * Checks a batch against the model (shapes per input, labels, targets; `y` absent to predict)
   * and weights its losses: per output, class weights times sample weights, where given. Errors
   * name `what`.
   */
  check(x: ModelData, y: ModelData | undefined, what: string, weights: { classWeights?: readonly (ClassWeight | undefined)[] | undefined; sampleWeights?: readonly (Float32Array | undefined)[] | undefined } = {}): CheckedBatch {
    const at = (part: string) => (what ? `${what}: ${part}` : part);
    const data: Batches = y === undefined ? { xs: this.rt.checkInputs(x, at('x')), ys: undefined } : this.rt.checkData(x, y, at('xs'), at('ys'));
    this.rt.checkInputValues(data.xs);
    const names = this.rt.outputNames;
    if (this.weighted && data.ys) {
      data.weights = data.ys.map((t, i) => {
        const classWeight = weights.classWeights?.[i];
        const byClass = classWeight && classSampleWeights(t, classWeight, this.rt.graph(what).outputs[i]!.shape, at(`classWeight${names.length > 1 ? ` of output '${names[i]}'` : ''}`));
        const bySample = weights.sampleWeights?.[i];
        return byClass && bySample ? byClass.map((w, k) => w * bySample[k]!) : (byClass ?? bySample);
      });
      this.weighted.forEach((w, i) => {
        if (w !== (data.weights![i] !== undefined)) throw new Error(`${at('ys')}: output ${i} must ${w ? '' : 'not '}carry loss weights in this run`);
      });
    }
    return { ...data, size: data.xs[0]!.shape[0]!, layout: layoutOf(data.xs, this.labels(data), this.weighted) };
  }

  private labels(data: Batches): DatasetLabels[] {
    if (!data.ys) return [];
    const graph = this.rt.graph('labels');
    const compiled = this.rt.compiled('labels');
    return data.ys.map((tensor, i) => ({ tensor, layout: compiled.outputs[i]!.loss.labels, classes: sizeOf(graph.outputs[i]!.shape) }));
  }

  /**
   * The plan for a batch of `rows`: `current` (the caller's plan) when the batch fits it; else an
   * existing plan of exactly this size, or with `reuseLarger` the smallest larger one; else a new one.
   */
  async planFor(rows: number, current?: Plan, reuseLarger = false): Promise<Plan> {
    if (current && rows <= current.batch) return current;
    const existing = this.rt.plans(this.state, this.mode, this.weighted).filter((p) => p.batch >= rows).sort((a, b) => a.batch - b.batch);
    const reuse = existing.find((p) => p.batch === rows) ?? (reuseLarger ? existing[0] : undefined);
    return reuse ?? this.rt.plan(this.state, rows, this.mode, this.weighted);
  }

  /**
   * Writes `batch` into the next staging area and returns the dispatches gathering it into `plan`
   * (StepInfo's offset must be 0 and its rows `batch.size`).
   */
  stage(batch: CheckedBatch, plan: Plan): Dispatch[] {
    if (!this.layout || !sameLayout(this.layout, batch.layout) || this.areas[0]!.capacity < plan.batch) {
      for (const area of this.areas) area.dispose();
      this.areas = [];
      this.layout = undefined;
      for (let k = 0; k < 2; k++) this.areas.push(DeviceDataset.staging(this.state.engine, batch.layout, plan.batch));
      this.layout = batch.layout;
      this.indices = undefined;
    }
    const capacity = this.areas[0]!.capacity;
    if (!this.indices || this.indexedRows !== batch.size) {
      const order = Uint32Array.from({ length: capacity }, (_, b) => Math.min(b, batch.size - 1));
      this.indices = indexBuffer(this.state, this.use, capacity, order);
      this.indexedRows = batch.size;
    }
    const area = this.areas[this.turn]!;
    this.turn = 1 - this.turn;
    area.write(batch.xs, this.labels(batch), batch.weights ?? []);
    return area.gather(plan.batch, this.indices, this.state.stepInfo, plan.xs, plan.labels, lossWeightViews(plan));
  }

  dispose(): void {
    for (const area of this.areas) area.dispose();
    this.areas = [];
    this.layout = undefined;
  }
}

/** The feeder a model keeps on its device state for `mode` (and weighting), so repeated calls allocate nothing new. */
export function feederFor(rt: ModelRuntime, state: DeviceState, mode: PlanMode, weighted?: readonly boolean[]): BatchFeeder {
  const key = `feed:${mode}:${weighted?.map((w) => (w ? 1 : 0)).join('') ?? ''}`;
  let feeder = state.feeds.get(key) as BatchFeeder | undefined;
  if (!feeder) state.feeds.set(key, (feeder = new BatchFeeder(rt, state, mode, weighted, key)));
  return feeder;
}
