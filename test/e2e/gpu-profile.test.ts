/**
 * Whole models on the 'gpu' profile (kernelStyle 'tiled': the implicit GEMMs, the tiled products,
 * the GPU rows of the light ops) train as they do on the 'cpu' profile, on SwiftShader: the same
 * weights and data, two SGD steps each, then predictions, losses and weight updates compared (SGD:
 * an update is the gradient, where RMSprop would blow rounding noise up to full steps in weights
 * whose true gradient is zero, such as an attention's key bias).
 * The op-level tests check each variant alone; this checks what the plan wires together on a GPU
 * (fusions, scratch memory, the variants chosen per layer) across every model family we ship.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { charLanguageModel } from '../../src/models/charlm.ts';
import { input, layers, mnistModel, model, optimizers, tensor, type LayersModel, type MnistModelName } from '../../src/index.ts';
import type { Engine } from '../../src/runtime/engine.ts';
import { randomArray, relL2, useEngine } from '../helpers.ts';

const engines = { cpu: useEngine(), gpu: useEngine({ kernelStyle: 'tiled' }) };

const report: string[] = [];
afterAll(() => console.log(`'gpu' against 'cpu' profile (predictions relL2 | worst loss rel. diff | worst update error, scaled as checked):\n${report.join('\n')}`));

const BATCH = 4;
const SAMPLES = 2 * BATCH;

interface Case {
  name: string;
  /** Variant choices ('op variant') the 'gpu' plans must include. */
  runs?: RegExp[];
  build(): LayersModel;
  x(): { values: Float32Array; shape: number[] };
  y(): { values: Int32Array; shape: number[] };
}

const seeded = (n: number, seed: number, classes: number) => Int32Array.from(randomArray(n, seed), (v) => Math.floor(((v + 1) / 2) * classes) % classes);

const mnist = (name: MnistModelName, runs?: RegExp[]): Case => ({
  name: `MNIST ${name}`,
  runs,
  build: () => mnistModel(name, { seed: 3 }),
  x: () => ({ values: randomArray(SAMPLES * 784, 11).map((v) => (v + 1) / 2), shape: [SAMPLES, 28, 28, 1] }),
  y: () => ({ values: seeded(SAMPLES, 12, 10), shape: [SAMPLES] }),
});

const VOCAB = 13;
const T = 10;
const charLm = (kind: 'transformer' | 'lstm'): Case => ({
  name: `char LM (${kind})`,
  build: () => charLanguageModel({ vocabSize: VOCAB, sequenceLength: T, kind, dModel: 16, heads: 2, blocks: 1, units: 12, seed: 5 }),
  x: () => ({ values: Float32Array.from(seeded(SAMPLES * T, 21, VOCAB)), shape: [SAMPLES, T] }),
  y: () => ({ values: seeded(SAMPLES * T, 22, VOCAB), shape: [SAMPLES, T] }),
});

/**
 * The residual net's and MobileNet's layers (batch norm, add, global average pooling; depthwise,
 * ReLU6, pointwise) on a small image, at a fraction of the catalog models' compile time, with the
 * layers no catalog model has: average pooling, a strided transposed convolution, global max
 * pooling, a GRU over rows.
 */
const mixed: Case = {
  name: 'residual and depthwise blocks, average pool, transposed conv, global pools, GRU',
  runs: [/^conv2dTranspose\.forward gemm-/, /^conv2d\.forward gemm-/, /^avgPool\.forward direct-wg256$/],
  build: () => {
    const image = input({ shape: [10, 9, 3] });
    let h = layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(image);
    const skip = h;
    h = layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false }).apply(h);
    h = layers.reLU({ maxValue: 6 }).apply(layers.batchNormalization().apply(h));
    h = layers.conv2d({ filters: 8, kernelSize: 1, useBias: false }).apply(h);
    h = layers.activation({ activation: 'relu' }).apply(layers.add().apply([layers.batchNormalization().apply(h), skip]));
    const averaged = layers.globalAveragePooling2d().apply(h);
    h = layers.averagePooling2d({ poolSize: 2 }).apply(h);
    h = layers.conv2dTranspose({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }).apply(h);
    const maxed = layers.globalMaxPooling2d().apply(h);
    const rows = layers.gru({ units: 5 }).apply(layers.reshape({ targetShape: [10, 9 * 3] }).apply(image));
    const out = layers.dense({ units: 4, activation: 'softmax' }).apply(layers.concatenate().apply([averaged, maxed, rows]));
    return model({ inputs: image, outputs: out, seed: 9 });
  },
  x: () => ({ values: randomArray(SAMPLES * 270, 31), shape: [SAMPLES, 10, 9, 3] }),
  y: () => ({ values: seeded(SAMPLES, 32, 4), shape: [SAMPLES] }),
};

// The tutorial's convolutions pool in the implicit GEMM's epilogue on GPUs.
const CASES: Case[] = [mnist('cnn', [/^conv2d\.pooledForward gemm-/, /^conv2d\.kernelGrad gemm-/]), mnist('mlp'), charLm('transformer'), charLm('lstm'), mixed];

/** One model on `engine` from `weights`: its predictions before training, then its loss history and weights after two steps. */
async function run(c: Case, engine: Engine, weights?: Awaited<ReturnType<LayersModel['getWeights']>>) {
  const m = c.build();
  m.compile({ optimizer: optimizers.sgd({ learningRate: 0.1 }), loss: 'sparseCategoricalCrossentropy', engine });
  if (weights) m.setWeights(weights);
  const start = await m.getWeights();
  const x = c.x();
  const y = c.y();
  const before = (await m.predict(tensor(x.values, x.shape), { batchSize: BATCH })).values.slice();
  const history = await m.fit(tensor(x.values, x.shape), tensor(y.values, y.shape), { epochs: 1, batchSize: BATCH, shuffle: false, verbose: 0 });
  const after = await m.getWeights();
  m.dispose();
  return { start, before, loss: history.history.loss!, updates: after.map((w, i) => w.values.map((v, k) => v - start[i]!.values[k]!)), names: after.map((w) => w.name) };
}

describe("whole models on the 'gpu' profile train as on the 'cpu' profile", () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const cpu = await run(c, engines.cpu());
      const gpu = engines.gpu();
      const seen = gpu.variantChoices().length;
      const result = await run(c, gpu, cpu.start);
      const choices = gpu.variantChoices().slice(seen).map((v) => `${v.op} ${v.variant}`);
      const predictions = relL2(result.before, cpu.before);
      expect(predictions, 'predictions before training').toBeLessThanOrEqual(1e-5);
      const losses = result.loss.map((l, i) => Math.abs(l - cpu.loss[i]!) / Math.abs(cpu.loss[i]!));
      losses.forEach((d, i) => expect(d, `loss ${i}`).toBeLessThanOrEqual(1e-5));
      // Each weight's update within 1e-4 of its own size, or of a thousandth of the whole update's
      // where its true gradient is zero (an attention's key bias) and both are rounding noise.
      const norm = (a: ArrayLike<number>) => {
        let sum = 0;
        for (let k = 0; k < a.length; k++) sum += a[k]! * a[k]!;
        return Math.sqrt(sum);
      };
      const whole = Math.sqrt(cpu.updates.reduce((s, u) => s + norm(u) ** 2, 0));
      const errors = result.updates.map((u, i) => norm(u.map((v, k) => v - cpu.updates[i]![k]!)) / Math.max(norm(cpu.updates[i]!), 1e-3 * whole));
      errors.forEach((e, i) => expect(e, `update of ${result.names[i]}`).toBeLessThanOrEqual(1e-4));
      report.push(`${c.name}: ${predictions.toExponential(1)} | ${Math.max(...losses).toExponential(1)} | ${Math.max(...errors).toExponential(1)}`);
      // The 'gpu' rows ran: no CPU-rasterizer variant was chosen where a GPU one exists.
      expect(choices.some((v) => /gemm|tiled|wg256|vec4|partials/.test(v)), choices.join(', ')).toBe(true);
      expect(choices.filter((v) => /winograd|taps|patches|registers-blocks/.test(v)), 'CPU-only variants on the gpu profile').toEqual([]);
      for (const pattern of c.runs ?? []) expect(choices.some((v) => pattern.test(v)), `${pattern} in ${choices.join(', ')}`).toBe(true);
    }, 120_000);
  }
});
