/**
 * The optimizer update's variant table (src/ops/variants.ts): one f32 per invocation ('scalar'),
 * or four consecutive floats as a vec4f per invocation ('vec4', with a scalar tail dispatch for
 * the last n mod 4 floats, which the model's flat buffers never have: each weight is padded to the
 * storage offset alignment). Both run every rule with every clipping and weight decay.
 */
import { clipKey } from '../../shaders/clipping.ts';
import { STEP_INFO_BYTES, stepInfoData } from '../../shaders/kernel.ts';
import { needsPrologue, prologueKernel, scalarCount, updateKernel, updateKernelVec4, updateTailKernel, type UpdateOptions, type UpdateRule } from '../../shaders/optimizers.ts';
import { benchRun } from '../ops/bench-buffers.ts';
import { always, choose, type VariantTable } from '../ops/variants.ts';
import type { BufferView, Dispatch, Engine } from '../runtime/engine.ts';
import type { BenchRun } from '../runtime/tuning.ts';

/** What an update's variant depends on: the floats it updates, the rule, and what wraps it. */
export interface UpdateGeometry {
  n: number;
  rule: UpdateRule;
  options: UpdateOptions;
}

/** The update's bindings in updateKernel's order: params, grads, the slots, the rate (scalars or Hyper), StepInfo when the rule reads it. */
export type UpdateBindings = readonly BufferView[];

/** A short key: the size, the rule's family and the clipping (the tuner keeps one choice per key). */
export function updateKey(g: UpdateGeometry): string {
  const clip = g.options.clip.kind === 'none' ? '' : ` ${clipKey(g.options.clip).replace(/\[.*\]$/, '')}`;
  return `${g.n} ${g.rule.key.split(':')[0]}${clip}`;
}

/** Four per invocation first on every profile: on SwiftShader too, where it measured faster. */
export const optimizerUpdateTable: VariantTable<UpdateGeometry> = {
  op: 'optimizer.update',
  key: updateKey,
  rows: [
    {
      name: 'vec4',
      applies: always,
      note: 'bench/NOTES.md item 73',
      why: 'Four floats per invocation as vec4f (128-bit loads and stores of the params, grads and every slot), a quarter of the invocations: faster on SwiftShader (RMSprop and Adam); on GPUs the usual vectorized shape, unmeasured there.',
    },
    { name: 'scalar', applies: always, why: 'One float per invocation in workgroups of 256: the kernel of before, for the tuner and for comparison.' },
  ],
  bench: updateBench,
};

/** The update dispatches of the row chosen for g (`variant` forces one): one kernel, or for 'vec4' the vec4 kernel and, when n mod 4 ≠ 0, the scalar tail. */
export function updateDispatches(engine: Engine, g: UpdateGeometry, bindings: UpdateBindings, variant?: string): Dispatch[] {
  const row = choose(optimizerUpdateTable, g, engine, variant);
  const { n, rule, options } = g;
  if (row.name === 'scalar') return [engine.kernel(updateKernel(n, rule, options), bindings)];
  const out: Dispatch[] = [];
  if (n >= 4) out.push(engine.kernel(updateKernelVec4(n, rule, options), bindings));
  if (n % 4 !== 0) out.push(engine.kernel(updateTailKernel(n, rule, options), bindings));
  return out;
}

/**
 * A variant's step (the prologue when the rule needs it, then the update) on scratch buffers:
 * random params and grads, zeroed slots, a rate of 1e-3 at step 1, for the tuner to time.
 */
function updateBench(engine: Engine, g: UpdateGeometry, name: string): BenchRun {
  const { n, rule, options } = g;
  const hyper = engine.uniform(16, 'optimizer bench hyper');
  const stepInfo = engine.uniform(STEP_INFO_BYTES, 'optimizer bench step');
  engine.write({ buffer: hyper }, new Float32Array([1e-3, 0, 0, 0]));
  engine.write({ buffer: stepInfo }, stepInfoData(0, 1, 0, 1));
  const releaseUniforms = () => {
    engine.release(hyper);
    engine.release(stepInfo);
  };
  let run: BenchRun;
  try {
    run = benchRun(engine, (m) => {
    const params = m.input(n, 'optimizer bench params');
    const grads = m.input(n, 'optimizer bench grads');
    const slots = rule.slots.map((slot) => {
      const view = m.output(n, `optimizer bench ${slot}`);
      engine.write(view, new Float32Array(n));
      return view;
    });
    const out: Dispatch[] = [];
    let rate: BufferView = { buffer: hyper };
    if (needsPrologue(rule, options)) {
      rate = m.output(scalarCount(rule, options), 'optimizer bench scalars');
      const clip = options.clip;
      const sums = clip.kind === 'norm' || clip.kind === 'global' ? [m.output(clip.segments.length, 'optimizer bench sums')] : [];
      for (const view of sums) engine.write(view, new Float32Array(view.size / 4).fill(n));
      out.push(engine.kernel(prologueKernel(rule, options), [{ buffer: hyper }, { buffer: stepInfo }, rate, ...sums]));
    }
    out.push(...updateDispatches(engine, g, [params, grads, ...slots, rate, ...(rule.readsStep ? [{ buffer: stepInfo }] : [])], name));
    return out;
    });
  } catch (error) {
    releaseUniforms();
    throw error;
  }
  return {
    dispatches: run.dispatches,
    dispose() {
      run.dispose();
      releaseUniforms();
    },
  };
}
