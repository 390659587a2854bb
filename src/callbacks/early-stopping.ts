/**
 * EarlyStopping (tf.callbacks.earlyStopping / keras.callbacks.EarlyStopping): stops fit() when a
 * monitored quantity has stopped improving, with Keras's semantics (patience counted in epochs
 * without improvement, minDelta, baseline, startFromEpoch) and restoreBestWeights, which TF.js
 * lacks: the best epoch's weights are kept on the host and set back when training ends.
 */
import type { Logs, NamedWeight } from '../model/args.ts';
import { Callback } from './list.ts';
import { booleanOption, checkOptions, improvesUpward, integerOption, modeOption, MonitorReader, numberOption, stringOption, verboseOption, type MonitorMode } from './monitor.ts';

export interface EarlyStoppingArgs {
  /** Quantity to watch (default 'val_loss'). */
  monitor?: string;
  /** Smallest change that counts as an improvement (default 0; its sign is ignored). */
  minDelta?: number;
  /** Epochs without improvement after which training stops (default 0). */
  patience?: number;
  verbose?: 0 | 1;
  /** 'min', 'max', or 'auto' (default): 'max' for accuracy-like monitors, 'min' otherwise. */
  mode?: MonitorMode;
  /** Training stops unless the monitor improves on this value within `patience` epochs. */
  baseline?: number;
  /** Sets back the weights of the best epoch when training ends (default false). */
  restoreBestWeights?: boolean;
  /** Epochs to wait before monitoring starts (a warm-up; default 0). */
  startFromEpoch?: number;
}

const KEYS = ['monitor', 'minDelta', 'patience', 'verbose', 'mode', 'baseline', 'restoreBestWeights', 'startFromEpoch'];

export class EarlyStopping extends Callback {
  readonly monitor: string;
  readonly minDelta: number;
  readonly patience: number;
  readonly verbose: 0 | 1;
  readonly mode: MonitorMode;
  readonly baseline: number | undefined;
  readonly restoreBestWeights: boolean;
  readonly startFromEpoch: number;
  /** Epochs since the last improvement. */
  wait = 0;
  /** The epoch training was stopped at (0 when it was not). */
  stoppedEpoch = 0;
  best = Infinity;
  bestEpoch = 0;
  /** The best epoch's weights (restoreBestWeights only). */
  bestWeights: NamedWeight[] | undefined;
  private readonly upward: boolean;
  private readonly reader: MonitorReader;

  constructor(args: EarlyStoppingArgs = {}) {
    super();
    const owner = 'earlyStopping()';
    const a = checkOptions<EarlyStoppingArgs>(owner, args, KEYS);
    this.monitor = stringOption(owner, 'monitor', a.monitor, 'val_loss');
    this.minDelta = Math.abs(numberOption(owner, 'minDelta', a.minDelta, 0, () => true, 'a finite number'));
    this.patience = integerOption(owner, 'patience', a.patience, 0);
    this.verbose = verboseOption(owner, a.verbose);
    this.mode = modeOption(owner, a.mode);
    this.baseline = a.baseline === undefined || a.baseline === null ? undefined : numberOption(owner, 'baseline', a.baseline, 0, () => true, 'a finite number');
    this.restoreBestWeights = booleanOption(owner, 'restoreBestWeights', a.restoreBestWeights, false);
    this.startFromEpoch = integerOption(owner, 'startFromEpoch', a.startFromEpoch, 0);
    this.upward = improvesUpward(this.monitor, this.mode);
    this.reader = new MonitorReader('Early stopping', this.monitor);
  }

  override onTrainBegin(): void {
    // Reset so that one instance serves several fit() calls, as Keras allows.
    this.wait = 0;
    this.stoppedEpoch = 0;
    this.best = this.upward ? -Infinity : Infinity;
    this.bestEpoch = 0;
    this.bestWeights = undefined;
    this.reader.reset();
  }

  override async onEpochEnd(epoch: number, logs: Logs): Promise<void> {
    const current = this.reader.read(logs);
    if (current === undefined || epoch < this.startFromEpoch) return;
    const model = this.model!;
    // Until something improves, the first monitored epoch's weights are the best there are.
    if (this.restoreBestWeights && !this.bestWeights) {
      this.bestWeights = await model.getWeights();
      this.bestEpoch = epoch;
    }
    this.wait++;
    if (this.isImprovement(current, this.best)) {
      this.best = current;
      this.bestEpoch = epoch;
      if (this.restoreBestWeights) this.bestWeights = await model.getWeights();
      // Patience restarts only when the value beats the baseline too.
      if (this.baseline === undefined || this.isImprovement(current, this.baseline)) this.wait = 0;
      return;
    }
    if (this.wait >= this.patience && epoch > 0) {
      this.stoppedEpoch = epoch;
      model.stopTraining = true;
    }
  }

  override onTrainEnd(): void {
    if (this.stoppedEpoch > 0 && this.verbose) console.log(`Epoch ${this.stoppedEpoch + 1}: early stopping`);
    if (this.restoreBestWeights && this.bestWeights) {
      if (this.verbose) console.log(`Restoring model weights from the end of the best epoch: ${this.bestEpoch + 1}.`);
      this.model!.setWeights(this.bestWeights);
    }
  }

  private isImprovement(value: number, reference: number): boolean {
    return this.upward ? value - this.minDelta > reference : value + this.minDelta < reference;
  }
}

/** tf.callbacks.earlyStopping(args): stops training when `monitor` stops improving. */
export function earlyStopping(args?: EarlyStoppingArgs): EarlyStopping {
  return new EarlyStopping(args);
}
