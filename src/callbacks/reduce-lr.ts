/**
 * ReduceLROnPlateau (keras.callbacks.ReduceLROnPlateau): multiplies the optimizer's learning rate
 * by `factor` when the monitored quantity has not improved for `patience` epochs, then waits
 * `cooldown` epochs; never below `minLr`. The new rate applies from the next step, and each
 * epoch's logs get `lr`, the rate that epoch trained with, as Keras 2 logs it.
 */
import type { Logs } from '../model/args.ts';
import { Callback, type CallbackModel } from './list.ts';
import { checkOptions, improvesUpward, integerOption, modeOption, MonitorReader, numberOption, stringOption, verboseOption, type MonitorMode } from './monitor.ts';

export interface ReduceLROnPlateauArgs {
  /** Quantity to watch (default 'val_loss'). */
  monitor?: string;
  /** new lr = lr × factor, 0 < factor < 1 (default 0.1). */
  factor?: number;
  /** Epochs without improvement before the rate is reduced (default 10). */
  patience?: number;
  verbose?: 0 | 1;
  mode?: MonitorMode;
  /** Threshold for a new optimum (default 1e-4). */
  minDelta?: number;
  /** Epochs to wait after a reduction before counting again (default 0). */
  cooldown?: number;
  /** Lower bound on the rate (default 0). */
  minLr?: number;
}

const KEYS = ['monitor', 'factor', 'patience', 'verbose', 'mode', 'minDelta', 'cooldown', 'minLr'];

export class ReduceLROnPlateau extends Callback {
  readonly monitor: string;
  readonly factor: number;
  readonly patience: number;
  readonly verbose: 0 | 1;
  readonly mode: MonitorMode;
  readonly minDelta: number;
  readonly cooldown: number;
  readonly minLr: number;
  wait = 0;
  cooldownCounter = 0;
  best = Infinity;
  private readonly upward: boolean;
  private readonly reader: MonitorReader;

  constructor(args: ReduceLROnPlateauArgs = {}) {
    super();
    const owner = 'reduceLROnPlateau()';
    const a = checkOptions<ReduceLROnPlateauArgs>(owner, args, KEYS);
    this.monitor = stringOption(owner, 'monitor', a.monitor, 'val_loss');
    this.factor = numberOption(owner, 'factor', a.factor, 0.1, (v) => v > 0 && v < 1, 'a number in (0, 1) (new lr = lr × factor)');
    this.patience = integerOption(owner, 'patience', a.patience, 10);
    this.verbose = verboseOption(owner, a.verbose);
    this.mode = modeOption(owner, a.mode);
    this.minDelta = numberOption(owner, 'minDelta', a.minDelta, 1e-4, () => true, 'a finite number');
    this.cooldown = integerOption(owner, 'cooldown', a.cooldown, 0);
    this.minLr = numberOption(owner, 'minLr', a.minLr, 0, (v) => v >= 0, 'a number ≥ 0');
    this.upward = improvesUpward(this.monitor, this.mode);
    this.reader = new MonitorReader('Learning rate reduction', this.monitor);
  }

  override onTrainBegin(): void {
    this.wait = 0;
    this.cooldownCounter = 0;
    this.best = this.upward ? -Infinity : Infinity;
    this.reader.reset();
  }

  override onEpochEnd(epoch: number, logs: Logs): void {
    const optimizer = requireOptimizer(this.model, 'reduceLROnPlateau()');
    logs.lr = optimizer.learningRate;
    const current = this.reader.read(logs);
    if (current === undefined) return;
    if (this.cooldownCounter > 0) {
      this.cooldownCounter--;
      this.wait = 0;
    }
    if (this.upward ? current > this.best + this.minDelta : current < this.best - this.minDelta) {
      this.best = current;
      this.wait = 0;
    } else if (this.cooldownCounter === 0) {
      this.wait++;
      if (this.wait >= this.patience) {
        const old = optimizer.learningRate;
        // Keras compares in float32: a rate already at minLr (as float32 stores it) stays.
        if (old > Math.fround(this.minLr)) {
          const lr = Math.max(old * this.factor, this.minLr);
          optimizer.learningRate = lr;
          if (this.verbose) console.log(`Epoch ${epoch + 1}: ReduceLROnPlateau reducing learning rate to ${lr}.`);
          this.cooldownCounter = this.cooldown;
          this.wait = 0;
        }
      }
    }
  }
}

/** The model's optimizer, or an Error naming the callback when the model is not compiled. */
export function requireOptimizer(model: CallbackModel | undefined, owner: string): { learningRate: number } {
  const optimizer = model?.optimizer;
  if (!optimizer) throw new Error(`${owner}: the model${model ? ` ${model.name}` : ''} has no optimizer; compile it first`);
  return optimizer;
}

/** keras.callbacks.ReduceLROnPlateau: lowers the learning rate when `monitor` stops improving. */
export function reduceLROnPlateau(args?: ReduceLROnPlateauArgs): ReduceLROnPlateau {
  return new ReduceLROnPlateau(args);
}
