/**
 * jax-js (page only, WebGPU device) on the same model and recipe, written the JAX way: NCHW
 * convolutions (same FLOPs; MNIST's one channel makes NCHW and NHWC inputs the same bytes), a loss
 * of sparse crossentropy, and one jit-compiled step doing value-and-grad plus Keras's RMSprop
 * (v = ρv + (1-ρ)g², p -= lr·g/√(v+ε)). Each timed step waits for the new parameters and reads the
 * loss, as a training loop that logs does. jax-js arrays are reference-counted: every function
 * consumes its array arguments, `.ref` keeps one alive for another use.
 */
import { blockUntilReady, defaultDevice, init, jit, lax, nn, numpy as np, tree, valueAndGrad } from '@jax-js/jax';
import type { Mnist } from '../src/data/mnist.ts';
import type { BenchConfig } from './config.ts';
import type { ModelFlops } from './flops.ts';
import { median, throughput, windowTimes, type BaselineResult, type PredictResult } from './results.ts';

type Params = { w1: np.Array; b1: np.Array; w2: np.Array; b2: np.Array; w3: np.Array; b3: np.Array; w4: np.Array; b4: np.Array };

const LR = 0.001;
const RHO = 0.9;
const EPS = 1e-7;

/** Conv kernels OIHW, conv biases [C, 1, 1] to broadcast over NCHW, dense [in, out]. */
const SHAPES: Record<keyof Params, number[]> = {
  w1: [32, 1, 3, 3],
  b1: [32, 1, 1],
  w2: [64, 32, 3, 3],
  b2: [64, 1, 1],
  w3: [128, 64, 3, 3],
  b3: [128, 1, 1],
  w4: [1152, 10],
  b4: [10],
};
const KEYS = Object.keys(SHAPES) as (keyof Params)[];

/** Glorot-uniform kernels and zero biases (Keras's defaults), from a seeded generator. */
function initialParams(seed: number): Params {
  let state = seed >>> 0;
  const uniform = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  const entries = KEYS.map((key) => {
    const shape = SHAPES[key];
    const size = shape.reduce((a, b) => a * b, 1);
    if (key.startsWith('b')) return [key, np.zeros(shape)];
    const receptive = shape.length === 4 ? shape[2]! * shape[3]! : 1;
    const [fanIn, fanOut] = shape.length === 4 ? [shape[1]! * receptive, shape[0]! * receptive] : [shape[0]!, shape[1]!];
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    return [key, np.array(Float32Array.from({ length: size }, () => uniform() * limit), { shape })];
  });
  return Object.fromEntries(entries) as Params;
}

function logits(p: Params, x: np.Array): np.Array {
  const conv = (h: np.Array, w: np.Array, b: np.Array) => nn.relu(lax.conv(h, w, [1, 1], 'VALID').add(b));
  const pool = (h: np.Array) => lax.reduceWindow(h, np.max, [2, 2], [2, 2]);
  let h = pool(conv(x, p.w1, p.b1)); // [B, 32, 13, 13]
  h = pool(conv(h, p.w2, p.b2)); // [B, 64, 5, 5]
  h = conv(h, p.w3, p.b3).reshape([-1, 1152]); // [B, 1152]
  return np.dot(h, p.w4).add(p.b4);
}

function loss(p: Params, x: np.Array, y: np.Array): np.Array {
  const batch = y.shape[0]!;
  return nn.logSoftmax(logits(p, x), -1).mul(nn.oneHot(y, 10)).sum().mul(-1 / batch);
}

const trainStep = jit((p: Params, v: Params, x: np.Array, y: np.Array): [np.Array, Params, Params] => {
  const [value, grads] = valueAndGrad(loss)(tree.ref(p), x, y);
  const nextP = {} as Params;
  const nextV = {} as Params;
  for (const key of KEYS) {
    const g = grads[key];
    const vk = v[key].mul(RHO).add(g.ref.mul(g.ref).mul(1 - RHO));
    nextP[key] = p[key].sub(g.mul(LR).div(np.sqrt(vk.ref.add(EPS))));
    nextV[key] = vk;
  }
  return [value, nextP, nextV];
});

const probabilities = jit((p: Params, x: np.Array): np.Array => nn.softmax(logits(p, x), -1));

/** Batches as device arrays: images [B, 1, 28, 28] in [0, 1], labels int32 [B]. */
function batches(split: Mnist['train'], batch: number, count: number, withLabels: boolean): { x: np.Array; y?: np.Array }[] {
  return Array.from({ length: count }, (_, i) => {
    const pixels = split.images.values.subarray(i * batch * 784, (i + 1) * batch * 784);
    const x = np.array(Float32Array.from(pixels, (v) => v / 255), { shape: [batch, 1, 28, 28] });
    const y = withLabels ? np.array(Int32Array.from(split.labels.values.subarray(i * batch, (i + 1) * batch)), { dtype: np.int32 }) : undefined;
    return { x, y };
  });
}

export async function benchJax(mnist: Mnist, config: BenchConfig, flops: ModelFlops, ceiling: number, log: (line: string) => void): Promise<BaselineResult> {
  const result: BaselineResult = { name: 'jax-webgpu', version: '', train: [], predict: [] };
  const available = await init('webgpu');
  if (!available.includes('webgpu')) {
    result.error = `jax-js init('webgpu') found no WebGPU device (devices: ${available.join(', ') || 'none'})`;
    return result;
  }
  defaultDevice('webgpu');
  const { baselineWarmupSteps: warmup, baselineWindows: windows, baselineStepsPerWindow: k } = config;
  for (const batch of config.baselineBatches) {
    const steps = warmup + windows * k;
    let p = initialParams(1337);
    let v = Object.fromEntries(KEYS.map((key) => [key, np.zeros(SHAPES[key])])) as Params;
    const data = batches(mnist.train, batch, steps, true);
    const times: number[] = [];
    const losses: number[] = [];
    try {
      for (let s = 0; s < steps; s++) {
        const [value, nextP, nextV] = trainStep(p, v, data[s]!.x, data[s]!.y!);
        p = nextP;
        v = nextV;
        await blockUntilReady(p);
        losses.push((await value.data())[0]!);
        times[s] = performance.now();
      }
      result.detail = `${result.detail ? `${result.detail}; ` : ''}batch ${batch}: loss ${losses[0]!.toFixed(3)} at step 0, ${losses.at(-1)!.toFixed(3)} at step ${steps - 1}`;
      const windowMs = windowTimes(times, warmup, windows, k);
      const msPerStep = median(windowMs);
      result.train.push({ batch, steps: { warmup, windows, perWindow: k }, windowMs, msPerStep, ...throughput(batch / (msPerStep / 1000), flops.training, ceiling) });
      log(`jax-webgpu: train batch ${batch}: ${msPerStep.toFixed(0)} ms/step (windows ${windowMs.map((m) => m.toFixed(0)).join(', ')})`);
      result.predict.push(await predict(p, mnist, batch, config.baselinePredictSamples, flops, ceiling));
      log(`jax-webgpu: predict batch ${batch}: ${result.predict.at(-1)!.samplesPerSec.toFixed(1)} samples/s`);
    } finally {
      tree.dispose(p);
      tree.dispose(v);
    }
  }
  return result;
}

/** Predicts `samples` test images (whole batches only, so one compiled shape serves them all). */
async function predict(p: Params, mnist: Mnist, batch: number, samples: number, flops: ModelFlops, ceiling: number): Promise<PredictResult> {
  const count = Math.max(1, Math.floor(samples / batch));
  const run = async (inputs: { x: np.Array }[]) => {
    const start = performance.now();
    for (const { x } of inputs) await probabilities(tree.ref(p), x).data();
    return performance.now() - start;
  };
  await run(batches(mnist.test, batch, 1, false)); // compiles
  const ms = await run(batches(mnist.test, batch, count, false));
  const n = count * batch;
  return { batch, samples: n, ms, ...throughput(n / (ms / 1000), flops.forward, ceiling) };
}
