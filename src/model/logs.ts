/**
 * The logs a model reads from its loss and metric accumulators on the GPU, named as Keras names
 * them, and the same values in TF.js's metricsNames order (what trainOnBatch and testOnBatch return).
 */
import { METRICS_WORDS, readMetrics } from '../ops/losses/metrics.ts';
import type { Logs } from './args.ts';
import type { Compiled } from './compile.ts';
import { metricSlot, type DeviceState } from './device.ts';

/** Zeroes every accumulator (an epoch, an evaluate call, a batch of trainOnBatch). */
export function resetMetrics(state: DeviceState): void {
  state.engine.write(state.metrics, new Uint32Array(state.metrics.size / 4));
}

/**
 * The logs from the accumulators (one readback): with one output `loss`, and the accuracy and
 * each metric under the name it was given; with several, `loss` is the weighted total and each
 * output adds `<output>_loss`, `<output>_accuracy` and `<output>_<metric>`, as Keras.
 */
export async function readLogs(state: DeviceState, compiled: Compiled): Promise<Logs> {
  const bytes = await state.engine.read(state.metrics, state.metrics.size);
  const single = compiled.outputs.length === 1;
  const logs: Logs = { loss: 0 };
  compiled.outputs.forEach((o) => {
    const m = readMetrics(new Uint8Array(bytes, metricSlot(state, o.slot).offset, METRICS_WORDS * 4));
    const loss = m.count ? m.lossSum / m.count : NaN;
    logs.loss += o.weight * loss;
    const prefix = single ? '' : `${o.name}_`;
    if (!single) logs[`${prefix}loss`] = loss;
    for (const key of o.accuracyKeys) logs[`${prefix}${key}`] = m.accuracyCount ? m.correct / m.accuracyCount : NaN;
    for (const metric of o.metrics) logs[`${prefix}${metric.key}`] = metric.op.value(new Uint8Array(bytes, metricSlot(state, metric.slot).offset, metric.op.words * 4));
  });
  return logs;
}

/** The log keys in TF.js's metricsNames order: loss, each output's loss (several outputs), then each output's metrics as given. */
export function metricsOrder(compiled: Compiled): string[] {
  const single = compiled.outputs.length === 1;
  const prefix = (name: string) => (single ? '' : `${name}_`);
  const keys = ['loss', ...(single ? [] : compiled.outputs.map((o) => `${o.name}_loss`))];
  compiled.outputs.forEach((o, i) => {
    for (const given of compiled.metricNames[i] ?? []) {
      if (o.metrics.some((m) => m.key === given) || o.accuracyKeys.includes(given)) keys.push(`${prefix(o.name)}${given}`);
    }
  });
  return keys;
}

/** The logs as TF.js's trainOnBatch / testOnBatch return them: the loss alone, or [loss, ...metrics]. */
export function tfjsValues(logs: Logs, compiled: Compiled): number | number[] {
  const values = metricsOrder(compiled).map((k) => logs[k] ?? NaN);
  return values.length === 1 ? values[0]! : values;
}
