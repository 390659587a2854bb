/**
 * Training callbacks driven the way fit() drives a CallbackList, with a fake model and synthetic
 * logs whose outcome under Keras's rules is worked out by hand in each case: early stopping
 * (patience, minDelta, modes, baseline, startFromEpoch, restoring the best weights),
 * reduceLROnPlateau (cooldown, minLr), checkpoints (best only, placeholders, weights only, by
 * batches) saved through real models to handlers and file:// directories, the scheduler, the CSV
 * and JSON loggers' bytes, Python's number formatting, and every bad argument.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Callback, CallbackList, callbacks, CustomCallback, EarlyStopping, layers, loadModel, sequential, type CallbackModel, type LayersModel, type Logs, type ModelArtifacts, type NamedWeight, type SaveTarget } from '../src/index.ts';
import { formatPlaceholders, formatSpec, pyFloat } from '../src/callbacks/format.ts';
import { writeArtifacts } from '../src/io/write.ts';
import type { SaveOptions } from '../src/io/artifacts.ts';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'webgpu-train-callbacks-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** A model as callbacks see it: one weight whose value the driver sets to the epoch number. */
class FakeModel implements CallbackModel {
  stopTraining = false;
  readonly name = 'fake';
  optimizer: { learningRate: number } | undefined = { learningRate: 0.1 };
  weights: NamedWeight[] = [{ name: 'w', shape: [2], values: Float32Array.of(-1, -1) }];
  setCalls = 0;
  saves: { target: SaveTarget; options: SaveOptions | undefined }[] = [];
  async getWeights(): Promise<NamedWeight[]> {
    return this.weights.map((w) => ({ ...w, values: w.values.slice() }));
  }
  setWeights(weights: NamedWeight[]): void {
    this.setCalls++;
    this.weights = weights.map((w) => ({ ...w, values: w.values.slice() }));
  }
  async save(target: SaveTarget, options?: SaveOptions): Promise<unknown> {
    this.saves.push({ target, options });
    return writeArtifacts(target, fakeArtifacts(this, options));
  }
}

function fakeArtifacts(m: FakeModel, options?: SaveOptions): ModelArtifacts {
  const w = m.weights[0]!;
  const specs: ModelArtifacts['weightSpecs'] = [{ name: w.name, shape: w.shape, dtype: 'float32' }];
  if (options?.includeOptimizer) specs.push({ name: 'iter', shape: [], dtype: 'int32', group: 'optimizer' });
  return {
    modelTopology: { class_name: 'Sequential', config: { name: 'fake', layers: [] }, keras_version: 'test', backend: 'webgpu' },
    weightSpecs: specs,
    weightData: new Float32Array(options?.includeOptimizer ? [...w.values, 0] : w.values).buffer,
    format: 'layers-model',
    generatedBy: 'test',
    convertedBy: null,
    trainingConfig: { loss: 'mse', metrics: [], optimizer_config: { class_name: 'SGD', config: { learning_rate: 0.1 } } },
  };
}

/**
 * Runs epochs as fit() does: stopTraining is checked before each epoch and after each batch,
 * the model's weights become the epoch number during the epoch, History is recorded after
 * epochEnd (which may add `lr`). Returns the logs of the epochs that ran.
 */
async function drive(cbs: unknown, model: FakeModel, perEpoch: Partial<Logs>[], batches = 0): Promise<Logs[]> {
  const list = CallbackList.from(cbs, model);
  const history: Logs[] = [];
  model.stopTraining = false;
  await list.trainBegin();
  for (let epoch = 0; epoch < perEpoch.length && !model.stopTraining; epoch++) {
    await list.epochBegin(epoch);
    model.weights = [{ name: 'w', shape: [2], values: Float32Array.of(epoch, epoch) }];
    for (let b = 0; b < batches; b++) {
      await list.batchBegin(b);
      await list.batchEnd(b, { loss: 1, size: 4 });
      if (model.stopTraining) break;
    }
    const logs = { ...perEpoch[epoch] } as Logs;
    await list.epochEnd(epoch, logs);
    history.push(logs);
  }
  await list.trainEnd(history.at(-1));
  return history;
}

const series = (key: string, values: number[]) => values.map((v) => ({ [key]: v }) as Partial<Logs>);

describe('CallbackList', () => {
  it('takes undefined, a Callback, a hooks object, or an array of them, in order', async () => {
    const calls: string[] = [];
    class Recorder extends Callback {
      override onEpochEnd(epoch: number) {
        calls.push(`recorder ${epoch}`);
      }
    }
    const hooks = { onEpochEnd: async (epoch: number) => void calls.push(`hooks ${epoch}`), onTrainEnd: () => void calls.push('end') };
    const m = new FakeModel();
    await drive([new Recorder(), hooks], m, series('loss', [1, 1]));
    expect(calls).toEqual(['recorder 0', 'hooks 0', 'recorder 1', 'hooks 1', 'end']);
    calls.length = 0;
    await drive(hooks, m, series('loss', [1]));
    expect(calls).toEqual(['hooks 0', 'end']);
    expect(CallbackList.from(undefined, m).callbacks).toHaveLength(0);
    const single = new Recorder();
    expect(CallbackList.from(single, m).callbacks).toEqual([single]);
    expect(single.model).toBe(m);
  });

  it('reports whether anyone wants batch logs', () => {
    const m = new FakeModel();
    class PerBatch extends Callback {
      override onBatchEnd() {}
    }
    expect(CallbackList.from([callbacks.earlyStopping(), { onEpochEnd() {} }], m).wantsBatchLogs).toBe(false);
    expect(CallbackList.from({ onBatchEnd() {} }, m).wantsBatchLogs).toBe(true);
    expect(CallbackList.from([new PerBatch()], m).wantsBatchLogs).toBe(true);
    expect(CallbackList.from(callbacks.modelCheckpoint({ save() {} }), m).wantsBatchLogs).toBe(false);
    expect(CallbackList.from(callbacks.modelCheckpoint({ save() {} }, { saveFreq: 3 }), m).wantsBatchLogs).toBe(true);
  });

  it('rejects what is not a callback, naming what came', () => {
    const m = new FakeModel();
    expect(() => CallbackList.from(42, m)).toThrow(/callbacks must be a Callback .*got number 42/);
    expect(() => CallbackList.from([callbacks.earlyStopping(), 'x'], m)).toThrow(/callbacks\[1\] must be .*got string x/);
    expect(() => CallbackList.from({ onEpochEnd: 3 }, m)).toThrow(/callbacks\.onEpochEnd must be a function, got number 3/);
    expect(() => CallbackList.from({ onEpochEnd() {}, onYield() {} }, m)).toThrow(/unknown key 'onYield'/);
    expect(() => CallbackList.from(new Map(), m)).toThrow(/got Map, which has none of these hooks/);
    expect(() => new CustomCallback({ onEpochEnd: 'no' } as never)).toThrow(/CustomCallback\.onEpochEnd must be a function/);
  });

  it('a throwing callback fails with its name, the hook and the cause', async () => {
    class Exploding extends Callback {
      override async onEpochEnd() {
        throw new TypeError('boom');
      }
    }
    const err = await drive([callbacks.earlyStopping({ monitor: 'loss' }), new Exploding()], new FakeModel(), series('loss', [1])).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe('callback Exploding (callbacks[1]) failed in onEpochEnd(0): boom');
    expect((err as Error).cause).toBeInstanceOf(TypeError);
    const err2 = await drive({ onTrainBegin: () => Promise.reject(new Error('no disk')) }, new FakeModel(), []).catch((e: Error) => e);
    expect((err2 as Error).message).toBe('callback CustomCallback failed in onTrainBegin: no disk');
  });

  it('a LayersModel is a CallbackModel', () => {
    const m: LayersModel = sequential([layers.dense({ units: 2, inputShape: [3] })]);
    const asCallbackModel: CallbackModel = m;
    expect(asCallbackModel.stopTraining).toBe(false);
  });
});

describe('earlyStopping', () => {
  it('stops after `patience` epochs without improvement (Keras: epoch 3 of [1, .9, .95, .96, .97] with patience 2)', async () => {
    const es = callbacks.earlyStopping({ monitor: 'val_loss', patience: 2 });
    const ran = await drive(es, new FakeModel(), series('val_loss', [1, 0.9, 0.95, 0.96, 0.97]));
    expect(ran).toHaveLength(4);
    expect(es.stoppedEpoch).toBe(3);
    expect(es.best).toBe(0.9);
    // patience 0: the first epoch that does not improve stops (never epoch 0).
    expect(await drive(callbacks.earlyStopping({ monitor: 'loss' }), new FakeModel(), series('loss', [1, 0.5, 0.6, 0.4]))).toHaveLength(3);
  });

  it('minDelta: a smaller change is no improvement', async () => {
    const values = series('loss', [1, 0.96, 0.9, 0.85]);
    expect(await drive(callbacks.earlyStopping({ monitor: 'loss', minDelta: 0.05 }), new FakeModel(), values)).toHaveLength(2);
    expect(await drive(callbacks.earlyStopping({ monitor: 'loss', minDelta: -0.05 }), new FakeModel(), values)).toHaveLength(2); // its sign is ignored
    expect(await drive(callbacks.earlyStopping({ monitor: 'loss' }), new FakeModel(), values)).toHaveLength(4);
  });

  it("modes: 'auto' maximizes accuracy-like monitors and minimizes the rest; 'min' and 'max' as told", async () => {
    const acc = series('val_accuracy', [0.5, 0.6, 0.55, 0.7]);
    expect(await drive(callbacks.earlyStopping({ monitor: 'val_accuracy' }), new FakeModel(), acc)).toHaveLength(3);
    expect(await drive(callbacks.earlyStopping({ monitor: 'val_accuracy', mode: 'min' }), new FakeModel(), acc)).toHaveLength(2);
    const score = series('score', [1, 2, 3, 2]);
    expect(await drive(callbacks.earlyStopping({ monitor: 'score' }), new FakeModel(), score)).toHaveLength(2);
    expect(await drive(callbacks.earlyStopping({ monitor: 'score', mode: 'max' }), new FakeModel(), score)).toHaveLength(4);
    for (const monitor of ['acc', 'val_precision', 'recall', 'categoricalAccuracy']) expect(new EarlyStopping({ monitor })['upward']).toBe(true);
    for (const monitor of ['val_loss', 'mse', 'val_categoricalCrossentropy']) expect(new EarlyStopping({ monitor })['upward']).toBe(false);
  });

  it('baseline: improvements that do not beat it keep counting towards patience', async () => {
    const values = series('loss', [0.9, 0.8, 0.85, 0.84]);
    expect(await drive(callbacks.earlyStopping({ monitor: 'loss', patience: 2, baseline: 0.5 }), new FakeModel(), values)).toHaveLength(3);
    expect(await drive(callbacks.earlyStopping({ monitor: 'loss', patience: 2 }), new FakeModel(), values)).toHaveLength(4);
    expect(await drive(callbacks.earlyStopping({ monitor: 'loss', patience: 2, baseline: 0.95 }), new FakeModel(), values)).toHaveLength(4);
  });

  it('startFromEpoch: epochs before it are not monitored', async () => {
    const values = series('loss', [1, 2, 3, 4]);
    const es = callbacks.earlyStopping({ monitor: 'loss', startFromEpoch: 2 });
    expect(await drive(es, new FakeModel(), values)).toHaveLength(4);
    expect(es.best).toBe(3);
    expect(es.stoppedEpoch).toBe(3);
  });

  it('restoreBestWeights: the best epoch\'s weights come back, whether patience stopped training or the epochs ran out', async () => {
    const m = new FakeModel();
    const es = callbacks.earlyStopping({ patience: 2, restoreBestWeights: true });
    expect(await drive(es, m, series('val_loss', [1, 0.5, 0.7, 0.8, 0.1]))).toHaveLength(4);
    expect(Array.from(m.weights[0]!.values)).toEqual([1, 1]);
    expect(es.bestEpoch).toBe(1);
    // Reused: state resets; no stop, the best (epoch 2) restored at the end.
    expect(await drive(es, m, series('val_loss', [0.9, 0.8, 0.3, 0.6]))).toHaveLength(4);
    expect(Array.from(m.weights[0]!.values)).toEqual([2, 2]);
    expect(m.setCalls).toBe(2);
    // Without the option nothing is restored.
    const plain = new FakeModel();
    await drive(callbacks.earlyStopping({ patience: 2 }), plain, series('val_loss', [1, 0.5, 0.7, 0.8]));
    expect(Array.from(plain.weights[0]!.values)).toEqual([3, 3]);
    expect(plain.setCalls).toBe(0);
  });

  it('a monitor missing from the logs warns once and never stops training', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    expect(await drive(callbacks.earlyStopping(), new FakeModel(), series('loss', [1, 2, 3, 4]))).toHaveLength(4);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toMatch(/'val_loss', which is not available\. Available metrics are: loss/);
  });

  it('bad options are Errors naming the field', () => {
    expect(() => callbacks.earlyStopping({ patience: -1 })).toThrow(/earlyStopping\(\): patience must be an integer ≥ 0, got number -1/);
    expect(() => callbacks.earlyStopping({ mode: 'up' as never })).toThrow(/mode must be 'auto', 'min' or 'max', got string up/);
    expect(() => callbacks.earlyStopping({ monitor: 3 as never })).toThrow(/monitor must be a non-empty string/);
    expect(() => callbacks.earlyStopping({ minDelta: NaN })).toThrow(/minDelta must be a finite number, got number NaN/);
    expect(() => callbacks.earlyStopping({ patience: 1, wait: 2 } as never)).toThrow(/unknown option 'wait'/);
    expect(() => callbacks.earlyStopping({ restoreBestWeights: 1 as never })).toThrow(/restoreBestWeights must be true or false/);
  });
});

describe('reduceLROnPlateau', () => {
  const flat = series('val_loss', [1, 1, 1, 1, 1, 1]);

  it('multiplies the rate by factor after `patience` flat epochs; logs `lr` as trained', async () => {
    const m = new FakeModel();
    const ran = await drive(callbacks.reduceLROnPlateau({ factor: 0.5, patience: 2 }), m, flat);
    expect(ran.map((l) => l.lr)).toEqual([0.1, 0.1, 0.1, 0.05, 0.05, 0.025]);
    expect(m.optimizer!.learningRate).toBe(0.025);
  });

  it('cooldown: after a reduction, `cooldown` epochs are not counted', async () => {
    const lrs = async (cooldown: number) => (await drive(callbacks.reduceLROnPlateau({ factor: 0.5, patience: 1, cooldown }), new FakeModel(), [...flat, { val_loss: 1 }])).map((l) => l.lr);
    expect(await lrs(0)).toEqual([0.1, 0.1, 0.05, 0.025, 0.0125, 0.00625, 0.003125]);
    expect(await lrs(2)).toEqual([0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125]);
  });

  it('minLr bounds it; minDelta decides what is an improvement; accuracy is maximized', async () => {
    const m = new FakeModel();
    await drive(callbacks.reduceLROnPlateau({ factor: 0.1, patience: 0, minLr: 0.005 }), m, flat);
    expect(m.optimizer!.learningRate).toBe(0.005);
    const small = new FakeModel();
    await drive(callbacks.reduceLROnPlateau({ patience: 1, monitor: 'loss' }), small, series('loss', [1, 0.99995, 0.5]));
    expect(small.optimizer!.learningRate).toBeCloseTo(0.01, 12);
    const noDelta = new FakeModel();
    await drive(callbacks.reduceLROnPlateau({ patience: 1, monitor: 'loss', minDelta: 0 }), noDelta, series('loss', [1, 0.99995, 0.5]));
    expect(noDelta.optimizer!.learningRate).toBe(0.1);
    const acc = new FakeModel();
    await drive(callbacks.reduceLROnPlateau({ patience: 1, monitor: 'accuracy' }), acc, series('accuracy', [0.5, 0.6, 0.7]));
    expect(acc.optimizer!.learningRate).toBe(0.1);
  });

  it('errors: factor outside (0, 1), no optimizer', async () => {
    expect(() => callbacks.reduceLROnPlateau({ factor: 1 })).toThrow(/factor must be a number in \(0, 1\).*got number 1/);
    const m = new FakeModel();
    m.optimizer = undefined;
    await expect(drive(callbacks.reduceLROnPlateau(), m, flat)).rejects.toThrow(/ReduceLROnPlateau failed in onEpochEnd\(0\): reduceLROnPlateau\(\): the model fake has no optimizer; compile it first/);
  });
});

describe('learningRateScheduler', () => {
  it('sets schedule(epoch, lr) before each epoch and logs it', async () => {
    const m = new FakeModel();
    const seen: [number, number][] = [];
    const ran = await drive(
      callbacks.learningRateScheduler((epoch, lr) => {
        seen.push([epoch, lr]);
        return epoch < 2 ? lr : lr * 0.5;
      }),
      m,
      series('loss', [1, 1, 1, 1]),
    );
    expect(seen).toEqual([[0, 0.1], [1, 0.1], [2, 0.1], [3, 0.05]]);
    expect(ran.map((l) => l.lr)).toEqual([0.1, 0.1, 0.05, 0.025]);
  });

  it('errors: not a function, a bad rate', async () => {
    expect(() => callbacks.learningRateScheduler(0.1 as never)).toThrow(/schedule must be a function \(epoch, lr\) => newLr, got number 0.1/);
    await expect(drive(callbacks.learningRateScheduler(() => -1), new FakeModel(), series('loss', [1]))).rejects.toThrow(/LearningRateScheduler failed in onEpochBegin\(0\): .*finite number > 0, got number -1 for epoch 0/);
  });
});

describe('modelCheckpoint', () => {
  it('saveBestOnly saves to a handler only when the monitor improves', async () => {
    const saved: ModelArtifacts[] = [];
    const handler = { save: (a: ModelArtifacts) => void saved.push(a) };
    const m = new FakeModel();
    const ckpt = callbacks.modelCheckpoint(handler, { saveBestOnly: true });
    await drive(ckpt, m, series('val_loss', [1, 0.8, 0.9, 0.7]));
    expect(saved.map((a) => new Float32Array(a.weightData)[0])).toEqual([0, 1, 3]);
    expect(ckpt.best).toBe(0.7);
    // A full checkpoint carries the optimizer's state.
    expect(m.saves.every((s) => s.options?.includeOptimizer === true)).toBe(true);
    const maxed: ModelArtifacts[] = [];
    await drive(callbacks.modelCheckpoint({ save: (a: ModelArtifacts) => void maxed.push(a) }, { saveBestOnly: true, mode: 'max' }), new FakeModel(), series('val_loss', [1, 0.8, 0.9, 0.7]));
    expect(maxed).toHaveLength(1);
    const threshold: ModelArtifacts[] = [];
    await drive(callbacks.modelCheckpoint({ save: (a: ModelArtifacts) => void threshold.push(a) }, { saveBestOnly: true, initialValueThreshold: 0.85 }), new FakeModel(), series('val_loss', [1, 0.8, 0.9, 0.7]));
    expect(threshold).toHaveLength(2);
  });

  it('every epoch (or every n batches) without saveBestOnly', async () => {
    const epochs: unknown[] = [];
    await drive(callbacks.modelCheckpoint({ save: (a: unknown) => void epochs.push(a) }), new FakeModel(), series('loss', [1, 2, 3]));
    expect(epochs).toHaveLength(3);
    const targets: string[] = [];
    const ckpt = callbacks.modelCheckpoint('indexeddb://m-{epoch}-{batch}', { saveFreq: 3 });
    const m = new FakeModel();
    m.save = async (target) => void targets.push(target as string);
    await drive(ckpt, m, series('loss', [1, 1]), 5);
    // Ten batches, counted across epochs: saves after the 3rd, 6th and 9th.
    expect(targets).toEqual(['indexeddb://m-1-3', 'indexeddb://m-2-1', 'indexeddb://m-2-4']);
  });

  it('file:// paths with placeholders, from a real model; loadModel reads them back; saveWeightsOnly leaves the training config out', async () => {
    const m = sequential([layers.dense({ units: 3, inputShape: [4], activation: 'relu' }), layers.dense({ units: 2 })]);
    m.compile({ optimizer: 'adam', loss: 'meanSquaredError' });
    const full = callbacks.modelCheckpoint(`file://${dir}/full/w.{epoch:02d}-{val_loss:.2f}`);
    const weightsOnly = callbacks.modelCheckpoint(`file://${dir}/weights/w.{epoch:03d}`, { saveWeightsOnly: true, saveBestOnly: true, monitor: 'loss' });
    const list = CallbackList.from([full, weightsOnly], m);
    await list.trainBegin();
    for (const [epoch, logs] of [{ loss: 0.5, val_loss: 0.75 }, { loss: 0.6, val_loss: 0.123 }].entries()) {
      await list.epochBegin(epoch);
      await list.epochEnd(epoch, logs);
    }
    await list.trainEnd();
    expect((await readdir(path.join(dir, 'full'))).sort()).toEqual(['w.01-0.75', 'w.02-0.12']);
    expect(await readdir(path.join(dir, 'weights'))).toEqual(['w.001']);
    const fullJson = JSON.parse(await readFile(path.join(dir, 'full/w.02-0.12/model.json'), 'utf8'));
    expect(fullJson.trainingConfig.loss).toBe('mean_squared_error');
    expect(fullJson.weightsManifest[0].weights.some((w: { group?: string }) => w.group === 'optimizer')).toBe(true);
    const weightsJson = JSON.parse(await readFile(path.join(dir, 'weights/w.001/model.json'), 'utf8'));
    expect(weightsJson.trainingConfig).toBeUndefined();
    expect(weightsJson.weightsManifest[0].weights.map((w: { name: string }) => w.name)).toEqual((await m.getWeights()).map((w) => w.name));
    const loaded = await loadModel(`file://${dir}/weights/w.001`);
    const [a, b] = [await loaded.getWeights(), await m.getWeights()];
    expect(a.map((w) => Array.from(w.values))).toEqual(b.map((w) => Array.from(w.values)));
    expect(loaded.optimizer).toBeUndefined();
  });

  it('errors: a missing placeholder key, a bad target or saveFreq', async () => {
    await expect(drive(callbacks.modelCheckpoint('indexeddb://m-{val_acc:.2f}'), new FakeModel(), series('loss', [1]))).rejects.toThrow(
      /ModelCheckpoint failed in onEpochEnd\(0\): modelCheckpoint\(\): cannot fill '\{val_acc:.2f\}' in 'indexeddb:\/\/m-\{val_acc:.2f\}': no 'val_acc' in the logs; there are loss, epoch/,
    );
    expect(() => callbacks.modelCheckpoint(42 as never)).toThrow(/target must be a save target: .* got number 42/);
    expect(() => callbacks.modelCheckpoint('file://x', { saveFreq: 0 })).toThrow(/saveFreq \(when not 'epoch'\) must be an integer ≥ 1, got number 0/);
    expect(() => callbacks.modelCheckpoint('file://x', { saveBest: true } as never)).toThrow(/unknown option 'saveBest'/);
  });
});

describe('Python formatting', () => {
  it('format specs as str.format writes them', () => {
    const cases: [number | string, string, string][] = [
      [3, '02d', '03'],
      [12, '02d', '12'],
      [0.12345, '.2f', '0.12'],
      [0.000123456, '.3e', '1.235e-04'],
      [123456789, 'g', '1.23457e+08'],
      [0.0001, 'g', '0.0001'],
      [0.00001, 'g', '1e-05'],
      [2.5, '.3g', '2.5'],
      [3.14159, '>8.3f', '   3.142'],
      [2, '+.1f', '+2.0'],
      [-2, '06.2f', '-02.00'],
      [0.25, '.1%', '25.0%'],
      [7, '*^5d', '**7**'],
      [0.5, '', '0.5'],
      [NaN, '.2f', 'nan'],
      ['ab', '>4', '  ab'],
    ];
    for (const [value, spec, expected] of cases) expect([value, spec, formatSpec(value, spec)]).toEqual([value, spec, expected]);
    expect(formatPlaceholders('w.{epoch:02d}-{val_loss:.2f}{{x}}', { epoch: 3, val_loss: 0.4567 }, 't')).toBe('w.03-0.46{x}');
    expect(() => formatSpec(1.5, 'd')).toThrow(/'d' needs an integer, got 1.5/);
    expect(() => formatSpec(1, 'q')).toThrow(/unsupported format spec 'q'/);
  });

  it('repr(float)', () => {
    const cases: [number, string][] = [[0.1, '0.1'], [1, '1.0'], [1e-5, '1e-05'], [1e16, '1e+16'], [123.456, '123.456'], [1.5e-7, '1.5e-07'], [0.0001, '0.0001'], [1e15, '1000000000000000.0'], [-2.5, '-2.5'], [NaN, 'nan'], [-Infinity, '-inf'], [0.6931471805599453, '0.6931471805599453']];
    for (const [x, expected] of cases) expect([x, pyFloat(x)]).toEqual([x, expected]);
  });
});

describe('history loggers', () => {
  const epochs: Partial<Logs>[] = [
    { loss: 0.5, accuracy: 1, val_loss: 1e-5 },
    { loss: 0.25, accuracy: 0.75, val_loss: NaN },
  ];

  it("csvLogger writes Keras's CSVLogger bytes; append adds rows without a second header", async () => {
    const file = path.join(dir, 'logs/run.csv');
    await drive(callbacks.csvLogger(file), new FakeModel(), epochs);
    const expected = 'epoch,accuracy,loss,val_loss\r\n0,1.0,0.5,1e-05\r\n1,0.75,0.25,nan\r\n';
    expect(await readFile(file, 'utf8')).toBe(expected);
    // Appending: no header; the columns are this run's first epoch's keys, a key missing later is NA.
    await drive(callbacks.csvLogger(file, { append: true }), new FakeModel(), [{ loss: 0.125, accuracy: 0.5 }, { loss: 0.1 }]);
    expect(await readFile(file, 'utf8')).toBe(`${expected}0,0.5,0.125\r\n1,NA,0.1\r\n`);
    await drive(callbacks.csvLogger(file, { separator: ';' }), new FakeModel(), epochs.slice(0, 1));
    expect(await readFile(file, 'utf8')).toBe('epoch;accuracy;loss;val_loss\r\n0;1.0;0.5;1e-05\r\n');
    const empty = path.join(dir, 'empty.csv');
    await writeFile(empty, '');
    await drive(callbacks.csvLogger(empty, { append: true }), new FakeModel(), epochs.slice(0, 1));
    expect(await readFile(empty, 'utf8')).toBe('epoch,accuracy,loss,val_loss\r\n0,1.0,0.5,1e-05\r\n');
  });

  it('jsonLogger writes one JSON object per epoch and line', async () => {
    const file = path.join(dir, 'run.jsonl');
    await drive([callbacks.reduceLROnPlateau({ monitor: 'loss' }), callbacks.jsonLogger(file)], new FakeModel(), epochs);
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual([
      { epoch: 0, loss: 0.5, accuracy: 1, val_loss: 1e-5, lr: 0.1 },
      { epoch: 1, loss: 0.25, accuracy: 0.75, val_loss: null, lr: 0.1 },
    ]);
  });

  it('errors: bad filename, separator, options', () => {
    expect(() => callbacks.csvLogger('' as never)).toThrow(/csvLogger\(\): filename must be a non-empty path/);
    expect(() => callbacks.csvLogger('a.csv', { separator: ';;' })).toThrow(/separator must be one character/);
    expect(() => callbacks.jsonLogger('a.jsonl', { append: 'yes' as never })).toThrow(/jsonLogger\(\): append must be true or false, got string yes/);
  });
});
