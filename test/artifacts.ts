/**
 * model.json round trips in tests: a model's artifacts captured in memory, ours (LayersModel.save
 * to a handler) and TF.js's (tf.io.withSaveHandler), without touching storage.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayersModel, ModelArtifacts } from '../src/index.ts';

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
