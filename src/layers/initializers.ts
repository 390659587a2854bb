/**
 * Weight initializers with Keras's defaults, drawn from a seeded generator so that the same seed
 * gives the same model. `fanIn`/`fanOut` follow Keras: for a conv kernel [kh, kw, cin, cout] the
 * receptive field kh·kw multiplies cin and cout.
 */
import type { Shape } from '../runtime/tensor.ts';

export type Initializer =
  | 'glorotUniform'
  | 'glorotNormal'
  | 'heNormal'
  | 'heUniform'
  | 'zeros'
  | 'ones'
  | { kind: 'constant'; value: number }
  | { kind: 'randomNormal'; mean?: number; stddev?: number }
  | { kind: 'randomUniform'; minval?: number; maxval?: number };

export const INITIALIZER_NAMES = ['glorotUniform', 'glorotNormal', 'heNormal', 'heUniform', 'zeros', 'ones'] as const;

const ALIASES: Record<string, Initializer> = {
  glorot_uniform: 'glorotUniform',
  glorot_normal: 'glorotNormal',
  he_normal: 'heNormal',
  he_uniform: 'heUniform',
};

export function parseInitializer(value: unknown, argument: string): Initializer {
  if (typeof value === 'string') {
    const name = ALIASES[value] ?? value;
    if ((INITIALIZER_NAMES as readonly string[]).includes(name as string)) return name as Initializer;
    throw new Error(`${argument}: unknown initializer '${value}'; known: ${INITIALIZER_NAMES.join(', ')}`);
  }
  if (value && typeof value === 'object' && 'kind' in value) return value as Initializer;
  throw new Error(`${argument}: expected an initializer name (${INITIALIZER_NAMES.join(', ')}), got ${JSON.stringify(value)}`);
}

/** Mulberry32: small, fast, seedable; good enough for initial weights and shuffles. */
export class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(min: number, max: number): number {
    return min + (max - min) * this.next();
  }
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  /** Keras's truncated normal: redraw values beyond two standard deviations. */
  truncatedNormal(): number {
    for (;;) {
      const x = this.normal();
      if (Math.abs(x) <= 2) return x;
    }
  }
  /** Fisher–Yates shuffle of 0..n-1. */
  permutation(n: number): Uint32Array {
    const p = new Uint32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const t = p[i]!;
      p[i] = p[j]!;
      p[j] = t;
    }
    return p;
  }
}

export function fans(shape: Shape): { fanIn: number; fanOut: number } {
  if (shape.length < 2) return { fanIn: shape[0] ?? 1, fanOut: shape[0] ?? 1 };
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[shape.length - 2]! * receptive, fanOut: shape[shape.length - 1]! * receptive };
}

export function initialize(init: Initializer, shape: Shape, random: Random): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const { fanIn, fanOut } = fans(shape);
  const fill = (f: () => number) => {
    for (let i = 0; i < n; i++) out[i] = f();
  };
  if (typeof init === 'object') {
    if (init.kind === 'constant') out.fill(init.value);
    else if (init.kind === 'randomNormal') fill(() => (init.mean ?? 0) + (init.stddev ?? 0.05) * random.normal());
    else fill(() => random.uniform(init.minval ?? -0.05, init.maxval ?? 0.05));
    return out;
  }
  switch (init) {
    case 'zeros':
      break;
    case 'ones':
      out.fill(1);
      break;
    case 'glorotUniform': {
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      fill(() => random.uniform(-limit, limit));
      break;
    }
    case 'glorotNormal': {
      // Keras scales the truncated normal by 1/0.8796 so the truncated std is sqrt(2/(in+out)).
      const std = Math.sqrt(2 / (fanIn + fanOut)) / 0.87962566103423978;
      fill(() => std * random.truncatedNormal());
      break;
    }
    case 'heNormal': {
      const std = Math.sqrt(2 / fanIn) / 0.87962566103423978;
      fill(() => std * random.truncatedNormal());
      break;
    }
    case 'heUniform': {
      const limit = Math.sqrt(6 / fanIn);
      fill(() => random.uniform(-limit, limit));
      break;
    }
  }
  return out;
}
