/**
 * How fit and fitDataset drive callbacks (src/callbacks/list.ts): the hooks in Keras's order with
 * TF.js's arguments, batch logs read back when a callback wants them (each one the running mean of
 * the epoch so far, the last equal to the epoch's), stopTraining honoured after the batch that set
 * it, `lr` in the epoch logs once a callback changed the learning rate, and a callback that throws
 * stopping training with an Error naming it and the weights of the batches done.
 */
import { describe, expect, it } from 'vitest';
import { Callback } from '../src/callbacks/list.ts';
import { layers, optimizers, sequential, tensor, type LayersModel, type Logs } from '../src/index.ts';
import { randomArray, useEngine } from './helpers.ts';

const engine = useEngine();

const N = 20;
const F = 4;
const x = randomArray(N * F, 51);
const labels = Int32Array.from({ length: N }, (_, i) => (x[i * F]! > 0 ? 1 : 0));

function classifier(): LayersModel {
  const m = sequential({ layers: [layers.dense({ units: 5, activation: 'tanh', inputShape: [F] }), layers.dense({ units: 2, activation: 'softmax' })] });
  m.compile({ optimizer: optimizers.sgd({ learningRate: 0.2 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], engine: engine() });
  return m;
}

const rows = (a: number, b: number) => ({ xs: tensor(x.slice(a * F, b * F), [b - a, F]), ys: tensor(labels.slice(a, b), [b - a]) });
const dataset = () => [rows(0, 8), rows(8, 16), rows(16, 20)];

/** Records every hook call as a line, and the logs of each. */
class Recorder extends Callback {
  readonly calls: string[] = [];
  readonly batchLogs: Logs[] = [];
  readonly epochLogs: Logs[] = [];
  override onTrainBegin() {
    this.calls.push('trainBegin');
  }
  override onTrainEnd() {
    this.calls.push('trainEnd');
  }
  override onEpochBegin(epoch: number) {
    this.calls.push(`epochBegin ${epoch}`);
  }
  override onEpochEnd(epoch: number, logs: Logs) {
    this.calls.push(`epochEnd ${epoch}`);
    this.epochLogs.push({ ...logs });
  }
  override onBatchBegin(batch: number, logs?: Logs) {
    this.calls.push(`batchBegin ${batch} size ${logs?.size}`);
  }
  override onBatchEnd(batch: number, logs: Logs) {
    this.calls.push(`batchEnd ${batch}`);
    this.batchLogs.push({ ...logs });
  }
}

const expectedCalls = (epochs: number, sizes: number[]) => [
  'trainBegin',
  ...Array.from({ length: epochs }, (_, e) => [`epochBegin ${e}`, ...sizes.flatMap((s, b) => [`batchBegin ${b} size ${s}`, `batchEnd ${b}`]), `epochEnd ${e}`]).flat(),
  'trainEnd',
];

describe('callbacks in fit and fitDataset', () => {
  for (const how of ['fit', 'fitDataset'] as const) {
    it(`${how}: hooks in order, batch logs (running means of the epoch), epoch logs with validation`, async () => {
      const m = classifier();
      const fresh = classifier();
      fresh.setWeights(await m.getWeights());
      const recorder = new Recorder();
      const args = { epochs: 2, verbose: 0 as const, logEveryMs: 0, callbacks: [recorder] };
      const history =
        how === 'fit'
          ? await m.fit(tensor(x, [N, F]), tensor(labels, [N]), { ...args, batchSize: 8, shuffle: false, validationData: [tensor(x, [N, F]), tensor(labels, [N])] })
          : await m.fitDataset(dataset, { ...args, validationData: [tensor(x, [N, F]), tensor(labels, [N])] });
      expect(recorder.calls).toEqual(expectedCalls(2, [8, 8, 4]));
      // Batch 0's loss is the loss of the first batch before its step.
      const first = await fresh.evaluate(rows(0, 8).xs, rows(0, 8).ys);
      expect(recorder.batchLogs[0]!.loss).toBeCloseTo(first.loss, 6);
      expect(recorder.batchLogs[0]).toMatchObject({ batch: 0, size: 8 });
      // The last batch's logs are the epoch's.
      expect(recorder.batchLogs[2]!.loss).toBeCloseTo(recorder.epochLogs[0]!.loss, 6);
      expect(recorder.batchLogs[2]!.accuracy).toBe(recorder.epochLogs[0]!.accuracy);
      expect(Object.keys(recorder.epochLogs[1]!).sort()).toEqual(['accuracy', 'loss', 'val_accuracy', 'val_loss']);
      expect(history.history.val_loss).toEqual(recorder.epochLogs.map((l) => l.val_loss));
    });
  }

  it('stopTraining set in onBatchEnd ends training after that batch; epochEnd and trainEnd still run', async () => {
    const m = classifier();
    const reference = classifier();
    reference.setWeights(await m.getWeights());
    const recorder = new Recorder();
    const stopper = { onBatchEnd: (batch: number) => void (batch === 1 && (m.stopTraining = true)) };
    await m.fitDataset(dataset, { epochs: 3, verbose: 0, callbacks: [recorder, stopper] });
    expect(recorder.calls).toEqual(['trainBegin', 'epochBegin 0', 'batchBegin 0 size 8', 'batchEnd 0', 'batchBegin 1 size 8', 'batchEnd 1', 'epochEnd 0', 'trainEnd']);
    await reference.fitDataset(dataset().slice(0, 2), { epochs: 1, verbose: 0 });
    const want = await reference.getWeights();
    (await m.getWeights()).forEach((w, i) => expect(w.values).toEqual(want[i]!.values));
  });

  for (const how of ['fit', 'fitDataset'] as const) {
    it(`${how}: a callback reading the weights between batches and epochs (as checkpoints do) changes nothing`, async () => {
      const m = classifier();
      const reference = classifier();
      reference.setWeights(await m.getWeights());
      const seen: number[] = [];
      const reader = {
        onBatchEnd: async () => void seen.push((await m.getWeights())[0]!.values[0]!),
        onEpochEnd: async () => void seen.push((await m.getWeights())[0]!.values[0]!),
      };
      const train = (target: LayersModel, callbacks?: object) =>
        how === 'fit'
          ? target.fit(tensor(x, [N, F]), tensor(labels, [N]), { epochs: 2, batchSize: 8, shuffle: false, verbose: 0, ...(callbacks ? { callbacks } : {}) })
          : target.fitDataset(dataset, { epochs: 2, verbose: 0, ...(callbacks ? { callbacks } : {}) });
      await train(m, reader);
      await train(reference);
      const want = await reference.getWeights();
      (await m.getWeights()).forEach((w, i) => expect(w.values).toEqual(want[i]!.values));
      expect(new Set(seen).size).toBe(6);
    });
  }

  it('a callback that changes the learning rate: `lr` in the logs from then on, and in History', async () => {
    const m = classifier();
    const schedule = {
      onEpochBegin: (epoch: number) => {
        if (epoch === 1) m.optimizer!.learningRate = 0.05;
      },
    };
    const history = await m.fit(tensor(x, [N, F]), tensor(labels, [N]), { epochs: 3, batchSize: 8, verbose: 0, callbacks: schedule });
    expect(history.history.lr).toEqual([0.05, 0.05]);
    expect(history.epoch).toEqual([0, 1, 2]);
  });

  it('a callback that throws: an Error naming it, and the weights of the batches before', async () => {
    const m = classifier();
    const reference = classifier();
    reference.setWeights(await m.getWeights());
    const failing = {
      onBatchEnd: (batch: number) => {
        if (batch === 1) throw new Error('out of paper');
      },
    };
    await expect(m.fit(tensor(x, [N, F]), tensor(labels, [N]), { epochs: 1, batchSize: 8, shuffle: false, verbose: 0, callbacks: failing })).rejects.toThrow(/callback .*failed in onBatchEnd\(1\): out of paper/);
    await reference.fit(tensor(x.slice(0, 16 * F), [16, F]), tensor(labels.slice(0, 16), [16]), { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    const want = await reference.getWeights();
    (await m.getWeights()).forEach((w, i) => expect(w.values).toEqual(want[i]!.values));
  });
});
