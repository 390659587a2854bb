/**
 * The tutorial recipe as the kit times it: the MNIST CNN compiled with RMSprop and sparse
 * crossentropy, fit for 5 epochs of 60,000 samples at batch 64 through one ordinary fit(), then
 * evaluated. The kit carries 10,000 training images, repeated to 60,000, so the figure is the
 * recipe's training time, not its accuracy. A short warm-up fit first compiles the pipelines and
 * tunes (the same plan), so the timed fit is training alone; the warm-up's time is reported too.
 */
import { createEngine, mnistCnn, Tensor } from '../../src/index.ts';
import type { Mnist } from '../../src/data/mnist.ts';

export const RECIPE = Object.freeze({ epochs: 5, samples: 60_000, batch: 64 });

export type RecipeReport =
  | {
      epochs: number;
      samples: number;
      batch: number;
      steps: number;
      /** Wall time of the timed fit(). */
      seconds: number;
      /** Wall time of the warm-up fit (pipelines compiled, tuning on first use). */
      warmupSeconds: number;
      /** Distinct training images behind the repeated 60,000. */
      uniqueImages: number;
      /** fit()'s last-epoch loss and accuracy, and the test split's accuracy: a check that it trained. */
      loss: number;
      accuracy: number;
      testAccuracy: number;
      testSamples: number;
    }
  | { error: string };

/** Runs the recipe (`recipe`: a smaller one for a smoke run) on `data`, its train split `recipe.samples` rows, with tuning `tune`. */
export async function runRecipe(
  data: Mnist,
  uniqueImages: number,
  tune: 'off' | 'first-use' | 'exhaustive',
  log: (line: string) => void,
  recipe: { epochs: number; samples: number; batch: number } = RECIPE,
): Promise<RecipeReport> {
  const engine = await createEngine({ tune, tuningStore: false });
  try {
    const model = mnistCnn({ seed: 1 });
    model.compile({ optimizer: 'rmsprop', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], engine });
    const { images, labels } = data.train;
    if (labels.shape[0] !== recipe.samples) throw new Error(`the recipe needs ${recipe.samples} training samples, got ${labels.shape[0]}`);
    let started = performance.now();
    // Two batches of the same size: the timed fit then reuses this plan and its pipelines.
    const warm = recipe.batch * 2;
    await model.fit(new Tensor(images.values.slice(0, warm * 784), [warm, 28, 28, 1]), new Tensor(labels.values.slice(0, warm), [warm]), { epochs: 1, batchSize: recipe.batch });
    const warmupSeconds = (performance.now() - started) / 1000;
    log(`recipe: warm-up fit ${warmupSeconds.toFixed(2)} s`);
    started = performance.now();
    const history = await model.fit(images, labels, { epochs: recipe.epochs, batchSize: recipe.batch, seed: 1, verbose: 0 });
    const seconds = (performance.now() - started) / 1000;
    const last = (name: string) => history.history[name]?.at(-1) ?? NaN;
    const test = await model.evaluate(data.test.images, data.test.labels, { batchSize: 256 });
    const report = {
      ...recipe,
      steps: recipe.epochs * Math.ceil(recipe.samples / recipe.batch),
      seconds,
      warmupSeconds,
      uniqueImages,
      loss: last('loss'),
      accuracy: last('accuracy'),
      testAccuracy: test.accuracy ?? NaN,
      testSamples: data.test.labels.shape[0]!,
    };
    log(`recipe: ${report.steps} steps in ${seconds.toFixed(2)} s, loss ${report.loss.toFixed(4)}, test accuracy ${(report.testAccuracy * 100).toFixed(2)}%`);
    model.dispose();
    return report;
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    log(`recipe: failed: ${error}`);
    return { error };
  } finally {
    engine.dispose();
  }
}
