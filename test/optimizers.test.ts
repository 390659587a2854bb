import { describe, expect, it } from 'vitest';
import { adamUpdate, rmspropUpdate, sgdUpdate } from '../shaders/optimizers.ts';
import { Adam, HYPER_BYTES, Optimizer, optimizers, resolveOptimizer, RMSprop, SGD } from '../src/optimizers.ts';
import { Usage, type Engine } from '../src/runtime/engine.ts';
import { randomArray, readF32, relL2, toF64, uploadView, useEngine } from './helpers.ts';

const engine = useEngine();

// ---- float64 references of Keras's update rules ------------------------------------------

/** One step in place: w and the slots (in `slotNames` order) are float64 state. */
type Reference = (w: Float64Array, g: Float32Array, slots: Float64Array[], lr: number, step: number) => void;

function rmspropRef(o: RMSprop): Reference {
  return (w, g, slots, lr) => {
    const [v, mom, mg] = [slots[0]!, o.momentum > 0 ? slots[1]! : undefined, o.centered ? slots[slots.length - 1]! : undefined];
    for (let i = 0; i < w.length; i++) {
      v[i] = o.rho * v[i]! + (1 - o.rho) * g[i]! ** 2;
      let denominator = v[i]! + o.epsilon;
      if (mg) {
        mg[i] = o.rho * mg[i]! + (1 - o.rho) * g[i]!;
        denominator = v[i]! - mg[i]! ** 2 + o.epsilon;
      }
      const increment = (lr * g[i]!) / Math.sqrt(denominator);
      if (mom) {
        mom[i] = o.momentum * mom[i]! + increment;
        w[i]! -= mom[i]!;
      } else {
        w[i]! -= increment;
      }
    }
  };
}

function adamRef(o: Adam): Reference {
  return (w, g, slots, lr, t) => {
    const [m, v, vhat] = [slots[0]!, slots[1]!, slots[2]];
    const alpha = (lr * Math.sqrt(1 - o.beta2 ** t)) / (1 - o.beta1 ** t);
    for (let i = 0; i < w.length; i++) {
      m[i] = o.beta1 * m[i]! + (1 - o.beta1) * g[i]!;
      v[i] = o.beta2 * v[i]! + (1 - o.beta2) * g[i]! ** 2;
      let denominatorV = v[i]!;
      if (vhat) denominatorV = vhat[i] = Math.max(vhat[i]!, v[i]!);
      // TF.js's form: lr·m̂/(√v̂ + ε) with the bias-corrected moments.
      w[i]! -= (alpha * m[i]!) / (Math.sqrt(denominatorV) + o.epsilon * Math.sqrt(1 - o.beta2 ** t));
    }
  };
}

function sgdRef(o: SGD): Reference {
  return (w, g, slots, lr) => {
    const v = slots[0];
    for (let i = 0; i < w.length; i++) {
      if (!v) {
        w[i]! -= lr * g[i]!;
        continue;
      }
      v[i] = o.momentum * v[i]! - lr * g[i]!;
      w[i]! += o.nesterov ? o.momentum * v[i]! - lr * g[i]! : v[i]!;
    }
  };
}

function referenceFor(o: Optimizer): Reference {
  if (o instanceof RMSprop) return rmspropRef(o);
  if (o instanceof Adam) return adamRef(o);
  if (o instanceof SGD) return sgdRef(o);
  throw new Error(`no reference for ${o.className}`);
}

// ---- GPU runner ------------------------------------------------------------------------------

function uniformBuffer(e: Engine): GPUBuffer {
  return e.device.createBuffer({ size: HYPER_BYTES, usage: Usage.UNIFORM | Usage.COPY_DST, label: 'optimizer-hyper' });
}

/**
 * Runs `gradients.length` steps on the GPU and in float64 from the same start; the learning rate
 * follows `schedule` (set between steps, as a schedule would). Returns both final states.
 */
async function runSteps(e: Engine, opt: Optimizer, w0: Float32Array, gradients: Float32Array[], schedule: number[]) {
  const n = w0.length;
  const params = uploadView(e, w0);
  const grads = uploadView(e, new Float32Array(n));
  const slots = opt.slotNames.map(() => uploadView(e, new Float32Array(n)));
  const hyper = uniformBuffer(e);
  const dispatch = opt.update(e, n, { params, grads, slots, hyper: { buffer: hyper } });
  const ref = referenceFor(opt);
  const w = toF64(w0);
  const refSlots = opt.slotNames.map(() => new Float64Array(n));
  gradients.forEach((g, k) => {
    opt.learningRate = schedule[k]!;
    e.write(hyper, opt.hyperparameters(k + 1));
    e.write(grads, g);
    e.run([dispatch]);
    ref(w, g, refSlots, schedule[k]!, k + 1);
  });
  const gpuW = await readF32(e, params, n);
  const gpuSlots = await Promise.all(slots.map((s) => readF32(e, s, n)));
  hyper.destroy();
  return { gpuW, gpuSlots, w, refSlots };
}

const VARIANTS: [string, () => Optimizer][] = [
  ['rmsprop', () => new RMSprop()],
  ['rmsprop momentum', () => new RMSprop({ momentum: 0.9 })],
  ['rmsprop centered', () => new RMSprop({ centered: true, rho: 0.8 })],
  ['rmsprop centered momentum', () => new RMSprop({ centered: true, momentum: 0.5, epsilon: 1e-6 })],
  ['adam', () => new Adam()],
  ['adam amsgrad', () => new Adam({ amsgrad: true, beta2: 0.9 })],
  ['sgd', () => new SGD()],
  ['sgd momentum', () => new SGD({ momentum: 0.9 })],
  ['sgd nesterov', () => new SGD({ momentum: 0.8, nesterov: true })],
];

describe('optimizer updates match Keras in float64', () => {
  for (const [name, make] of VARIANTS) {
    for (const n of [5, 1000]) {
      it(`${name}, n=${n}, 5 steps`, async () => {
        const e = engine();
        const opt = make();
        const w0 = randomArray(n, n + 1);
        // Gradient scales change between steps so that amsgrad's max(vhat, v) picks both sides.
        const gradients = [1, 0.2, 3, 0.05, 1].map((scale, k) => {
          const g = randomArray(n, 100 * n + k, scale);
          g.fill(0, Math.floor(n / 2), Math.floor(n / 2) + 2); // padding between weights: zero gradient
          return g;
        });
        const base = opt.learningRate * 10; // large steps make the displacement check meaningful
        const { gpuW, gpuSlots, w, refSlots } = await runSteps(e, opt, w0, gradients, [base, base, base / 2, base / 2, base / 4]);
        const wErr = relL2(gpuW, w);
        const displacementErr = relL2(gpuW.map((v, i) => v - w0[i]!), w.map((v, i) => v - w0[i]!));
        const slotErrs = gpuSlots.map((s, k) => relL2(s, refSlots[k]!));
        console.log(`${name} n=${n}: weights ${wErr.toExponential(2)}, displacement ${displacementErr.toExponential(2)}, ` +
          opt.slotNames.map((s, k) => `${s} ${slotErrs[k]!.toExponential(2)}`).join(', '));
        expect(wErr).toBeLessThanOrEqual(1e-5);
        expect(displacementErr).toBeLessThanOrEqual(1e-5);
        for (const err of slotErrs) expect(err).toBeLessThanOrEqual(1e-5);
        const pad = Math.floor(n / 2);
        expect([gpuW[pad], gpuW[pad + 1]]).toEqual([w0[pad], w0[pad + 1]]);
      });
    }
  }

  it('RMSprop divides by √(v + ε), not √v + ε', async () => {
    const e = engine();
    const n = 300;
    const opt = new RMSprop();
    const w0 = randomArray(n, 1, 1e-3); // weights near the step's size keep the displacement exact in f32
    const g = randomArray(n, 2).map((v) => (v < 0 ? -1e-4 : 1e-4));
    const { gpuW } = await runSteps(e, opt, w0, [g], [opt.learningRate]);
    const delta = gpuW.map((v, i) => v - w0[i]!);
    const inside = Float64Array.from(g, (gi) => (-1e-3 * gi) / Math.sqrt(0.1 * gi * gi + 1e-7));
    const outside = Float64Array.from(g, (gi) => (-1e-3 * gi) / (Math.sqrt(0.1 * gi * gi) + 1e-7));
    console.log(`RMSprop ε test: vs √(v+ε) ${relL2(delta, inside).toExponential(2)}, vs √v+ε ${relL2(delta, outside).toExponential(2)}`);
    expect(relL2(delta, inside)).toBeLessThanOrEqual(1e-5);
    expect(relL2(delta, outside)).toBeGreaterThan(0.5);
  });
});

describe('optimizer objects', () => {
  it('carry Keras defaults, slots and config', () => {
    const r = optimizers.rmsprop();
    expect(r.className).toBe('RMSprop');
    expect(r.slotNames).toEqual(['rms']);
    expect(r.getConfig()).toEqual({ learning_rate: 1e-3, rho: 0.9, momentum: 0, epsilon: 1e-7, centered: false });
    expect(new RMSprop({ momentum: 0.9, centered: true }).slotNames).toEqual(['rms', 'momentum', 'mg']);
    const a = optimizers.adam({ learningRate: 0.01, amsgrad: true });
    expect(a.slotNames).toEqual(['m', 'v', 'vhat']);
    expect(a.getConfig()).toEqual({ learning_rate: 0.01, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7, amsgrad: true });
    const s = optimizers.sgd();
    expect(s.slotNames).toEqual([]);
    expect(s.getConfig()).toEqual({ learning_rate: 0.01, momentum: 0, nesterov: false });
    expect(new SGD({ momentum: 0.9, nesterov: true }).slotNames).toEqual(['momentum']);
    expect(Optimizer.HYPER_BYTES).toBe(HYPER_BYTES);
  });

  it('fill the per-step uniform', () => {
    const a = new Adam({ learningRate: 0.01 });
    const h = a.hyperparameters(3);
    expect(h.byteLength).toBe(HYPER_BYTES);
    expect(h[0]).toBe(Math.fround(0.01));
    expect(h[1]).toBe(Math.fround((0.01 * Math.sqrt(1 - 0.999 ** 3)) / (1 - 0.9 ** 3)));
    expect(new RMSprop({ learningRate: 0.5 }).hyperparameters(1)[0]).toBe(0.5);
    expect(() => a.hyperparameters(0)).toThrow(/step must be an integer ≥ 1/);
  });

  it('name every baked constant in the kernel key', () => {
    const keys = [
      rmspropUpdate(64, { rho: 0.9, epsilon: 1e-7, momentum: 0, centered: false }),
      rmspropUpdate(64, { rho: 0.8, epsilon: 1e-7, momentum: 0, centered: false }),
      rmspropUpdate(64, { rho: 0.9, epsilon: 1e-6, momentum: 0, centered: false }),
      rmspropUpdate(64, { rho: 0.9, epsilon: 1e-7, momentum: 0.9, centered: false }),
      rmspropUpdate(64, { rho: 0.9, epsilon: 1e-7, momentum: 0, centered: true }),
      rmspropUpdate(65, { rho: 0.9, epsilon: 1e-7, momentum: 0, centered: false }),
      adamUpdate(64, { beta1: 0.9, beta2: 0.999, amsgrad: false }),
      adamUpdate(64, { beta1: 0.8, beta2: 0.999, amsgrad: false }),
      adamUpdate(64, { beta1: 0.9, beta2: 0.99, amsgrad: false }),
      adamUpdate(64, { beta1: 0.9, beta2: 0.999, amsgrad: true }),
      sgdUpdate(64, { momentum: 0, nesterov: false }),
      sgdUpdate(64, { momentum: 0.9, nesterov: false }),
      sgdUpdate(64, { momentum: 0.9, nesterov: true }),
    ].map((k) => k.key);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('resolve names and instances', () => {
    for (const name of ['rmsprop', 'RMSprop', 'adam', 'Adam', 'sgd', 'SGD']) expect(resolveOptimizer(name).className.toLowerCase()).toBe(name.toLowerCase());
    const mine = new Adam({ learningRate: 0.1 });
    expect(resolveOptimizer(mine)).toBe(mine);
    expect(() => resolveOptimizer('adagrad')).toThrow("unknown optimizer 'adagrad'; known: rmsprop, adam, sgd");
    expect(() => resolveOptimizer(3)).toThrow(/unknown optimizer 'number 3'; known: rmsprop, adam, sgd/);
  });

  it('reject bad configs with clear errors', () => {
    for (const lr of [0, -1, NaN, Infinity]) expect(() => new RMSprop({ learningRate: lr })).toThrow(/RMSprop: learningRate must be a finite number > 0/);
    expect(() => new RMSprop({ rho: 1 })).toThrow(/rho must be in \[0, 1\)/);
    expect(() => new RMSprop({ epsilon: 0 })).toThrow(/epsilon must be a finite number > 0/);
    expect(() => new SGD({ momentum: -0.1 })).toThrow(/SGD: momentum must be in \[0, 1\]/);
    expect(() => new Adam({ beta1: 1 })).toThrow(/beta1 must be in \[0, 1\)/);
    expect(() => new Adam({ beta2: -0.5 })).toThrow(/beta2/);
    expect(() => new RMSprop({ centered: 'yes' as unknown as boolean })).toThrow(/centered must be true or false/);
    expect(() => new Adam({ learning_rate: 0.1 } as never)).toThrow(/Adam: unknown option 'learning_rate'; known: learningRate/);
    expect(() => new SGD(null as never)).toThrow(/config must be an object/);
    const o = new SGD();
    expect(() => (o.learningRate = -1)).toThrow(/learningRate/);
  });

  it('check the slot count when binding', () => {
    const e = engine();
    const v = uploadView(e, new Float32Array(4));
    expect(() => new Adam().update(e, 4, { params: v, grads: v, slots: [v], hyper: v })).toThrow(/Adam needs 2 slot buffers \(m, v\), got 1/);
  });
});
