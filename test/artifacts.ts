/**
 * model.json round trips in tests: a model's artifacts captured in memory, ours (LayersModel.save
 * to a handler) and TF.js's (tf.io.withSaveHandler), without touching storage.
 */
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { loadModel, tensor, type Engine, type LayersModel, type ModelArtifacts } from '../src/index.ts';
import { relL2 } from './helpers.ts';

/** What our model saves, as a handler receives it. */
export async function captureOurs(m: LayersModel<unknown>, includeOptimizer = false): Promise<ModelArtifacts> {
  let captured: ModelArtifacts | undefined;
  await m.save({ save: (a) => (captured = a) }, { includeOptimizer });
  return captured!;
}

/** What TF.js's model saves, as a handler receives it. */
export async function captureTf(m: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let captured: tf.io.ModelArtifacts | undefined;
  await m.save(tf.io.withSaveHandler(async (a) => ((captured = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' as const } })));
  return captured!;
}

/**
 * model.json both ways with TF.js for twin models (theirs gets our weights): TF.js loads ours and
 * predicts x as we do, we load TF.js's and predict the same, and each `className` layer's config
 * equals TF.js's. Returns both relative errors.
 */
export async function modelJsonBothWays(
  ours: LayersModel,
  theirs: tf.LayersModel,
  x: Float32Array,
  shape: readonly number[],
  className: string,
  options: { engine: Engine },
): Promise<{ oursToTf: number; tfToOurs: number }> {
  const expected = (await ours.predict(tensor(x, [...shape]))).values;
  theirs.setWeights((await ours.getWeights()).map((w) => tf.tensor(w.values, w.shape)));
  const tfLoaded = await tf.loadLayersModel(tf.io.fromMemory((await captureOurs(ours)) as unknown as tf.io.ModelArtifacts));
  const oursToTf = relL2((tfLoaded.predict(tf.tensor(x, [...shape])) as tf.Tensor).dataSync(), expected);
  const tfJson = (await captureTf(theirs)).modelTopology as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } };
  const configs = tfJson.config.layers.filter((l) => l.class_name === className);
  expect(configs.length, `${className} layers in TF.js's model.json`).toBeGreaterThan(0);
  for (const { config } of configs) expect(ours.layers.find((l) => l.name === config.name)!.getConfig()).toEqual(config);
  const loaded = await loadModel({ load: async () => (await captureTf(theirs)) as unknown as ModelArtifacts }, options);
  const tfToOurs = relL2((await loaded.predict(tensor(x, [...shape]))).values, expected);
  loaded.dispose();
  return { oursToTf, tfToOurs };
}
