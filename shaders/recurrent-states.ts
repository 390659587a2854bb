/**
 * A recurrent layer's final states as outputs of their own (Keras's return_state): the forward
 * copies the last step's state rows out, and the backward folds their gradients into the last
 * step's before the steps' loop runs. One small dispatch each, whatever the sequence's length.
 *
 * The state rows are in processing order (`srow(b, s)`, shaders/recurrent.ts), so the final state
 * of row b is the row srow(b, LAST_STEP): with a mask it is the state after the last kept step,
 * since a masked step stores the previous state again.
 */
import { geometryKey, launch, prologue, type RecurrentGeometry, type RecurrentKernel } from './recurrent.ts';
import { flatIndex } from './wgsl.ts';

/** A plain f32 array binding of the family (these kernels read and write whole elements). */
function array(name: string, kind: 'read' | 'write', binding: number): string {
  return `@group(0) @binding(${binding}) var<storage, ${kind === 'read' ? 'read' : 'read_write'}> ${name}: array<f32>;`;
}

/** A kernel over every (batch row, unit) element, its body given `b` and `k` (the unit). */
function elementKernel(key: string, g: RecurrentGeometry, entries: readonly { name: string; kind: 'read' | 'write' }[], body: string): RecurrentKernel {
  const total = g.batch * g.units;
  const { size, workgroups, rowStride } = launch(total);
  return {
    key,
    bindings: entries.map((e) => e.kind),
    names: entries.map((e) => e.name),
    workgroups,
    code: `${entries.map((e, i) => array(e.name, e.kind, i)).join('\n')}
${prologue({ ...g, recurrentDropout: 0, masked: false })}

@compute @workgroup_size(${size})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'BATCH * UNITS')}
  let b = i / UNITS;
  let k = i % UNITS;
  ${body}
}`,
  };
}

/** hn = h at the last step, and an LSTM's cn = c at the last step, f32 [batch, units]. Bindings: h, [c], hn, [cn]. */
export function finalStates(g: RecurrentGeometry): RecurrentKernel {
  const lstm = g.cell === 'lstm';
  const entries = [{ name: 'h', kind: 'read' as const }, ...(lstm ? [{ name: 'c', kind: 'read' as const }] : []), { name: 'hn', kind: 'write' as const }, ...(lstm ? [{ name: 'cn', kind: 'write' as const }] : [])];
  return elementKernel(`recurrent-final-states:${geometryKey(g)}`, g, entries, `let last = srow(b, LAST_STEP) * UNITS + k;
  hn[i] = h[last];${lstm ? '\n  cn[i] = c[last];' : ''}`);
}

/**
 * Before the backward's loop: the final state's gradient dhn joins the last step's output gradient
 * dy (in place), and an LSTM's cell-state carry starts as dcn. Bindings: dy, dhn, [carry, dcn].
 */
export function finalStateGrad(g: RecurrentGeometry): RecurrentKernel {
  const lstm = g.cell === 'lstm';
  const entries = [{ name: 'dy', kind: 'write' as const }, { name: 'dhn', kind: 'read' as const }, ...(lstm ? [{ name: 'carry', kind: 'write' as const }, { name: 'dcn', kind: 'read' as const }] : [])];
  // dy holds every step's gradient with returnSequences (processing order), else the last step's alone.
  const row = g.returnSequences ? 'srow(b, LAST_STEP)' : 'b';
  return elementKernel(`recurrent-final-state-grad:${geometryKey(g)}`, g, entries, `let last = ${row} * UNITS + k;
  dy[last] = dy[last] + dhn[i];${lstm ? '\n  carry[i] = dcn[i];' : ''}`);
}
