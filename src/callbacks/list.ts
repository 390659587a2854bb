/**
 * The callback contract fit() drives: the `Callback` base class (TF.js's / Keras's, subclass it
 * for a custom callback), the narrow view of the model a callback may touch, and `CallbackList`,
 * which turns whatever a user passed as `callbacks` into one ordered list and calls it.
 *
 * How fit() uses it:
 *
 *   const list = CallbackList.from(args.callbacks, this);
 *   await list.trainBegin();
 *   for (epoch …) { await list.epochBegin(epoch);
 *     for (step …) { await list.batchBegin(step); …; await list.batchEnd(step, logs); if (this.stopTraining) break; }
 *     await list.epochEnd(epoch, epochLogs);   // may add keys (e.g. `lr`): record History after it
 *     if (this.stopTraining) break; }
 *   await list.trainEnd(lastLogs);             // EarlyStopping restores the best weights here
 */
import type { Callbacks, Logs, NamedWeight } from '../model/args.ts';
import type { SaveOptions, SaveTarget } from '../io/artifacts.ts';
import { describe } from '../runtime/tensor.ts';

/** What a callback may touch of the model being trained (a LayersModel satisfies it). */
export interface CallbackModel {
  /** Set to true to end fit() after the current batch. */
  stopTraining: boolean;
  readonly name: string;
  getWeights(): Promise<NamedWeight[]>;
  setWeights(weights: NamedWeight[]): void;
  save(target: SaveTarget, options?: SaveOptions): Promise<unknown>;
  /** The compiled optimizer; its learningRate takes effect from the next step. */
  readonly optimizer: { learningRate: number } | undefined;
}

/** Batch logs as fit() gives them: the latest metrics read from the GPU and the batch's size. */
export type BatchLogs = Logs & { size?: number };

/**
 * A training callback (tf.Callback / keras.callbacks.Callback): override the hooks you need;
 * `this.model` is the model being trained from onTrainBegin on.
 */
export class Callback {
  model?: CallbackModel;

  setModel(model: CallbackModel): void {
    this.model = model;
  }
  onTrainBegin(_logs?: Logs): void | Promise<void> {}
  onTrainEnd(_logs?: Logs): void | Promise<void> {}
  onEpochBegin(_epoch: number, _logs?: Logs): void | Promise<void> {}
  onEpochEnd(_epoch: number, _logs: Logs): void | Promise<void> {}
  onBatchBegin(_batch: number, _logs?: BatchLogs): void | Promise<void> {}
  onBatchEnd(_batch: number, _logs: BatchLogs): void | Promise<void> {}
  /** Whether fit() should read metrics back during epochs for this callback: by default, when it has an onBatchEnd. */
  get wantsBatchLogs(): boolean {
    return this.onBatchEnd !== Callback.prototype.onBatchEnd;
  }
}

const HOOKS = ['onTrainBegin', 'onTrainEnd', 'onEpochBegin', 'onEpochEnd', 'onBatchBegin', 'onBatchEnd'] as const;

/** The hooks of a callback as a plain object (fit()'s `callbacks` before, TF.js's CustomCallbackArgs). */
export interface CallbackHooks extends Callbacks {
  onBatchBegin?(batch: number, logs?: BatchLogs): void | Promise<void>;
}

/** What fit() and fitDataset() take as `callbacks`. */
export type FitCallbacks = Callback | CallbackHooks | readonly (Callback | CallbackHooks)[];

/** A Callback made of plain hook functions (TF.js's tf.CustomCallback). */
export class CustomCallback extends Callback {
  private readonly hooks: CallbackHooks;
  /** A foreign callback object whose setModel should see the model too. */
  private owner: { setModel?(m: CallbackModel): void } | undefined;
  /** The name errors give this callback. */
  label = 'CustomCallback';

  constructor(hooks: CallbackHooks) {
    super();
    this.hooks = checkHooks(hooks, 'CustomCallback');
  }
  /** Wraps a callback object of another class (another copy of this library, say), its hooks bound to it. */
  static wrap(obj: Record<string, unknown>): CustomCallback {
    const hooks: Record<string, unknown> = {};
    for (const h of HOOKS) if (typeof obj[h] === 'function') hooks[h] = (obj[h] as (...a: unknown[]) => unknown).bind(obj);
    const c = new CustomCallback(hooks as CallbackHooks);
    c.owner = obj;
    c.label = obj.constructor?.name || 'callback object';
    return c;
  }
  override setModel(model: CallbackModel): void {
    super.setModel(model);
    if (typeof this.owner?.setModel === 'function') this.owner.setModel(model);
  }
  override onTrainBegin(logs?: Logs) {
    return this.hooks.onTrainBegin?.(logs);
  }
  override onTrainEnd(logs?: Logs) {
    return this.hooks.onTrainEnd?.(logs);
  }
  override onEpochBegin(epoch: number, logs?: Logs) {
    return this.hooks.onEpochBegin?.(epoch, logs);
  }
  override onEpochEnd(epoch: number, logs: Logs) {
    return this.hooks.onEpochEnd?.(epoch, logs);
  }
  override onBatchBegin(batch: number, logs?: BatchLogs) {
    return this.hooks.onBatchBegin?.(batch, logs);
  }
  override onBatchEnd(batch: number, logs: BatchLogs) {
    return this.hooks.onBatchEnd?.(batch, logs as Logs & { size: number });
  }
  override get wantsBatchLogs(): boolean {
    return typeof this.hooks.onBatchEnd === 'function';
  }
}

/** The callbacks of one fit() call, in the order given, each bound to the model. */
export class CallbackList {
  private constructor(
    readonly callbacks: readonly Callback[],
    private readonly names: readonly string[],
  ) {}

  /**
   * Validates and normalizes fit()'s `callbacks`: undefined, a Callback, a `{ onEpochEnd, … }`
   * object, or an array of these; binds each to `model`.
   */
  static from(callbacks: unknown, model: CallbackModel): CallbackList {
    const given = callbacks === undefined || callbacks === null ? [] : Array.isArray(callbacks) ? callbacks : [callbacks];
    const list = given.map((c, i) => toCallback(c, Array.isArray(callbacks) ? `callbacks[${i}]` : 'callbacks'));
    const names = list.map((c, i) => {
      const kind = c instanceof CustomCallback ? c.label : c.constructor.name || 'Callback';
      return Array.isArray(callbacks) ? `${kind} (callbacks[${i}])` : kind;
    });
    for (const c of list) c.setModel(model);
    return new CallbackList(list, names);
  }

  /** Whether any callback wants per-batch logs (so fit reads metrics back during epochs only then). */
  get wantsBatchLogs(): boolean {
    return this.callbacks.some((c) => c.wantsBatchLogs);
  }

  trainBegin(logs?: Logs): Promise<void> {
    return this.call('onTrainBegin', undefined, (c) => c.onTrainBegin(logs));
  }
  trainEnd(logs?: Logs): Promise<void> {
    return this.call('onTrainEnd', undefined, (c) => c.onTrainEnd(logs));
  }
  epochBegin(epoch: number, logs?: Logs): Promise<void> {
    return this.call('onEpochBegin', epoch, (c) => c.onEpochBegin(epoch, logs));
  }
  /** Callbacks may add keys to `logs` (ReduceLROnPlateau and the scheduler add `lr`), as in Keras. */
  epochEnd(epoch: number, logs: Logs): Promise<void> {
    return this.call('onEpochEnd', epoch, (c) => c.onEpochEnd(epoch, logs));
  }
  batchBegin(batch: number, logs?: BatchLogs): Promise<void> {
    return this.call('onBatchBegin', batch, (c) => c.onBatchBegin(batch, logs));
  }
  batchEnd(batch: number, logs: BatchLogs): Promise<void> {
    return this.call('onBatchEnd', batch, (c) => c.onBatchEnd(batch, logs));
  }

  /** Runs one hook on every callback in order, awaiting each; a failure names the callback. */
  private async call(hook: string, index: number | undefined, run: (c: Callback) => void | Promise<void>): Promise<void> {
    for (const [i, c] of this.callbacks.entries()) {
      try {
        await run(c);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        const where = index === undefined ? hook : `${hook}(${index})`;
        throw new Error(`callback ${this.names[i]} failed in ${where}: ${message}`, { cause: err });
      }
    }
  }
}

const EXPECTED = `a Callback (e.g. callbacks.earlyStopping()), an object of hooks { ${HOOKS.join(', ')} }, or an array of these`;

function toCallback(value: unknown, what: string): Callback {
  if (value instanceof Callback) return value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`fit(): ${what} must be ${EXPECTED}, got ${describe(value)}`);
  const proto = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) return new CustomCallback(checkHooks(value, `fit(): ${what}`));
  // An instance of some other class: accepted when it has hooks (a callback from another copy of this library).
  const obj = value as Record<string, unknown>;
  if (!HOOKS.some((h) => typeof obj[h] === 'function')) throw new Error(`fit(): ${what} must be ${EXPECTED}, got ${describe(value)}, which has none of these hooks`);
  return CustomCallback.wrap(obj);
}

/** A plain object of hooks, every key a known hook and every value a function. */
function checkHooks(value: unknown, what: string): CallbackHooks {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${what} must be ${EXPECTED}, got ${describe(value)}`);
  for (const [key, hook] of Object.entries(value)) {
    if (!(HOOKS as readonly string[]).includes(key)) throw new Error(`${what} has an unknown key '${key}': expected ${EXPECTED}`);
    if (typeof hook !== 'function' && hook !== undefined) throw new Error(`${what}.${key} must be a function, got ${describe(hook)}`);
  }
  return value as CallbackHooks;
}
