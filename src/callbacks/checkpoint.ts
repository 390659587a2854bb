/**
 * ModelCheckpoint (keras.callbacks.ModelCheckpoint): saves the model every epoch (or every
 * `saveFreq` batches), or only when the monitored quantity improves, to any save target model.save()
 * takes ('file://dir', 'indexeddb://name', 'downloads://name' or a handler). A string target may
 * hold Keras's placeholders: `{epoch}` (from 1), `{batch}` and any log key with a Python format
 * spec, e.g. 'file://ckpt/weights.{epoch:02d}-{val_loss:.2f}'.
 *
 * A full checkpoint is what resumes training exactly: topology, weights, training config and the
 * optimizer's state. The TF.js format has no weights-only file (model.json always carries the
 * topology), so `saveWeightsOnly` writes the topology and the weights and leaves out the training
 * config and the optimizer state: loadModel() gives an uncompiled model with those weights.
 */
import type { ModelArtifacts, SaveHandler, SaveTarget } from '../io/artifacts.ts';
import { writeArtifacts } from '../io/write.ts';
import type { BatchLogs } from './list.ts';
import type { Logs } from '../model/args.ts';
import { describe } from '../runtime/tensor.ts';
import { formatPlaceholders } from './format.ts';
import { Callback } from './list.ts';
import { booleanOption, checkOptions, improvesUpward, integerOption, modeOption, MonitorReader, numberOption, stringOption, verboseOption, type MonitorMode } from './monitor.ts';

export interface ModelCheckpointArgs {
  /** Quantity that decides the best model with saveBestOnly (default 'val_loss'). */
  monitor?: string;
  verbose?: 0 | 1;
  /** Save only when `monitor` improves on the best so far (default false). */
  saveBestOnly?: boolean;
  /** Topology and weights only: no training config, no optimizer state (default false). */
  saveWeightsOnly?: boolean;
  mode?: MonitorMode;
  /** 'epoch' (default): after every epoch; an integer n: after every n batches. */
  saveFreq?: 'epoch' | number;
  /** The value `monitor` must beat for the first save with saveBestOnly. */
  initialValueThreshold?: number;
}

const KEYS = ['monitor', 'verbose', 'saveBestOnly', 'saveWeightsOnly', 'mode', 'saveFreq', 'initialValueThreshold'];

export class ModelCheckpoint extends Callback {
  readonly monitor: string;
  readonly verbose: 0 | 1;
  readonly saveBestOnly: boolean;
  readonly saveWeightsOnly: boolean;
  readonly mode: MonitorMode;
  readonly saveFreq: 'epoch' | number;
  readonly initialValueThreshold: number | undefined;
  best: number;
  /** How many saves this instance made (and where the last went), for a caller that wants to know. */
  saves = 0;
  lastTarget: SaveTarget | undefined;
  private readonly upward: boolean;
  private readonly reader: MonitorReader;
  private currentEpoch = 0;
  private batchesSinceSave = 0;

  constructor(
    readonly target: SaveTarget,
    args: ModelCheckpointArgs = {},
  ) {
    super();
    const owner = 'modelCheckpoint()';
    const isHandler = typeof target === 'object' && target !== null && typeof (target as SaveHandler).save === 'function';
    if (!(typeof target === 'string' && target !== '') && !isHandler) {
      throw new Error(`${owner}: target must be a save target: 'file://dir' (Node), 'indexeddb://name', 'downloads://name' or a handler { save(artifacts) }, got ${describe(target)}`);
    }
    const a = checkOptions<ModelCheckpointArgs>(owner, args, KEYS);
    this.monitor = stringOption(owner, 'monitor', a.monitor, 'val_loss');
    this.verbose = verboseOption(owner, a.verbose);
    this.saveBestOnly = booleanOption(owner, 'saveBestOnly', a.saveBestOnly, false);
    this.saveWeightsOnly = booleanOption(owner, 'saveWeightsOnly', a.saveWeightsOnly, false);
    this.mode = modeOption(owner, a.mode);
    if (a.saveFreq !== undefined && a.saveFreq !== 'epoch') integerOption(owner, "saveFreq (when not 'epoch')", a.saveFreq, 1, 1);
    this.saveFreq = a.saveFreq ?? 'epoch';
    this.initialValueThreshold = a.initialValueThreshold === undefined ? undefined : numberOption(owner, 'initialValueThreshold', a.initialValueThreshold, 0, () => true, 'a finite number');
    this.upward = improvesUpward(this.monitor, this.mode);
    this.reader = new MonitorReader('ModelCheckpoint', this.monitor);
    this.best = this.initialBest();
  }

  /** Batch metrics are read back only when saving by batches (they may decide or name a save). */
  override get wantsBatchLogs(): boolean {
    return this.saveFreq !== 'epoch';
  }

  override onTrainBegin(): void {
    this.reader.reset();
    this.batchesSinceSave = 0;
  }

  override onEpochBegin(epoch: number): void {
    this.currentEpoch = epoch;
  }

  override async onBatchEnd(batch: number, logs: BatchLogs): Promise<void> {
    if (this.saveFreq === 'epoch') return;
    if (++this.batchesSinceSave < this.saveFreq) return;
    this.batchesSinceSave = 0;
    await this.saveModel(this.currentEpoch, batch, logs);
  }

  override async onEpochEnd(epoch: number, logs: Logs): Promise<void> {
    if (this.saveFreq === 'epoch') await this.saveModel(epoch, undefined, logs);
  }

  private initialBest(): number {
    return this.initialValueThreshold ?? (this.upward ? -Infinity : Infinity);
  }

  private async saveModel(epoch: number, batch: number | undefined, logs: Logs): Promise<void> {
    const target = this.targetFor(epoch, batch, logs);
    if (!this.shouldSave(epoch, logs, target)) return;
    const model = this.model!;
    if (this.saveWeightsOnly) {
      // model.save() makes the artifacts; the training config stays out of what is written.
      const handler: SaveHandler = { save: (artifacts) => writeArtifacts(target, weightsOnly(artifacts as ModelArtifacts)) };
      await model.save(handler);
    } else {
      await model.save(target, { includeOptimizer: model.optimizer !== undefined });
    }
    this.saves++;
    this.lastTarget = target;
  }

  private shouldSave(epoch: number, logs: Logs, target: SaveTarget): boolean {
    const where = typeof target === 'string' ? target : 'the handler';
    if (!this.saveBestOnly) {
      if (this.verbose) console.log(`Epoch ${epoch + 1}: saving model to ${where}`);
      return true;
    }
    const current = this.reader.read(logs);
    // Keras saves anyway when the monitor is missing (after its warning).
    if (current === undefined) return true;
    const improved = this.upward ? current > this.best : current < this.best;
    if (this.verbose) {
      const best = Number.isFinite(this.best) ? this.best.toFixed(5) : String(this.best);
      console.log(improved ? `Epoch ${epoch + 1}: ${this.monitor} improved from ${best} to ${current.toFixed(5)}, saving model to ${where}` : `Epoch ${epoch + 1}: ${this.monitor} did not improve from ${best}`);
    }
    if (improved) this.best = current;
    return improved;
  }

  /** The target with its placeholders filled: `epoch` and `batch` count from 1, as Keras names files. */
  private targetFor(epoch: number, batch: number | undefined, logs: Logs): SaveTarget {
    if (typeof this.target !== 'string') return this.target;
    const values: Record<string, number | undefined> = { ...logs, epoch: epoch + 1 };
    if (batch !== undefined) values.batch = batch + 1;
    return formatPlaceholders(this.target, values, 'modelCheckpoint()');
  }
}

/** The artifacts without the training config (saved without includeOptimizer, they hold no optimizer state). */
function weightsOnly(artifacts: ModelArtifacts): ModelArtifacts {
  const { trainingConfig: _dropped, ...rest } = artifacts;
  return rest;
}

/** keras.callbacks.ModelCheckpoint: saves the model (or the best one so far) to `target` during fit(). */
export function modelCheckpoint(target: SaveTarget, args?: ModelCheckpointArgs): ModelCheckpoint {
  return new ModelCheckpoint(target, args);
}
