/**
 * LearningRateScheduler (keras.callbacks.LearningRateScheduler): at the start of every epoch sets
 * the optimizer's learning rate to `schedule(epoch, currentLr)`; each epoch's logs get `lr`.
 */
import type { Logs } from '../model/args.ts';
import { describe } from '../runtime/tensor.ts';
import { Callback } from './list.ts';
import { checkOptions, verboseOption } from './monitor.ts';
import { requireOptimizer } from './reduce-lr.ts';

/** Takes the epoch (from 0) and the current learning rate; returns the rate for that epoch. */
export type Schedule = (epoch: number, lr: number) => number;

export class LearningRateScheduler extends Callback {
  readonly verbose: 0 | 1;

  constructor(
    readonly schedule: Schedule,
    args: { verbose?: 0 | 1 } = {},
  ) {
    super();
    const owner = 'learningRateScheduler()';
    if (typeof schedule !== 'function') throw new Error(`${owner}: schedule must be a function (epoch, lr) => newLr, got ${describe(schedule)}`);
    this.verbose = verboseOption(owner, checkOptions<{ verbose: 0 | 1 }>(owner, args, ['verbose']).verbose);
  }

  override onEpochBegin(epoch: number): void {
    const optimizer = requireOptimizer(this.model, 'learningRateScheduler()');
    const lr: unknown = this.schedule(epoch, optimizer.learningRate);
    if (typeof lr !== 'number' || !Number.isFinite(lr) || lr <= 0) {
      throw new Error(`learningRateScheduler(): the schedule must return a finite number > 0, got ${describe(lr)} for epoch ${epoch}`);
    }
    optimizer.learningRate = lr;
    if (this.verbose) console.log(`Epoch ${epoch + 1}: LearningRateScheduler setting learning rate to ${lr}.`);
  }

  override onEpochEnd(_epoch: number, logs: Logs): void {
    logs.lr = requireOptimizer(this.model, 'learningRateScheduler()').learningRate;
  }
}

/** keras.callbacks.LearningRateScheduler: sets the learning rate from `schedule(epoch, lr)` before each epoch. */
export function learningRateScheduler(schedule: Schedule, args?: { verbose?: 0 | 1 }): LearningRateScheduler {
  return new LearningRateScheduler(schedule, args);
}
