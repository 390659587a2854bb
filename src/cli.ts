/**
 * The Keras MNIST CNN tutorial, end to end, in Node on WebGPU (Dawn), or another model of the
 * catalog (src/models/catalog.ts) trained the same way:
 *   npm start -- [--model cnn|residual|mobilenet|mlp] [--epochs 5] [--batch-size 64] [--train-limit N]
 *                [--test-limit N] [--labels sparse|onehot] [--optimizer rmsprop|adam|sgd]
 *                [--api sequential|functional] [--seed 1337] [--save weights/mnist-<model>] [--show 6]
 * or an example other than MNIST: `npm start -- --example charlm --help` (src/examples/).
 */
import { parseArgs } from 'node:util';
import { createEngine, loadMnist, mnistCnn, mnistModelInfo, MNIST_MODEL_NAMES, setDefaultEngine, tensor, toCategorical, type LayersModel, type ModelApi, type Tensor } from './index.ts';

const USAGE = `usage: npm start -- [--model cnn|residual|mobilenet|mlp] [--epochs 5] [--batch-size 64]
       [--train-limit N] [--test-limit N] [--labels sparse|onehot] [--optimizer rmsprop|adam|sgd]
       [--api sequential|functional] [--seed 1337] [--save DIR] [--show 6]
  --model  cnn (default): the Keras tutorial's CNN; residual: a residual CNN with batch normalization;
           mobilenet: a MobileNet-style CNN (depthwise-separable blocks); mlp: a multilayer perceptron
  --api    how the model is defined: the tutorial CNN both ways (default sequential), the others one way
  --save   where to save the trained model (TF.js layers format); default weights/mnist-<model>, '' not at all
   or: npm start -- --example charlm [--help]: a character-level language model (src/examples/charlm.ts)`;

/** The example `--example NAME` asks for, if any (its own flags are parsed by the example). */
function exampleName(): string | undefined {
  const { values } = parseArgs({ options: { example: { type: 'string' } }, strict: false });
  const name = values.example;
  if (name !== undefined && name !== 'charlm') throw new Error(`--example must be charlm, got '${String(name)}'\n${USAGE}`);
  return name;
}

function options() {
  const { values } = parseArgs({
    options: {
      epochs: { type: 'string', default: '5' },
      'batch-size': { type: 'string', default: '64' },
      'train-limit': { type: 'string' },
      'test-limit': { type: 'string' },
      labels: { type: 'string', default: 'sparse' },
      optimizer: { type: 'string', default: 'rmsprop' },
      model: { type: 'string', default: 'cnn' },
      api: { type: 'string' },
      seed: { type: 'string', default: '1337' },
      save: { type: 'string' },
      show: { type: 'string', default: '6' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const int = (name: keyof typeof values, min: number): number | undefined => {
    const raw = values[name];
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}, got '${raw}'\n${USAGE}`);
    return n;
  };
  const choice = <T extends string>(name: keyof typeof values, allowed: readonly T[]): T => {
    const v = values[name] as T;
    if (!allowed.includes(v)) throw new Error(`--${name} must be one of ${allowed.join(', ')}, got '${v}'\n${USAGE}`);
    return v;
  };
  const model = choice('model', MNIST_MODEL_NAMES);
  const apis = mnistModelInfo(model).apis;
  const api = (values.api ?? apis[0]) as ModelApi;
  if (!apis.includes(api)) {
    throw new Error(`--api must be ${apis.length > 1 ? `one of ${apis.join(', ')}` : `${apis[0]} for --model ${model} (it is built only that way)`}, got '${values.api}'\n${USAGE}`);
  }
  return {
    model,
    epochs: int('epochs', 0)!,
    batchSize: int('batch-size', 1)!,
    trainLimit: int('train-limit', 1),
    testLimit: int('test-limit', 1),
    labels: choice('labels', ['sparse', 'onehot'] as const),
    optimizer: choice('optimizer', ['rmsprop', 'adam', 'sgd'] as const),
    api,
    seed: int('seed', 0)!,
    save: values.save ?? `weights/mnist-${model}`,
    show: int('show', 0)!,
  };
}

/** 28×28 pixels as 14 text rows: each character shows two pixel rows with half blocks. */
export function digitAsText(pixels: ArrayLike<number>, threshold = 96): string[] {
  const rows: string[] = [];
  for (let y = 0; y < 28; y += 2) {
    let line = '';
    for (let x = 0; x < 28; x++) {
      const top = pixels[y * 28 + x]! >= threshold;
      const bottom = pixels[(y + 1) * 28 + x]! >= threshold;
      line += top && bottom ? '█' : top ? '▀' : bottom ? '▄' : ' ';
    }
    rows.push(line);
  }
  return rows;
}

function first(t: Tensor, n: number | undefined): Tensor {
  const count = Math.min(n ?? t.shape[0]!, t.shape[0]!);
  const row = t.values.length / t.shape[0]!;
  return tensor(t.values.subarray(0, count * row), [count, ...t.shape.slice(1)]);
}

async function main(): Promise<void> {
  if (exampleName() === 'charlm') {
    const { charLmExample } = await import('./examples/charlm.ts');
    return charLmExample(process.argv.slice(2));
  }
  const opts = options();
  const engine = await createEngine();
  setDefaultEngine(engine);
  console.log(`WebGPU adapter: ${engine.adapterDescription} (kernels: ${engine.kernelStyle})`);

  const mnist = await loadMnist();
  const x = first(mnist.train.images, opts.trainLimit);
  const testX = first(mnist.test.images, opts.testLimit);
  const sparseY = first(mnist.train.labels, opts.trainLimit);
  const testLabels = first(mnist.test.labels, opts.testLimit);
  const onehot = opts.labels === 'onehot';
  const y = onehot ? toCategorical(sparseY, 10) : sparseY;
  const testY = onehot ? toCategorical(testLabels, 10) : testLabels;
  console.log(`MNIST: ${x.shape[0]} training and ${testX.shape[0]} test images, ${onehot ? 'one-hot' : 'integer'} labels\n`);

  let m: LayersModel;
  if (opts.model === 'cnn') {
    // The tutorial shows its model defined both ways, then trains the one --api names.
    const seqModel = mnistCnn({ api: 'sequential', seed: opts.seed });
    const fnModel = mnistCnn({ api: 'functional', seed: opts.seed });
    seqModel.summary({ print: true });
    console.log();
    fnModel.summary({ print: true });
    console.log();
    m = opts.api === 'sequential' ? seqModel : fnModel;
    (opts.api === 'sequential' ? fnModel : seqModel).dispose();
  } else {
    const info = mnistModelInfo(opts.model);
    console.log(`${info.title}: ${info.description}\n`);
    m = info.build({ seed: opts.seed, api: opts.api });
    m.summary({ print: true });
    console.log();
  }

  m.compile({ optimizer: opts.optimizer, loss: onehot ? 'categorical_crossentropy' : 'sparse_categorical_crossentropy', metrics: ['accuracy'] });
  const started = performance.now();
  await m.fit(x, y, { epochs: opts.epochs, batchSize: opts.batchSize, seed: opts.seed, verbose: 1 });
  const trainSeconds = (performance.now() - started) / 1000;
  const samples = opts.epochs * x.shape[0]!;
  console.log(`\nTrained ${samples} samples in ${trainSeconds.toFixed(1)} s: ${(samples / trainSeconds).toFixed(1)} samples/s`);

  const evalStart = performance.now();
  const result = await m.evaluate(testX, testY, { batchSize: 256 });
  console.log(`Test loss: ${result.loss.toFixed(4)} - test accuracy: ${(result.accuracy! * 100).toFixed(2)}% (${((performance.now() - evalStart) / 1000).toFixed(1)} s)`);

  const probs = await m.predict(testX, { batchSize: 256 });
  const wrong: { index: number; predicted: number; confidence: number }[] = [];
  for (let i = 0; i < probs.shape[0]!; i++) {
    const row = probs.values.subarray(i * 10, i * 10 + 10);
    const predicted = row.indexOf(Math.max(...row));
    if (predicted !== testLabels.values[i]) wrong.push({ index: i, predicted, confidence: row[predicted]! });
  }
  console.log(`\n${wrong.length} of ${probs.shape[0]} test images are misclassified. The first ${Math.min(opts.show, wrong.length)}:`);
  for (let k = 0; k < Math.min(opts.show, wrong.length); k += 3) {
    const group = wrong.slice(k, Math.min(k + 3, opts.show));
    const pictures = group.map((w) => digitAsText(testX.values.subarray(w.index * 784, w.index * 784 + 784)));
    console.log(group.map((w) => `#${w.index}: predicted ${w.predicted} (p=${w.confidence.toFixed(2)}), true ${testLabels.values[w.index]}`.padEnd(30)).join('  '));
    for (let r = 0; r < 14; r++) console.log(pictures.map((p) => `│${p[r]}│`).join('  '));
  }

  if (opts.save) {
    await m.save(`file://${opts.save}`);
    console.log(`\nSaved the model (TensorFlow.js layers format) to ${opts.save}/model.json`);
  }
  m.dispose();
  engine.dispose();
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? `error: ${err.message}` : err);
  process.exit(1);
});
