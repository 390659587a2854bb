/**
 * The loss kernels' variant table: 'one-workgroup' (shaders/loss-kernel.ts: one workgroup strides
 * over the batch and adds into the metrics accumulator itself) and 'partials'
 * (shaders/loss-partials.ts: many workgroups write the gradients and partial sums to plan scratch,
 * and a one-workgroup finish adds them up). 'partials' needs the plan's scratch allocator
 * (LossViews.scratch); without it only 'one-workgroup' applies.
 */
import { stepInfoData } from '../../../shaders/kernel.ts';
import { lossKernel, type KernelSpec } from '../../../shaders/loss-kernel.ts';
import { lossPartialsKernels, partialsLaunch } from '../../../shaders/loss-partials.ts';
import { METRICS_WORDS } from '../../../shaders/metrics.ts';
import type { Dispatch, Engine } from '../../runtime/engine.ts';
import type { BenchRun } from '../../runtime/tuning.ts';
import { benchRun } from '../bench-buffers.ts';
import { always, choose, onCpu, type Variant, type VariantTable } from '../variants.ts';
import type { LossViews } from './loss.ts';

/** What the table chooses on: the loss's kernel spec (name, geometry, options) and whether the caller gave scratch. */
export interface LossVariantGeometry {
  spec: KernelSpec;
  /** The caller passed LossViews.scratch. */
  scratch: boolean;
}

/** A short key of a loss's geometry for the variant records and the tuner. */
export function lossKey(g: LossVariantGeometry): string {
  const { name, g: s, options: o } = g.spec;
  const flags = [o.withGradient ? 'gradient' : 'metrics-only', o.accuracy ?? 'no-accuracy', ...(o.sampleWeights ? ['weighted'] : []), ...(o.maskPositions !== undefined ? [`masked${o.maskPositions}`] : [])];
  return `${name} ${s.batch}x${s.positions}x${s.width} ${flags.join(' ')}`;
}

const UNMEASURED = 'unmeasured here (no bench/NOTES.md item yet)';
/** The batch spans more than one workgroup of the partial pass: below that the two passes only add a dispatch. */
const spansWorkgroups = (g: LossVariantGeometry): boolean => g.scratch && partialsLaunch(g.spec).parts > 1;

const ONE_WORKGROUP: Omit<Variant<LossVariantGeometry>, 'applies'> = {
  name: 'one-workgroup',
  why: 'One workgroup strides over the batch and adds into the accumulator itself: one dispatch and no scratch, what a CPU rasterizer runs best.',
};
const PARTIALS: Omit<Variant<LossVariantGeometry>, 'applies'> = {
  name: 'partials',
  why: `GPUs: an element or a position per invocation over many workgroups, then a one-workgroup finish over their partial sums, so that a batch of sequences fills the compute units: ${UNMEASURED}.`,
};

const LOSS_ROWS: readonly Variant<LossVariantGeometry>[] = [
  { ...ONE_WORKGROUP, applies: onCpu },
  { ...PARTIALS, applies: (g, p) => p.kind === 'gpu' && spansWorkgroups(g) },
  { ...ONE_WORKGROUP, applies: always },
  { ...PARTIALS, applies: (g) => g.scratch },
];

/** Every loss's variants: one workgroup first on 'cpu' profiles; the partial sums first on 'gpu' ones when the batch spans several workgroups. */
export const lossTable: VariantTable<LossVariantGeometry> = { op: 'loss', key: lossKey, rows: LOSS_ROWS, bench: lossBench };

/**
 * The dispatches of a loss whose kernels `spec` describes, on `views` (LossViews's bindings);
 * `variant` forces a row of lossTable.
 */
export function lossDispatches(engine: Engine, spec: KernelSpec, views: LossViews, variant?: string): Dispatch[] {
  const row = choose(lossTable, { spec, scratch: views.scratch !== undefined }, engine, variant);
  const grad = views.grad ? [views.grad] : [];
  const weights = views.sampleWeights ? [views.sampleWeights] : [];
  const mask = views.mask ? [views.mask] : [];
  if (row.name === 'one-workgroup') return [engine.kernel(lossKernel(spec), [views.output, views.labels, ...grad, views.metrics, views.stepInfo, ...weights, ...mask])];
  const kernels = lossPartialsKernels(spec);
  const scratch = views.scratch!(kernels.scratchBytes, `loss ${spec.name} partials`);
  return [
    ...(kernels.count ? [engine.kernel(kernels.count, [views.mask!, scratch, views.stepInfo])] : []),
    engine.kernel(kernels.partials, [views.output, views.labels, ...grad, scratch, views.stepInfo, ...weights, ...mask]),
    engine.kernel(kernels.finish, [scratch, views.metrics, views.stepInfo]),
  ];
}

/** A loss variant on scratch buffers (random outputs and labels, class 0 for sparse ones, every position kept), for the tuner to time. */
function lossBench(engine: Engine, g: LossVariantGeometry, name: string): BenchRun {
  const { spec } = g;
  const { batch, positions, width } = spec.g;
  const o = spec.options;
  const n = batch * positions * width;
  return benchRun(engine, (s) => {
    const views: LossViews = {
      output: s.input(n, 'loss bench output'),
      labels: spec.sparse ? s.constant(batch * positions, 0, 'loss bench labels') : s.input(n, 'loss bench labels'),
      grad: o.withGradient ? s.output(n, 'loss bench gradient') : null,
      metrics: s.constant(METRICS_WORDS, 0, 'loss bench metrics'),
      stepInfo: s.uniform(stepInfoData(0, 0, 0, batch), 'loss bench step info'),
      ...(o.sampleWeights ? { sampleWeights: s.input(batch, 'loss bench weights') } : {}),
      ...(o.maskPositions !== undefined ? { mask: s.constant(batch * o.maskPositions, 1, 'loss bench mask') } : {}),
      scratch: s.scratch,
    };
    return lossDispatches(engine, spec, views, name);
  });
}
