import { describe, expect, it } from 'vitest';
import { input, layers, loadMnist, mnistCnn, model, optimizers, sequential, tensor, toCategorical, type LayersModel } from '../src/index.ts';
import { Random } from '../src/layers/initializers.ts';
import { cnnLossAndGradients, rmspropStep } from './reference/cnn.ts';
import { finiteDifferences, relL2, useEngine } from './helpers.ts';

const engine = useEngine();
const checkedEngine = useEngine({ robustBufferAccess: true });

/** Parameter counts in the summary's rows, in order. */
function rowParams(summary: string): number[] {
  return summary
    .split('\n')
    .filter((l) => l.startsWith('│'))
    .map((l) => Number(l.split('│')[3]!.trim().replace(/,/g, '')));
}

describe('summary', () => {
  it('prints the Keras table for the tutorial CNN, Sequential and Functional', () => {
    const seq = mnistCnn();
    const text = seq.summary();
    expect(rowParams(text)).toEqual([320, 0, 18496, 0, 73856, 0, 11530]);
    expect(text).toMatch(/Model: "sequential(_\d+)?"/);
    expect(text).toContain('(None, 26, 26, 32)');
    expect(text).toContain('(None, 1152)');
    expect(text).toContain('Total params: 104,202 (407.04 KB)');
    expect(text).toContain('Trainable params: 104,202');
    expect(text).toContain('Non-trainable params: 0');
    const fn = mnistCnn({ api: 'functional' });
    const fnText = fn.summary();
    expect(rowParams(fnText)).toEqual([0, 320, 0, 18496, 0, 73856, 0, 11530]);
    expect(fnText).toContain('InputLayer');
    expect(fn.countParams()).toBe(104202);
    const printed: string[] = [];
    seq.summary({ printFn: (l) => printed.push(l) });
    expect(printed.join('\n')).toBe(text);
  });

  it('finds layers by name or index, as TF.js getLayer does', () => {
    const m = sequential([layers.dense({ units: 3, inputShape: [4], name: 'first' }), layers.dense({ units: 2, name: 'second' })]);
    expect(m.getLayer('second')).toBe(m.layers[1]);
    expect(m.getLayer(undefined, 0).name).toBe('first');
    expect(() => m.getLayer('third')).toThrow(/has no layer named 'third'; its layers: first, second/);
    expect(() => m.getLayer(undefined, 2)).toThrow(/an index in \[0, 2\), got number 2/);
  });

  it('refuses to summarize an unbuilt Sequential model, as Keras does', () => {
    const m = sequential([layers.dense({ units: 3 })]);
    expect(() => m.summary()).toThrow(/not yet been built.*build\(\)/s);
    m.build([null, 5]);
    expect(rowParams(m.summary())).toEqual([18]);
  });
});

describe('training the tutorial CNN', () => {
  it.each([
    ['', engine],
    [' (bounds-checked kernels, as in browsers)', checkedEngine],
  ])('three RMSprop steps, the last one partial, match a float64 reference of the whole model%s', async (_, engineOf) => {
    const B = 4;
    const N = 3 * B - 2; // batches of 4, 4 and 2
    const m = mnistCnn();
    m.compile({ optimizer: 'rmsprop', loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'], engine: engineOf() });
    // Biases start non-zero so that max-pool ties are rare and the comparison tests real routing.
    const random = new Random(5);
    const start = (await m.getWeights()).map((w) => ({ shape: w.shape, values: w.values.map((v) => (w.name.endsWith('bias') ? random.uniform(-0.05, 0.05) : v)) }));
    m.setWeights(start);
    const x = new Float32Array(N * 784).map(() => random.next());
    const labels = Int32Array.from({ length: N }, () => Math.floor(random.next() * 10));
    const e = engineOf();
    let step: string[] = [];
    const labelsSeen = new Set<string>();
    e.onEncode = (dispatches) => {
      if (dispatches.length > step.length) step = dispatches.map((d) => d.label);
      for (const d of dispatches) labelsSeen.add(d.label);
    };
    await m.fit(tensor(x, [N, 28, 28, 1]), tensor(labels, [N]), { epochs: 1, batchSize: B, shuffle: false, verbose: 0 });
    e.onEncode = undefined;
    const after = await m.getWeights();
    // What this step checks numerically: both pools apply their convolution's ReLU mask (only conv3,
    // before Flatten, masks its own), and on CPU adapters conv2's dW reuses the forward's Winograd input.
    expect(step.filter((l) => l.startsWith('relu-backward')), 'ReLU mask passes').toEqual([`relu-backward:${B * 3 * 3 * 128}`]);
    expect(step.filter((l) => l.startsWith('maxpool-backward') && l.endsWith(':relu-mask'))).toHaveLength(2);
    // conv1 and conv2 pool their own outputs and save the first-max positions: no pool pass forward.
    expect(step.filter((l) => l.startsWith('maxpool-forward'))).toEqual([]);
    expect(step.filter((l) => l.startsWith('maxpool-backward-argmax'))).toHaveLength(2);
    if (e.winograd) expect(step.filter((l) => l.startsWith('winograd-input:') && l.includes(`-n${B}-in13x13x32-`)), 'transforms of conv2 input').toHaveLength(1);

    // The partial batch ran through the batch-4 plan: no kernel was built for a batch of 2.
    expect([...labelsSeen].filter((l) => /(^|[:-])n2-/.test(l))).toEqual([]);

    const w = start.map((s) => Float64Array.from(s.values));
    const v = w.map((a) => new Float64Array(a.length));
    for (let step = 0; step < 3; step++) {
      const size = Math.min(B, N - step * B);
      const xs = x.subarray(step * B * 784, (step * B + size) * 784);
      const ys = labels.subarray(step * B, step * B + size);
      const { grads } = cnnLossAndGradients({ batch: size, size: 28, filters: [32, 64, 128], classes: 10 }, w, xs, ys);
      rmspropStep(w, v, grads);
    }
    after.forEach((a, k) => {
      const gpuUpdate = Float64Array.from(a.values, (value, i) => value - start[k]!.values[i]!);
      const refUpdate = w[k]!.map((value, i) => value - start[k]!.values[i]!);
      expect(relL2(gpuUpdate, refUpdate), a.name).toBeLessThanOrEqual(1e-5);
    });
  });

  it('predict and evaluate run each convolution with its pool fused, and match a float64 reference', async () => {
    const B = 4;
    const N = 2 * B - 1; // the last batch partial
    const random = new Random(21);
    const x = new Float32Array(N * 784).map(() => random.next());
    const labels = Int32Array.from({ length: N }, () => Math.floor(random.next() * 10));
    for (const e of [engine(), checkedEngine()]) {
      const m = mnistCnn();
      m.compile({ optimizer: 'rmsprop', loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'], engine: e });
      // Non-zero biases: the pools' maxima then differ from what ReLU-then-pool of unbiased values would give.
      const weights = (await m.getWeights()).map((w) => ({ shape: w.shape, values: w.values.map((v) => (w.name.endsWith('bias') ? random.uniform(-0.1, 0.1) : v)) }));
      m.setWeights(weights);
      const steps: string[][] = [];
      e.onEncode = (dispatches) => void steps.push(dispatches.map((d) => d.label));
      const probs = await m.predict(tensor(x, [N, 28, 28, 1]), { batchSize: B });
      const evaluation = await m.evaluate(tensor(x, [N, 28, 28, 1]), tensor(labels, [N]), { batchSize: B });
      e.onEncode = undefined;
      const modelSteps = steps.filter((labelsOfStep) => labelsOfStep.some((l) => l.startsWith('conv2d-')));
      expect(modelSteps).toHaveLength(4); // 2 batches each of predict and evaluate
      const style = e.robustBufferAccess ? 'checked' : 'unchecked';
      for (const labelsOfStep of modelSteps) {
        expect(labelsOfStep.filter((l) => l.startsWith('maxpool-forward')), `${style}: pools left`).toEqual([]);
        expect(labelsOfStep.filter((l) => l.endsWith(':pool2'))).toHaveLength(2);
      }
      // The weights' Winograd transforms (conv2's F(5×5) on the 10×10 outputs its pool reads, conv3's
      // F(3×3)) run once per call, before its first batch: the second batch's predictions use what
      // the first transformed.
      const transforms = modelSteps.map((labelsOfStep) => labelsOfStep.filter((l) => l.startsWith('winograd-kernel:')).map((l) => l.split(':')[1]!.split('-')[0]));
      expect(transforms, `${style}: weight transforms per batch`).toEqual(e.winograd ? [['f5', 'f3'], [], ['f5', 'f3'], []] : [[], [], [], []]);
      const ref = cnnLossAndGradients({ batch: N, size: 28, filters: [32, 64, 128], classes: 10 }, weights.map((w) => Float64Array.from(w.values)), x, labels);
      expect(relL2(probs.values, ref.probs)).toBeLessThanOrEqual(1e-5);
      expect(evaluation.loss).toBeCloseTo(ref.loss, 5);
    }
  });

  it('sparse labels and one-hot labels train identically', async () => {
    const N = 16;
    const random = new Random(9);
    const x = tensor(new Float32Array(N * 784).map(() => random.next()), [N, 28, 28, 1]);
    const labels = Int32Array.from({ length: N }, () => Math.floor(random.next() * 10));
    const results: Float32Array[][] = [];
    const logs: number[][] = [];
    for (const onehot of [false, true]) {
      const m = mnistCnn({ seed: 3 });
      m.compile({ optimizer: 'rmsprop', loss: onehot ? 'categorical_crossentropy' : 'sparse_categorical_crossentropy', metrics: ['accuracy'], engine: engine() });
      const y = onehot ? toCategorical(labels, 10) : tensor(labels, [N]);
      const h = await m.fit(x, y, { epochs: 1, batchSize: 8, seed: 4, verbose: 0 });
      results.push((await m.getWeights()).map((w) => w.values));
      logs.push([h.loss[0]!, h.accuracy[0]!]);
      m.dispose();
    }
    results[0]!.forEach((w, k) => expect(relL2(w, results[1]![k]!)).toBeLessThanOrEqual(1e-6));
    expect(logs[0]).toEqual(logs[1]);
  });
});

describe('a functional model with a branch and a merge', () => {
  /** x → d1(relu) → [a(relu), b(linear)] → add → concat with d1 → softmax. */
  function build(seed: number): LayersModel {
    const x = input({ shape: [6] });
    const d1 = layers.dense({ units: 5, activation: 'relu' }).apply(x);
    const a = layers.dense({ units: 4, activation: 'relu' }).apply(d1);
    const b = layers.dense({ units: 4 }).apply(d1);
    const s = layers.add().apply([a, b]);
    const c = layers.concatenate().apply([s, d1]);
    return model({ inputs: x, outputs: layers.dense({ units: 3, activation: 'softmax' }).apply(c), seed });
  }

  /** Float64 forward of the same graph; weights in getWeights() order. */
  function loss(w: Float64Array[], x: Float32Array, labels: Int32Array): number {
    const dense = (v: Float64Array, k: Float64Array, bias: Float64Array, relu: boolean) =>
      Float64Array.from(bias, (bo, o) => {
        let t = bo;
        for (let i = 0; i < v.length; i++) t += v[i]! * k[i * bias.length + o]!;
        return relu ? Math.max(t, 0) : t;
      });
    let total = 0;
    const n = labels.length;
    for (let r = 0; r < n; r++) {
      const xi = Float64Array.from(x.subarray(r * 6, r * 6 + 6));
      const d1 = dense(xi, w[0]!, w[1]!, true);
      const a = dense(d1, w[2]!, w[3]!, true);
      const b = dense(d1, w[4]!, w[5]!, false);
      const c = Float64Array.from([...a.map((v, i) => v + b[i]!), ...d1]);
      const logits = dense(c, w[6]!, w[7]!, false);
      const max = Math.max(...logits);
      const lse = Math.log(logits.reduce((t, v) => t + Math.exp(v - max), 0)) + max;
      total += (lse - logits[labels[r]!]!) / n;
    }
    return total;
  }

  it('computes gradients that match finite differences of a float64 reference', async () => {
    const n = 8;
    const random = new Random(11);
    const x = new Float32Array(n * 6).map(() => random.uniform(-1, 1));
    const labels = Int32Array.from({ length: n }, () => Math.floor(random.next() * 3));
    const m = build(21);
    // One plain SGD step with learning rate 1 leaves w − g: the difference is the gradient.
    m.compile({ optimizer: optimizers.sgd({ learningRate: 1 }), loss: 'sparseCategoricalCrossentropy', engine: engine() });
    const biased = (await m.getWeights()).map((w) => ({ shape: w.shape, values: w.values.map((v) => (w.name.endsWith('bias') ? random.uniform(0.05, 0.2) : v)) }));
    m.setWeights(biased);
    await m.fit(tensor(x, [n, 6]), tensor(labels, [n]), { epochs: 1, batchSize: n, shuffle: false, verbose: 0 });
    const after = await m.getWeights();
    const w0 = biased.map((b) => Float64Array.from(b.values));
    const flat = Float64Array.from(w0.flatMap((a) => [...a]));
    const unflatten = (f: Float64Array) => {
      let o = 0;
      return w0.map((a) => f.slice(o, (o += a.length)));
    };
    const fd = finiteDifferences((f) => loss(unflatten(f), x, labels), flat);
    const gpu = Float64Array.from(after.flatMap((a, k) => [...a.values].map((v, i) => biased[k]!.values[i]! - v)));
    expect(relL2(gpu, fd)).toBeLessThanOrEqual(1e-4);
  });

  it('trains: the loss falls', async () => {
    const n = 64;
    const random = new Random(12);
    const x = new Float32Array(n * 6).map(() => random.uniform(-1, 1));
    // A learnable rule: the class is which third of [-3, 3] the sum of the features falls in.
    const labels = Int32Array.from({ length: n }, (_, r) => {
      const s = x.subarray(r * 6, r * 6 + 6).reduce((a, b) => a + b, 0);
      return s < -1 ? 0 : s < 1 ? 1 : 2;
    });
    const m = build(22);
    m.compile({ optimizer: optimizers.adam({ learningRate: 0.02 }), loss: 'sparseCategoricalCrossentropy', metrics: 'accuracy', engine: engine() });
    const h = await m.fit(tensor(x, [n, 6]), tensor(labels, [n]), { epochs: 30, batchSize: 16, verbose: 0 });
    expect(h.loss[29]!).toBeLessThan(h.loss[0]! * 0.5);
    expect(h.accuracy[29]!).toBeGreaterThan(0.85);
  });
});

describe('on real MNIST', () => {
  it('a short run learns; fit, evaluate and predict agree', async () => {
    const mnist = await loadMnist();
    const N = 1024;
    const T = 500;
    const x = tensor(mnist.train.images.values.subarray(0, N * 784), [N, 28, 28, 1]);
    const y = tensor(mnist.train.labels.values.subarray(0, N), [N]);
    const tx = tensor(mnist.test.images.values.subarray(0, T * 784), [T, 28, 28, 1]);
    const ty = mnist.test.labels.values.subarray(0, T);
    const m = mnistCnn();
    m.compile({ optimizer: 'rmsprop', loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'], engine: engine() });
    const h = await m.fit(x, y, { epochs: 1, batchSize: 64, verbose: 0 });
    expect(h.loss).toHaveLength(1);
    // 500 = 3·128 + 116: evaluate's partial last batch runs through the batch-128 plan, rows counted right.
    const evaluation = await m.evaluate(tx, tensor(ty, [T]), { batchSize: 128 });
    // 16 steps from scratch reach ~73% here (chance is 10%): a model that does not learn fails.
    expect(evaluation.accuracy!).toBeGreaterThan(0.6);
    // The partial last batch (500 = 3·128 + 116) runs through the batch-128 plan: nothing compiles.
    await m.predict(tensor(tx.values.subarray(0, 128 * 784), [128, 28, 28, 1]), { batchSize: 128 });
    const compiled = engine().stats().pipelinesCompiled;
    const probs = await m.predict(tx, { batchSize: 128 });
    expect(engine().stats().pipelinesCompiled).toBe(compiled);
    expect(probs.shape).toEqual([T, 10]);
    let correct = 0;
    let lossSum = 0;
    for (let i = 0; i < T; i++) {
      const row = probs.values.subarray(i * 10, i * 10 + 10);
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      if (row.indexOf(Math.max(...row)) === ty[i]) correct++;
      lossSum -= Math.log(row[ty[i]!]!);
    }
    expect(correct / T).toBeCloseTo(evaluation.accuracy!, 6);
    expect(lossSum / T).toBeCloseTo(evaluation.loss, 4);
  }, 900_000); // ~20 training steps of the full CNN: minutes on a busy 2-core CPU adapter
});
