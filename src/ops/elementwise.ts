/**
 * The flat elementwise kernels that run over whole tensors in a training step (fill, sum of
 * gradients, accumulate, scale, the ReLU forward, the pointwise activations forward and backward)
 * and their variant table: one element per invocation ('scalar') or four as a vec4 ('vec4', where
 * the element count is a multiple of 4). Each is one dispatch of the kernel in shaders/elementwise.ts
 * or shaders/activation.ts.
 */
import { activationBackward, activationForward, type Pointwise } from '../../shaders/activation.ts';
import { accumulate, fill, reluForward, scale, sum, type Lanes } from '../../shaders/elementwise.ts';
import type { KernelSource } from '../../shaders/kernel.ts';
import type { BufferView, Dispatch, Engine, View } from '../runtime/engine.ts';
import type { BenchRun } from '../runtime/tuning.ts';
import { benchRun } from './bench-buffers.ts';
import { always, choose, type VariantTable } from './variants.ts';

/** A flat kernel and what it bakes. Bindings: fill (out); sum (in0 … in(k−1), out); accumulate, scale, reluForward and activationForward (x, out); activationBackward (x, dy, dx). */
export type FlatOp =
  | { kind: 'fill'; value: number }
  | { kind: 'sum'; inputs: number }
  | { kind: 'accumulate' }
  | { kind: 'scale'; factor: number }
  | { kind: 'reluForward' }
  | { kind: 'activationForward' | 'activationBackward'; activation: Pointwise };

/** What a flat kernel's variant depends on: the kernel and its element count. */
export interface FlatGeometry {
  op: FlatOp;
  n: number;
}

/** A short key: the kernel (and activation) and the element count. */
export function flatKey(g: FlatGeometry): string {
  return `${g.op.kind}${'activation' in g.op ? ` ${g.op.activation.kind}` : ''} ${g.n}`;
}

/** The kernel of g with `lanes` elements per invocation. */
export function flatKernel(g: FlatGeometry, lanes: Lanes): KernelSource {
  const { op, n } = g;
  switch (op.kind) {
    case 'fill':
      return fill(n, op.value, lanes);
    case 'sum':
      return sum(n, op.inputs, lanes);
    case 'accumulate':
      return accumulate(n, lanes);
    case 'scale':
      return scale(n, op.factor, lanes);
    case 'reluForward':
      return reluForward(n, lanes);
    case 'activationForward':
      return activationForward(op.activation, n, lanes);
    case 'activationBackward':
      return activationBackward(op.activation, n, lanes);
  }
}

/** Buffers the kernel of op binds. */
function bindingCount(op: FlatOp): number {
  return op.kind === 'fill' ? 1 : op.kind === 'sum' ? op.inputs + 1 : op.kind === 'activationBackward' ? 3 : 2;
}

const fourLanes = (g: FlatGeometry): boolean => g.n % 4 === 0;

/** Four per invocation wherever the count allows, on every profile: on SwiftShader too, where it measured faster. */
export const flatTable: VariantTable<FlatGeometry> = {
  op: 'elementwise.flat',
  key: flatKey,
  rows: [
    {
      name: 'vec4',
      applies: fourLanes,
      note: 'bench/NOTES.md item 73',
      why: 'Four elements per invocation as vec4 loads and stores, a quarter of the invocations (counts that are multiples of 4): faster on SwiftShader for every kernel here; on GPUs the usual vectorized shape, unmeasured there.',
    },
    { name: 'scalar', applies: always, why: 'One element per invocation in workgroups of 256: any element count.' },
  ],
  bench: flatBench,
};

/** The dispatch of g's chosen row (`variant` forces one) on `buffers`, bound as flatKernel's. */
export function flatDispatch(engine: Engine, g: FlatGeometry, buffers: readonly BufferView[], variant?: string): Dispatch {
  const row = choose(flatTable, g, engine, variant);
  return engine.kernel(flatKernel(g, row.name === 'vec4' ? 4 : 1), buffers);
}

/** Zeros over `view` (its whole size unless `floats` says fewer): the fill of the chosen row. */
export function zeros(engine: Engine, view: View, floats = view.size / 4): Dispatch {
  return flatDispatch(engine, { op: { kind: 'fill', value: 0 }, n: floats }, [view]);
}

/** A variant of g on scratch buffers (random inputs), for the tuner to time. */
function flatBench(engine: Engine, g: FlatGeometry, name: string): BenchRun {
  return benchRun(engine, (m) => {
    const count = bindingCount(g.op);
    const views = Array.from({ length: count }, (_, k) => (k === count - 1 ? m.output(g.n, 'flat bench out') : m.input(g.n, 'flat bench in')));
    return [flatDispatch(engine, g, views, name)];
  });
}
