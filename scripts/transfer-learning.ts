/**
 * Transfer learning in Node, Teachable Machine's recipe on MNIST: a base CNN trained on digits is
 * saved in the TF.js layers format, loaded back, frozen and cut at its features, and a new softmax
 * head learns a task the base never had as labels from a few examples per class.
 *
 *   npm run transfer -- [--base weights/mnist-cnn] [--fresh] [--task heldout|high] [--examples 10]
 *                       [--epochs 30] [--test-limit 1000] [--seed 1337]
 *
 * Without a saved base (or with --fresh) the script trains one here on the digits 0–4 only; the
 * task is then 'heldout': tell the digits 5–9 apart from --examples images of each. With the base
 * `npm start` saved (all ten digits), the task is 'high': is the digit ≥ 5, from --examples images
 * of each side.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createEngine, featureLayer, loadMnist, loadModel, mnistCnn, optimizers, setDefaultEngine, tensor, transferModel, type LayersModel, type Tensor } from '../src/index.ts';
import type { MnistSplit } from '../src/data/mnist.ts';

const USAGE = `usage: npm run transfer -- [--base weights/mnist-cnn] [--fresh] [--task heldout|high] [--examples 10]
       [--epochs 30] [--test-limit 1000] [--seed 1337]
  --base      a model saved by \`npm start\` (TF.js layers format); used when it exists, unless --fresh
  --fresh     train a base here on the digits 0–4 (a few seconds) instead of loading one
  --task      heldout: the digits 5–9 as five new classes (only with a base trained here, which never saw them);
              high: is the digit ≥ 5 (two classes); default: heldout for a base trained here, high otherwise
  --examples  training examples per class of the new task`;

const PIXELS = 28 * 28;
/** The base trained here sees the digits 0–4 among this many first training images (about half of them). */
const BASE_POOL = 4000;
const SAVED_BASE = 'weights/transfer-base';

interface Task {
  name: 'heldout' | 'high';
  classes: string[];
  /** The new task's class of a digit, or -1 when the digit is not part of the task. */
  label(digit: number): number;
}

const TASKS: Record<Task['name'], Task> = {
  heldout: { name: 'heldout', classes: ['5', '6', '7', '8', '9'], label: (d) => (d >= 5 ? d - 5 : -1) },
  high: { name: 'high', classes: ['< 5', '≥ 5'], label: (d) => (d >= 5 ? 1 : 0) },
};

function options() {
  const { values } = parseArgs({
    options: {
      base: { type: 'string', default: 'weights/mnist-cnn' },
      fresh: { type: 'boolean', default: false },
      task: { type: 'string' },
      examples: { type: 'string', default: '10' },
      epochs: { type: 'string', default: '30' },
      'test-limit': { type: 'string', default: '1000' },
      seed: { type: 'string', default: '1337' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const int = (name: 'examples' | 'epochs' | 'test-limit' | 'seed', min: number): number => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}, got '${values[name]}'\n${USAGE}`);
    return n;
  };
  const loadBase = !values.fresh && existsSync(path.join(values.base, 'model.json'));
  const task = values.task ?? (loadBase ? 'high' : 'heldout');
  if (task !== 'heldout' && task !== 'high') throw new Error(`--task must be heldout or high, got '${task}'\n${USAGE}`);
  if (task === 'heldout' && loadBase) {
    throw new Error(`--task heldout needs a base that never saw the digits 5–9, but ${values.base} was trained on all ten: add --fresh, or use --task high`);
  }
  return { base: values.base, loadBase, task: TASKS[task], examples: int('examples', 1), epochs: int('epochs', 1), testLimit: int('test-limit', 1), seed: int('seed', 0) };
}

/** The images of `split` whose label `keep` maps to a class (≥ 0), at most `perClass` of each class. */
function select(split: MnistSplit, keep: (digit: number) => number, limits: { perClass?: number; total?: number; pool?: number }): { x: Tensor; y: Tensor; count: number } {
  const n = Math.min(limits.pool ?? Infinity, split.labels.shape[0]!);
  const picked: number[] = [];
  const labels: number[] = [];
  const perClass = new Map<number, number>();
  for (let i = 0; i < n && picked.length < (limits.total ?? Infinity); i++) {
    const c = keep(split.labels.values[i]!);
    if (c < 0 || (perClass.get(c) ?? 0) >= (limits.perClass ?? Infinity)) continue;
    perClass.set(c, (perClass.get(c) ?? 0) + 1);
    picked.push(i);
    labels.push(c);
  }
  const images = new Uint8Array(picked.length * PIXELS);
  picked.forEach((i, k) => images.set(split.images.values.subarray(i * PIXELS, (i + 1) * PIXELS), k * PIXELS));
  return { x: tensor(images, [picked.length, 28, 28, 1]), y: tensor(Int32Array.from(labels), [picked.length]), count: picked.length };
}

const percent = (v: number | undefined) => `${((v ?? NaN) * 100).toFixed(1)}%`;
const seconds = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`;

async function main(): Promise<void> {
  const opts = options();
  const started = performance.now();
  const engine = await createEngine();
  setDefaultEngine(engine);
  console.log(`WebGPU adapter: ${engine.adapterDescription} (kernels: ${engine.kernelStyle})`);
  const mnist = await loadMnist();
  const task = opts.task;

  // 1. The base: loaded from `npm start`'s save, or trained here on the digits 0–4 and saved.
  let source = `file://${opts.base}`;
  if (opts.loadBase) {
    console.log(`Base: ${opts.base} (saved by \`npm start\`, trained on all ten digits)`);
  } else {
    const t = performance.now();
    const base = mnistCnn({ seed: opts.seed });
    const digits = select(mnist.train, (d) => (d < 5 ? d : -1), { pool: BASE_POOL });
    base.compile({ optimizer: 'rmsprop', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    await base.fit(digits.x, digits.y, { epochs: 1, batchSize: 64, seed: opts.seed, verbose: 0 });
    const test = select(mnist.test, (d) => (d < 5 ? d : -1), { total: opts.testLimit });
    const score = await base.evaluate(test.x, test.y, { batchSize: 256 });
    console.log(`Base: the tutorial CNN trained here on ${digits.count} images of the digits 0–4 only (1 epoch, ${seconds(t)}): ${percent(score.accuracy)} on ${test.count} test images of 0–4`);
    source = `file://${SAVED_BASE}`;
    await base.save(source);
    console.log(`Saved it (TF.js layers format) to ${SAVED_BASE}/model.json`);
    base.dispose();
  }

  // 2. Load it back, freeze it, cut it at its features and put a new head on.
  const base: LayersModel = await loadModel(source);
  const features = featureLayer(base);
  const transfer = transferModel(base, { classes: task.classes.length, seed: opts.seed });
  console.log(`Loaded ${source}; frozen, cut at '${features.name}' (${features.output.shape.join('×')} features), new head Dense(${task.classes.length}, softmax):`);
  transfer.summary({ print: true });

  // 3. The new task: a few examples per class for training, the test set's images for scoring.
  const train = select(mnist.train, task.label, { perClass: opts.examples });
  const test = select(mnist.test, task.label, { total: opts.testLimit });
  const description = task.name === 'heldout' ? 'the digits 5–9, which the base never saw' : 'is the digit ≥ 5';
  console.log(`\nNew task: ${description}; classes ${task.classes.map((c) => `'${c}'`).join(', ')}; ${train.count} training examples (${opts.examples} per class), ${test.count} test images`);

  transfer.compile({ optimizer: optimizers.adam({ learningRate: 0.003 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const frozenBefore = (await base.getWeights())[0]!;
  const before = await transfer.evaluate(test.x, test.y, { batchSize: 256 });
  console.log(`Before training the head: test accuracy ${percent(before.accuracy)} (chance: ${percent(1 / task.classes.length)}), loss ${before.loss.toFixed(4)}`);
  const t = performance.now();
  const history = await transfer.fit(train.x, train.y, { epochs: opts.epochs, batchSize: 16, seed: opts.seed, verbose: 0 });
  const last = history.history.accuracy?.at(-1);
  const after = await transfer.evaluate(test.x, test.y, { batchSize: 256 });
  console.log(`Trained the head: ${opts.epochs} epochs over ${train.count} examples in ${seconds(t)} (training accuracy ${percent(last)})`);
  console.log(`After training the head:  test accuracy ${percent(after.accuracy)}, loss ${after.loss.toFixed(4)}`);
  const frozenAfter = (await base.getWeights())[0]!;
  const unchanged = frozenAfter.values.every((v, i) => v === frozenBefore.values[i]);
  console.log(`The frozen base's weights (e.g. ${frozenAfter.name}) ${unchanged ? 'are unchanged' : 'CHANGED'}; done in ${seconds(started)}`);
  transfer.dispose();
  base.dispose();
  engine.dispose();
  if (!unchanged) process.exit(1);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? `error: ${err.message}` : err);
  process.exit(1);
});
