/**
 * What the monitoring callbacks (earlyStopping, reduceLROnPlateau, modelCheckpoint) share: the
 * checks of their options, the direction a monitored quantity improves in ('auto' as Keras infers
 * it), and the warning for a monitor the logs lack, given once per training as Python's warnings do.
 */
import type { Logs } from '../model/args.ts';
import { describe } from '../runtime/tensor.ts';

export type MonitorMode = 'auto' | 'min' | 'max';

/**
 * Metrics that improve upwards: the accuracies ('acc' in the name, Keras 2's rule), and those whose
 * Keras 3 metric has direction 'up' (precision, recall, AUC, R², cosine similarity, F-scores, IoU).
 */
const UPWARD = /acc|precision|recall|auc|r2|cosine_?similarity|fmeasure|f1|fbeta|iou/i;

/** Whether `monitor` improves by growing under `mode`; 'auto' reads the name as Keras does. */
export function improvesUpward(monitor: string, mode: MonitorMode): boolean {
  if (mode !== 'auto') return mode === 'max';
  return UPWARD.test(monitor.replace(/^val_/, ''));
}

/** The options object of a callback factory, with every key checked against the ones it takes. */
export function checkOptions<T extends object>(owner: string, options: unknown, keys: readonly string[]): Partial<T> {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object' || Array.isArray(options)) throw new Error(`${owner}: options must be an object like { ${keys.slice(0, 2).join(', ')} }, got ${describe(options)}`);
  for (const key of Object.keys(options)) {
    if (!keys.includes(key)) throw new Error(`${owner}: unknown option '${key}'; it takes ${keys.join(', ')}`);
  }
  return options as Partial<T>;
}

/** A number option: finite and passing `ok`, or an Error naming the callback, field, expectation and value. */
export function numberOption(owner: string, field: string, value: unknown, fallback: number, ok: (v: number) => boolean, expected: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || !ok(value)) throw new Error(`${owner}: ${field} must be ${expected}, got ${describe(value)}`);
  return value;
}

export function integerOption(owner: string, field: string, value: unknown, fallback: number, min = 0): number {
  return numberOption(owner, field, value, fallback, (v) => Number.isInteger(v) && v >= min, `an integer ≥ ${min}`);
}

export function stringOption(owner: string, field: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value === '') throw new Error(`${owner}: ${field} must be a non-empty string such as 'val_loss', got ${describe(value)}`);
  return value;
}

export function booleanOption(owner: string, field: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new Error(`${owner}: ${field} must be true or false, got ${describe(value)}`);
  return value;
}

export function modeOption(owner: string, value: unknown): MonitorMode {
  if (value === undefined) return 'auto';
  if (value !== 'auto' && value !== 'min' && value !== 'max') throw new Error(`${owner}: mode must be 'auto', 'min' or 'max', got ${describe(value)}`);
  return value;
}

export function verboseOption(owner: string, value: unknown): 0 | 1 {
  if (value === undefined) return 0;
  if (value !== 0 && value !== 1 && value !== true && value !== false) throw new Error(`${owner}: verbose must be 0 or 1, got ${describe(value)}`);
  return value ? 1 : 0;
}

/** Reads `monitor` from the logs; a missing or non-number value warns once (until reset) and gives undefined. */
export class MonitorReader {
  private warned = false;
  constructor(
    private readonly what: string,
    readonly monitor: string,
  ) {}

  reset(): void {
    this.warned = false;
  }

  read(logs: Logs | undefined): number | undefined {
    const value = logs?.[this.monitor];
    if (typeof value === 'number') return value;
    if (!this.warned) {
      this.warned = true;
      const available = logs ? Object.keys(logs).join(', ') : 'none';
      console.warn(`${this.what} is conditioned on metric '${this.monitor}', which is not available. Available metrics are: ${available}`);
    }
    return undefined;
  }
}
