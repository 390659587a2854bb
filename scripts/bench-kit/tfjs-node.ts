/**
 * TF.js webgpu in Node for the kit: bench/tfjs.ts's measurement, one batch size at a time (so the
 * time budget can stop between them), on the Dawn `navigator.gpu` kit.ts installs before this
 * module is imported (the backend registers itself on import only where navigator.gpu exists).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import type { Mnist } from '../../src/data/mnist.ts';
import type { ModelFlops } from '../../bench/flops.ts';
import type { BaselineResult } from '../../bench/results.ts';
import { benchTfjs } from '../../bench/tfjs.ts';
import { benchConfigFor, type KitModel, type KitOptions } from './args.ts';

/** The TF.js version the kit bundles. */
export function tfjsVersion(): string {
  return tf.version.tfjs;
}

/** The adapter TF.js's webgpu backend got, once it has been initialized. */
export function tfjsAdapter(): string | undefined {
  const backend = tf.engine().registry.webgpu as { adapterInfo?: { vendor?: string; architecture?: string } } | undefined;
  const info = backend?.adapterInfo;
  return info ? [info.vendor, info.architecture].filter(Boolean).join(' / ') || 'unknown' : undefined;
}

/** TF.js on one model at each of `batches`, merged into one result; batches past the deadline go to `skipped`. */
export async function runTfjs(
  model: KitModel,
  mnist: Mnist | undefined,
  options: KitOptions,
  batches: number[],
  flops: ModelFlops,
  ceiling: number,
  deadline: number,
  log: (line: string) => void,
  skipped: string[],
): Promise<BaselineResult> {
  const merged: BaselineResult = { name: 'tfjs-webgpu', version: tf.version.tfjs, train: [], predict: [] };
  const details: string[] = [];
  for (const batch of batches) {
    if (performance.now() > deadline) {
      skipped.push(`TF.js at batch ${batch}`);
      continue;
    }
    let r: BaselineResult;
    try {
      r = await benchTfjs('webgpu', model, mnist, benchConfigFor(options, model, batch), flops, ceiling, (line) => log(`kit ${line}`));
    } catch (err) {
      r = { name: merged.name, version: merged.version, error: err instanceof Error ? err.message : String(err), train: [], predict: [] };
    }
    merged.train.push(...r.train);
    merged.predict.push(...r.predict);
    if (r.detail) details.push(r.detail);
    if (r.error) {
      merged.error = `batch ${batch}: ${r.error}`;
      log(`${model} batch ${batch}: TF.js webgpu failed: ${r.error}`);
      break;
    }
  }
  if (details.length) merged.detail = details.join('; ');
  return merged;
}
