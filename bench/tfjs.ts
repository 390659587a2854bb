/**
 * TensorFlow.js (page only) on the same models and recipe (the tutorial CNN on MNIST; the residual
 * CNN on the same synthetic images as ours, models.ts; the LSTM text classifier on the same
 * synthetic ids, sequence-models.ts): Keras layers, 'rmsprop' (lr 0.001,
 * rho 0.9, eps 1e-7, as ours), sparse categorical crossentropy, batches gathered by its own fit().
 * Timed like ours, windows over fit()'s onBatchEnd times; its fit waits for every step's loss, so
 * each timestamp marks a finished step.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import type { Mnist } from '../src/data/mnist.ts';
import type { BenchConfig, ModelName } from './config.ts';
import type { ModelFlops } from './flops.ts';
import { RESIDUAL_CLASSES, RESIDUAL_INPUT, syntheticImages } from './models.ts';
import { LSTM_CLASSES, LSTM_EMBEDDING, LSTM_SEQUENCE, LSTM_UNITS, LSTM_VOCABULARY, syntheticSequences } from './sequence-models.ts';
import { median, throughput, windowTimes, type BaselineResult, type PredictResult, type TrainResult } from './results.ts';

function tutorialCnn(): tf.Sequential {
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu', inputShape: [28, 28, 1] }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 128, kernelSize: 3, activation: 'relu' }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
  model.compile({ optimizer: 'rmsprop', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}

/** The residual CNN of models.ts, layer for layer (TF.js's defaults: Glorot-uniform kernels, BN momentum 0.99, epsilon 1e-3). */
function residualCnn(): tf.LayersModel {
  const convBn = (x: tf.SymbolicTensor, filters: number, kernelSize: number, relu: boolean): tf.SymbolicTensor => {
    let h = tf.layers.conv2d({ filters, kernelSize, padding: 'same' }).apply(x) as tf.SymbolicTensor;
    h = tf.layers.batchNormalization().apply(h) as tf.SymbolicTensor;
    return relu ? (tf.layers.activation({ activation: 'relu' }).apply(h) as tf.SymbolicTensor) : h;
  };
  const block = (x: tf.SymbolicTensor, filters: number, project: boolean): tf.SymbolicTensor => {
    const skip = project ? convBn(x, filters, 1, false) : x;
    let h = convBn(x, filters, 3, true);
    h = convBn(h, filters, 3, false);
    const sum = tf.layers.add().apply([h, skip]) as tf.SymbolicTensor;
    return tf.layers.activation({ activation: 'relu' }).apply(sum) as tf.SymbolicTensor;
  };
  const image = tf.input({ shape: [...RESIDUAL_INPUT] });
  let x = convBn(image, 32, 3, true);
  x = block(x, 32, false);
  x = tf.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor;
  x = convBn(x, 64, 3, true);
  x = block(x, 64, false);
  x = tf.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor;
  x = block(x, 128, true);
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: RESIDUAL_CLASSES, activation: 'softmax' }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: image, outputs: out });
  model.compile({ optimizer: 'rmsprop', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}

/** The LSTM text classifier of sequence-models.ts, layer for layer (TF.js's defaults: hardSigmoid gates, glorotNormal kernels, orthogonal recurrent kernel). */
function lstmClassifier(): tf.Sequential {
  const model = tf.sequential({
    layers: [
      tf.layers.embedding({ inputDim: LSTM_VOCABULARY, outputDim: LSTM_EMBEDDING, inputShape: [LSTM_SEQUENCE] }),
      tf.layers.lstm({ units: LSTM_UNITS }),
      tf.layers.dense({ units: LSTM_CLASSES, activation: 'softmax' }),
    ],
  });
  model.compile({ optimizer: 'rmsprop', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}

/** The residual model's synthetic samples, the same bytes ours trains on; labels [n, 1]. */
function syntheticTensors(split: 'train' | 'test', n: number): { x: tf.Tensor; y: tf.Tensor2D } {
  const { images, labels } = syntheticImages(n, split);
  return { x: tf.tensor4d(images, [n, ...RESIDUAL_INPUT]), y: tf.tensor2d(Float32Array.from(labels), [n, 1]) };
}

/** The LSTM classifier's synthetic ids [n, 100] (float32, as TF.js's Embedding takes them) and labels [n, 1]. */
function sequenceTensors(split: 'train' | 'test', n: number): { x: tf.Tensor; y: tf.Tensor2D } {
  const { ids, labels } = syntheticSequences(n, split);
  return { x: tf.tensor2d(ids, [n, LSTM_SEQUENCE]), y: tf.tensor2d(Float32Array.from(labels), [n, 1]) };
}

/** How the benchmark builds a model and its samples for TF.js. */
interface TfjsModel {
  build(): tf.LayersModel;
  tensors(split: 'train' | 'test', n: number): { x: tf.Tensor; y: tf.Tensor2D };
}

function tfjsModel(name: ModelName, mnist: Mnist | undefined): TfjsModel {
  if (name === 'residual') return { build: residualCnn, tensors: syntheticTensors };
  if (name === 'lstm') return { build: lstmClassifier, tensors: sequenceTensors };
  if (name === 'charlm') throw new Error('the bench runs no TF.js version of the language model (TF.js 4.22 has no attention layer)');
  if (!mnist) throw new Error('the tutorial model needs MNIST');
  return { build: tutorialCnn, tensors: (split, n) => tensors(mnist[split], n) };
}

/** Images scaled to [0, 1] as ours are, [n, 28, 28, 1]; labels [n, 1] as Keras's sparse losses take them. */
function tensors(split: Mnist['train'], n: number): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const pixels = split.images.values.subarray(0, n * 784);
  const x = tf.tensor4d(Float32Array.from(pixels, (p) => p / 255), [n, 28, 28, 1]);
  const y = tf.tensor2d(Float32Array.from(split.labels.values.subarray(0, n)), [n, 1]);
  return { x, y };
}

/** The WebGL renderer string, which says whether WebGL runs on SwiftShader. */
function glRenderer(): string {
  const gl = document.createElement('canvas').getContext('webgl2');
  if (!gl) return 'no WebGL2 context';
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  return String(ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
}

export async function benchTfjs(
  backend: 'webgpu' | 'webgl',
  modelName: ModelName,
  mnist: Mnist | undefined,
  config: BenchConfig,
  flops: ModelFlops,
  ceiling: number,
  log: (line: string) => void,
): Promise<BaselineResult> {
  const name = `tfjs-${backend}`;
  const tag = modelName === 'tutorial' ? name : `${name} ${modelName}`;
  const spec = tfjsModel(modelName, mnist);
  const result: BaselineResult = { name, version: tf.version.tfjs, train: [], predict: [] };
  let ok = false;
  try {
    ok = await tf.setBackend(backend);
  } catch (err) {
    result.error = `tf.setBackend('${backend}') threw: ${(err as Error).message}`;
    return result;
  }
  if (!ok || tf.getBackend() !== backend) {
    result.error = `tf.setBackend('${backend}') failed (TF.js fell back to '${tf.getBackend()}'); see the page console`;
    return result;
  }
  await tf.ready();
  result.detail = backend === 'webgl' ? `WebGL renderer: ${glRenderer()}` : `backend ${tf.getBackend()}`;
  const { baselineWarmupSteps: warmup, baselineWindows: windows, baselineStepsPerWindow: k } = config;
  for (const batch of config.baselineBatches) {
    const steps = warmup + windows * k;
    const model = spec.build();
    const { x, y } = spec.tensors('train', steps * batch);
    const times: number[] = [];
    try {
      const history = await model.fit(x, y, {
        epochs: 1,
        batchSize: batch,
        verbose: 0,
        // 'auto' yields through requestAnimationFrame, which a headless page may throttle.
        yieldEvery: 'never',
        callbacks: { onBatchEnd: async (step) => void (times[step] = performance.now()) },
      });
      const windowMs = windowTimes(times, warmup, windows, k);
      const msPerStep = median(windowMs);
      const train: TrainResult = { batch, steps: { warmup, windows, perWindow: k }, windowMs, msPerStep, ...throughput(batch / (msPerStep / 1000), flops.training, ceiling) };
      result.train.push(train);
      result.detail += `; batch ${batch}: mean fit loss ${Number(history.history.loss?.[0]).toFixed(3)} over ${steps} steps`;
      log(`${tag}: train batch ${batch}: ${msPerStep.toFixed(0)} ms/step (windows ${windowMs.map((m) => m.toFixed(0)).join(', ')})`);
      result.predict.push(await predict(model, spec, batch, config.baselinePredictSamples, flops, ceiling));
      log(`${tag}: predict batch ${batch}: ${result.predict.at(-1)!.samplesPerSec.toFixed(1)} samples/s`);
    } finally {
      x.dispose();
      y.dispose();
      model.dispose();
    }
  }
  return result;
}

async function predict(model: tf.LayersModel, spec: TfjsModel, batch: number, samples: number, flops: ModelFlops, ceiling: number): Promise<PredictResult> {
  const run = async (n: number) => {
    const { x, y } = spec.tensors('test', n);
    y.dispose();
    const start = performance.now();
    const out = model.predict(x, { batchSize: batch }) as tf.Tensor;
    await out.data();
    const ms = performance.now() - start;
    out.dispose();
    x.dispose();
    return ms;
  };
  await run(Math.min(batch, samples)); // compiles the inference shaders
  const ms = await run(samples);
  return { batch, samples, ms, ...throughput(samples / (ms / 1000), flops.forward, ceiling) };
}
