/** Checks of optimizer and schedule options: every bad value is an Error naming the owner, the option, what was expected and what came. */
import { describe } from '../runtime/tensor.ts';

/** Rejects non-objects and unknown keys (a snake_case `learning_rate` would otherwise be ignored). */
export function checkKeys<T extends object>(owner: string, config: T, known: readonly string[], example = '{ learningRate: 0.001 }'): T {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new TypeError(`${owner}: config must be an object like ${example}, got ${describe(config)}`);
  }
  for (const key of Object.keys(config)) {
    if (!known.includes(key)) throw new Error(`${owner}: unknown option '${key}'; known: ${known.join(', ')}`);
  }
  return config;
}

/** A finite number for which `ok` holds. */
export function checkNumber(owner: string, name: string, value: unknown, ok: (v: number) => boolean, range: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !ok(value)) {
    throw new RangeError(`${owner}: ${name} must be ${range}, got ${typeof value === 'number' ? value : describe(value)}`);
  }
  return value;
}

/** A required option. */
export function required<T>(owner: string, name: string, value: T | undefined): T {
  if (value === undefined) throw new Error(`${owner}: ${name} is required`);
  return value;
}

/** A decay factor β in [0, 1). */
export function checkBeta(owner: string, name: string, value: unknown): number {
  return checkNumber(owner, name, value, (v) => v >= 0 && v < 1, 'in [0, 1)');
}

/** Keras accepts momentum in [0, 1]. */
export function checkMomentum(owner: string, value: unknown): number {
  return checkNumber(owner, 'momentum', value, (v) => v >= 0 && v <= 1, 'in [0, 1]');
}

/** ε > 0: the zero-gradient padding between weights would otherwise compute 0/0. */
export function checkEpsilon(owner: string, value: unknown): number {
  return checkNumber(owner, 'epsilon', value, (v) => v > 0, 'a finite number > 0');
}

export function checkBoolean(owner: string, name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`${owner}: ${name} must be true or false, got ${describe(value)}`);
  return value;
}

/** An optional positive number (clipping thresholds): undefined and null mean none. */
export function checkOptionalPositive(owner: string, name: string, value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  return checkNumber(owner, name, value, (v) => v > 0, 'a finite number > 0 (or null for none)');
}
