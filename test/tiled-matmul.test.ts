/**
 * The workgroup-tiled matrix product (shaders/tiled-matmul.ts, src/ops/matmul.ts), forced on
 * SwiftShader: every preset with each transpose and epilogue against float64 on shapes that are
 * multiples of neither the tiles nor 4 (and ones that are multiples of 4 but not of the tiles:
 * the vec4 path), split-K, double buffering on and off, subgroup shuffles (SwiftShader has the
 * 'subgroups' feature), the barrier test, dense's three products (also by finite differences of
 * the float64 dense), and the configuration errors. Printed figures: MATMUL_ERRORS=1.
 */
import { describe, expect, it } from 'vitest';
import type { Engine } from '../src/runtime/engine.ts';
import { denseMatmulGeometries, matmul, matmulConfigProblem, matmulGeometry, matmulScratchFloats, MATMUL_TILES, type MatmulGeometry, type MatmulTileName, type TileConfig, DEFAULT_MATMUL_LIMITS } from '../src/ops/matmul.ts';
import { matmulBindings, shuffleConditionProbe, tiledMatmul } from '../shaders/tiled-matmul.ts';
import { finiteDifferences, measuredErrors, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, toF64, uploadView, useEngine } from './helpers.ts';

const engine = useEngine();
const record = measuredErrors('MATMUL_ERRORS', ['relL2 vs float64', 'finite differences']);

interface Operands {
  a: Float32Array;
  b: Float32Array;
  maskA: Float32Array | null;
  maskB: Float32Array | null;
  bias: Float32Array | null;
  /** C's initial contents when accumulating. */
  c0: Float32Array | null;
}

const floatsOf = (g: MatmulGeometry) => ({
  a: (g.batch - 1) * g.strideA + g.m * g.k,
  b: (g.batch - 1) * g.strideB + g.k * g.n,
  c: (g.batch - 1) * g.strideC + g.m * g.n,
});

function operandsFor(g: MatmulGeometry, seed: number): Operands {
  const f = floatsOf(g);
  return {
    a: randomArray(f.a, seed),
    b: randomArray(f.b, seed + 1),
    maskA: g.maskA ? randomArray(f.a, seed + 2) : null,
    maskB: g.maskB ? randomArray(f.b, seed + 3) : null,
    bias: g.bias ? randomArray(g.n, seed + 4) : null,
    c0: g.accumulate ? randomArray(f.c, seed + 5) : null,
  };
}

/** C in float64, element (batch, i, j) at batch·strideC + i·n + j; positions between batches are left NaN. */
function reference(g: MatmulGeometry, d: Operands): Float64Array {
  const out = new Float64Array(floatsOf(g).c).fill(NaN);
  const opA = (b: number, i: number, kk: number) => {
    const at = b * g.strideA + (g.transposeA ? kk * g.m + i : i * g.k + kk);
    return d.maskA && !(d.maskA[at]! > 0) ? 0 : d.a[at]!;
  };
  const opB = (b: number, kk: number, j: number) => {
    const at = b * g.strideB + (g.transposeB ? j * g.k + kk : kk * g.n + j);
    return d.maskB && !(d.maskB[at]! > 0) ? 0 : d.b[at]!;
  };
  for (let b = 0; b < g.batch; b++) {
    for (let i = 0; i < g.m; i++) {
      for (let j = 0; j < g.n; j++) {
        let s = 0;
        for (let kk = 0; kk < g.k; kk++) s += opA(b, i, kk) * opB(b, kk, j);
        if (d.bias) s += d.bias[j]!;
        if (g.relu) s = Math.max(s, 0);
        const at = b * g.strideC + i * g.n + j;
        out[at] = (d.c0 ? d.c0[at]! : 0) + s;
      }
    }
  }
  return out;
}

/** The elements of C (every batch's m × n), leaving out the gaps of a padded strideC. */
function elementsOfC(g: MatmulGeometry, c: ArrayLike<number>): Float64Array {
  const out = new Float64Array(g.batch * g.m * g.n);
  for (let b = 0; b < g.batch; b++) for (let e = 0; e < g.m * g.n; e++) out[b * g.m * g.n + e] = c[b * g.strideC + e]!;
  return out;
}

/** Runs the product on `e` with C NaN-prefilled (or holding d.c0) and returns C as read back. */
async function runMatmul(e: Engine, g: MatmulGeometry, config: TileConfig, d: Operands): Promise<Float32Array> {
  const f = floatsOf(g);
  const c = d.c0 ? uploadView(e, d.c0) : nanBuffer(e, f.c);
  const scratch = matmulScratchFloats(g, config);
  e.run(
    matmul(
      e,
      g,
      {
        a: uploadView(e, d.a),
        b: uploadView(e, d.b),
        ...(d.maskA ? { maskA: uploadView(e, d.maskA) } : {}),
        ...(d.maskB ? { maskB: uploadView(e, d.maskB) } : {}),
        ...(d.bias ? { bias: uploadView(e, d.bias) } : {}),
        ...(scratch ? { partial: nanBuffer(e, scratch) } : {}),
        c,
      },
      config,
    ),
  );
  return readF32(e, c, f.c);
}

/** Runs g with `config` against float64, records and returns relL2 under `group`. */
async function check(e: Engine, group: string, g: MatmulGeometry, config: TileConfig, seed: number): Promise<number> {
  const d = operandsFor(g, seed);
  const got = await runMatmul(e, g, config, d);
  return record(group, 'relL2 vs float64', relL2(elementsOfC(g, got), elementsOfC(g, reference(g, d))));
}

const TOLERANCE = 1e-5;

// m, n, k multiples of neither the tiles nor 4 (scalar loads), batch 3.
const ODD = { batch: 3, m: 67, n: 45, k: 37 };
// Multiples of 4 but not of the tiles: every operand loads as vec4, whatever the transposes.
const ALIGNED = { batch: 2, m: 68, n: 44, k: 36 };
// k below every preset's tileK.
const SHORT_K = { batch: 1, m: 19, n: 23, k: 5 };

/** The cases the presets run: every transpose, every epilogue option, both load widths, a short k. */
const cases = {
  plain: { name: 'odd, A·B + bias, relu', g: { ...ODD, bias: true, relu: true }, loads: 'loadA1B1' },
  transposeA: { name: 'aligned, Aᵀ·B, accumulate', g: { ...ALIGNED, transposeA: true, accumulate: true }, loads: 'loadA4B4' },
  transposeB: { name: 'odd, A·Bᵀ, masks + bias', g: { ...ODD, transposeB: true, maskA: true, maskB: true, bias: true }, loads: 'loadA1B1' },
  short: { name: 'short k, Aᵀ·Bᵀ + bias, relu, accumulate', g: { ...SHORT_K, transposeA: true, transposeB: true, bias: true, relu: true, accumulate: true }, loads: 'loadA1B1' },
} satisfies Record<string, { name: string; g: Parameters<typeof matmulGeometry>[0]; loads: string }>;
type CaseName = keyof typeof cases;

/**
 * Which cases each preset runs. A pipeline compiles in 0.3–3 s on SwiftShader, so the big tiles
 * run one case each; every preset, transpose and option appears, and the other describes add
 * more (gpu-32x32-4x4 and gpu-64x64-4x4 below, skinny and tall in dense's products).
 */
const presetRuns: Record<Exclude<MatmulTileName, 'gpu-64x64-4x4-subgroups'>, CaseName[]> = {
  'small-16x16': ['plain', 'transposeA', 'transposeB', 'short'],
  'gpu-32x32-4x4': ['plain', 'transposeA'],
  'gpu-64x64-4x4': ['transposeB', 'short'],
  'gpu-128x64-8x4': ['plain'],
  'gpu-128x128-8x8': ['transposeA'],
  'skinny-16x128': ['transposeB'],
  'tall-128x16': ['plain'],
  'splitk-32x32-s4': ['transposeA'],
};

/** A config for preset `name` that runs g: split-K presets cap their slices at k's tiles. */
function presetFor(name: MatmulTileName, g: MatmulGeometry): TileConfig {
  const preset = MATMUL_TILES[name];
  return { ...preset, splitK: Math.min(preset.splitK, Math.ceil(g.k / preset.tileK)) };
}

describe('tiled matmul presets against float64', () => {
  for (const [preset, runs] of Object.entries(presetRuns) as [keyof typeof presetRuns, CaseName[]][]) {
    it(preset, async () => {
      const e = engine();
      for (const [i, name] of runs.entries()) {
        const c = cases[name];
        // Split-K presets get a k long enough for every slice (k = 101: 7 tiles of 16).
        const g = matmulGeometry(MATMUL_TILES[preset].splitK > 1 ? { ...c.g, k: 101 } : c.g);
        const config = presetFor(preset, g);
        expect(tiledMatmul(g, config).key).toContain(c.loads);
        expect(await check(e, `${preset}: ${c.name}`, g, config, 10 * i + 1), `${preset}: ${c.name}`).toBeLessThanOrEqual(TOLERANCE);
      }
    });
  }

  it('mixed load widths, a shared B (strideB 0) and a padded C (strideC > m·n)', async () => {
    const e = engine();
    // A transposed is stored [k, m] with m = 40: vec4; B is [37, 45]: scalar.
    const g = matmulGeometry({ batch: 3, m: 40, n: 45, k: 37, transposeA: true, strideB: 0, strideC: 40 * 45 + 7, bias: true });
    const config = MATMUL_TILES['gpu-64x64-4x4'];
    expect(tiledMatmul(g, config).key).toContain('loadA4B1');
    expect(await check(e, 'gpu-64x64-4x4: mixed widths, strides', g, config, 7)).toBeLessThanOrEqual(TOLERANCE);
  });
});

describe('tiled matmul options', () => {
  it('split-K with 2 and 3 slices, the epilogue in the sum kernel', async () => {
    const e = engine();
    const shapes = [
      { name: 'odd, A·B + bias, relu', g: { batch: 2, m: 21, n: 19, k: 203, bias: true, relu: true } },
      { name: 'aligned, Aᵀ·Bᵀ, accumulate', g: { batch: 1, m: 20, n: 28, k: 200, transposeA: true, transposeB: true, accumulate: true } },
    ];
    const runs = [
      { splitK: 2, base: 'small-16x16', shape: shapes[0]! },
      { splitK: 3, base: 'small-16x16', shape: shapes[1]! },
      { splitK: 3, base: 'gpu-64x64-4x4', shape: shapes[0]! },
      { splitK: 2, base: 'gpu-32x32-4x4', shape: shapes[1]! },
    ] as const;
    for (const { splitK, base, shape } of runs) {
      const config = { ...MATMUL_TILES[base], splitK };
      const name = `split-K ${splitK} (${base}): ${shape.name}`;
      expect(await check(e, name, matmulGeometry(shape.g), config, splitK), name).toBeLessThanOrEqual(TOLERANCE);
    }
  });

  it('double buffering on and off, vec4 on and off, give the same products', async () => {
    const e = engine();
    const g = matmulGeometry({ ...ALIGNED, transposeB: true, bias: true });
    for (const doubleBuffer of [false, true]) {
      for (const vec4 of [false, true]) {
        const config = { ...MATMUL_TILES['gpu-32x32-4x4'], doubleBuffer, vec4 };
        expect(tiledMatmul(g, config).key).toContain(vec4 ? 'loadA4B4' : 'loadA1B1');
        const name = `gpu-32x32-4x4, ${doubleBuffer ? 'double' : 'single'} buffer, ${vec4 ? 'vec4' : 'scalar'} loads`;
        expect(await check(e, name, g, config, 3), name).toBeLessThanOrEqual(TOLERANCE);
      }
    }
  });
});

describe('barriers', () => {
  // 32 × 32 × 256 on 32 × 32 tiles: one workgroup, 16 steps along k of 16.
  const g = matmulGeometry({ batch: 1, m: 32, n: 32, k: 256 });

  it('the kernel without its barriers is wrong where the real one is right (single and double buffered)', async () => {
    const e = engine();
    for (const doubleBuffer of [false, true]) {
      const config = { ...MATMUL_TILES['gpu-32x32-4x4'], doubleBuffer };
      const right = await check(e, `barriers kept, ${doubleBuffer ? 'double' : 'single'}`, g, config, 5);
      const broken = await check(e, `barriers omitted (must fail), ${doubleBuffer ? 'double' : 'single'}`, g, { ...config, unsafeOmitBarriers: true }, 5);
      expect(right).toBeLessThanOrEqual(TOLERANCE);
      // Finite: the broken kernel ran (a NaN would mean it failed some other way) and raced.
      expect(broken).toBeGreaterThan(1e-2);
      expect(broken).toBeLessThan(Infinity);
    }
  });

  /**
   * In main()'s text, a barrier stands between every write of a tile (stageA/B) and the next
   * product (multiplyTiles*), and the loop over k ends with one (which orders this step's reads
   * before the next step's writes): a deterministic twin of the race test above.
   */
  function barriersOrdered(code: string): boolean {
    const body = code.slice(code.indexOf('fn main('));
    const events = [...body.matchAll(/workgroupBarrier\(\)|stage[AB]\(|multiplyTiles\w*\(|for \(var t = /g)].map((m) => m[0]);
    let staged = false;
    for (const ev of events) {
      if (ev.startsWith('stage')) staged = true;
      else if (ev.startsWith('workgroupBarrier')) staged = false;
      else if (ev.startsWith('multiplyTiles') && staged) return false;
    }
    const loop = body.slice(body.indexOf('for (var t = '));
    const end = loop.indexOf('\n  }');
    return /workgroupBarrier\(\);[^\n]*$/.test(loop.slice(0, end));
  }

  it('every tile write is followed by a barrier before the product reads it (WGSL text)', () => {
    for (const name of Object.keys(MATMUL_TILES) as MatmulTileName[]) {
      const config = presetFor(name, g);
      expect(barriersOrdered(tiledMatmul(g, config).code), name).toBe(true);
      expect(barriersOrdered(tiledMatmul(g, { ...config, unsafeOmitBarriers: true }).code), `${name} without barriers`).toBe(false);
    }
  });
});

describe('subgroups', () => {
  it("SwiftShader's subgroups pass the kernel's shuffle condition, and the shuffled product matches float64", async () => {
    const e = engine();
    const config = MATMUL_TILES['gpu-64x64-4x4-subgroups'];
    const g = matmulGeometry({ ...ODD, transposeB: true, maskA: true, maskB: true, bias: true });
    // A device without the feature is refused (the engine asks for 'subgroups' where the adapter has it).
    const without = { limits: e.limits, device: { features: new Set<string>() } } as unknown as Engine;
    expect(() => matmul(without, g, { a: nanBuffer(e, 4), b: nanBuffer(e, 4), c: nanBuffer(e, 4) }, config)).toThrow(/'subgroups' feature/);
    expect(e.device.features.has('subgroups'), 'this adapter has no subgroups: the shuffle path is untested here').toBe(true);
    // The condition main() evaluates, run alone: all ones means the shuffles below really run.
    const flags = nanBuffer(e, 256);
    e.run([e.kernel({ key: 'test:shuffle-condition', code: shuffleConditionProbe(config), bindings: ['write'], workgroups: [1, 1, 1] }, [flags])]);
    expect([...(await readF32(e, flags, 256))].every((v) => v === 1)).toBe(true);
    expect(await check(e, 'gpu-64x64-4x4-subgroups: ' + cases.transposeB.name, g, config, 11)).toBeLessThanOrEqual(TOLERANCE);
    const single = { ...config, doubleBuffer: false };
    const gA = matmulGeometry({ ...ALIGNED, transposeA: true, relu: true });
    expect(await check(e, 'gpu-64x64-4x4-subgroups, single buffer: aligned, Aᵀ·B, relu', gA, single, 9)).toBeLessThanOrEqual(TOLERANCE);
  });
});

describe("dense's three products through matmul", () => {
  // rows 37, inputs 29, units 19 (relu and bias): the tall and skinny presets where they fit.
  const rows = 37;
  const inputs = 29;
  const units = 19;
  const products = denseMatmulGeometries({ rows, inputs, units, relu: true, bias: true });
  const x = randomArray(rows * inputs, 101);
  const w = randomArray(inputs * units, 102, 0.5);
  const b = randomArray(units, 103, 0.5);
  const r = randomArray(rows * units, 104);

  /** L = Σ r ⊙ relu(x·W + b) in float64, whose gradients the backward products must give. */
  function loss(x64: ArrayLike<number>, w64: ArrayLike<number>): number {
    let s = 0;
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < units; j++) {
        let z = b[j]!;
        for (let k = 0; k < inputs; k++) z += x64[i * inputs + k]! * w64[k * units + j]!;
        s += r[i * units + j]! * Math.max(z, 0);
      }
    }
    return s;
  }

  it('y = relu(x·W + b), dx = (dy ⊙ [y > 0])·Wᵀ, dW = xᵀ·(dy ⊙ [y > 0]) against float64 and finite differences', async () => {
    const e = engine();
    const y = await runMatmul(e, products.forward, MATMUL_TILES['gpu-64x64-4x4'], { a: x, b: w, maskA: null, maskB: null, bias: b, c0: null });
    const yRef = reference(products.forward, { a: x, b: w, maskA: null, maskB: null, bias: b, c0: null });
    expect(record('dense forward (gpu-64x64-4x4)', 'relL2 vs float64', relL2(y, yRef))).toBeLessThanOrEqual(TOLERANCE);
    // The backward products read dy = r and mask it by the forward output y.
    const dxOps = { a: r, b: w, maskA: y, maskB: null, bias: null, c0: null };
    const dx = await runMatmul(e, products.inputGrad, MATMUL_TILES['skinny-16x128'], dxOps);
    expect(record('dense dx (skinny-16x128)', 'relL2 vs float64', relL2(dx, reference(products.inputGrad, dxOps)))).toBeLessThanOrEqual(TOLERANCE);
    const dwOps = { a: x, b: r, maskA: null, maskB: y, bias: null, c0: null };
    const dw = await runMatmul(e, products.kernelGrad, MATMUL_TILES['tall-128x16'], dwOps);
    expect(record('dense dW (tall-128x16)', 'relL2 vs float64', relL2(dw, reference(products.kernelGrad, dwOps)))).toBeLessThanOrEqual(TOLERANCE);
    const dwSplit = await runMatmul(e, products.kernelGrad, { ...MATMUL_TILES['splitk-32x32-s4'], splitK: 3 }, dwOps);
    expect(record('dense dW (splitk-32x32, 3 slices)', 'relL2 vs float64', relL2(dwSplit, reference(products.kernelGrad, dwOps)))).toBeLessThanOrEqual(TOLERANCE);

    const x64 = toF64(x);
    const w64 = toF64(w);
    const ix = sampleIndices(x.length, 40, 1);
    const iw = sampleIndices(w.length, 40, 2);
    const fdX = finiteDifferences((v) => loss(v, w64), x64, ix);
    const fdW = finiteDifferences((v) => loss(x64, v), w64, iw);
    expect(record('dense dx (skinny-16x128)', 'finite differences', relL2(pick(dx, ix), fdX))).toBeLessThanOrEqual(1e-5);
    expect(record('dense dW (tall-128x16)', 'finite differences', relL2(pick(dw, iw), fdW))).toBeLessThanOrEqual(1e-5);
  });
});

describe('configuration errors', () => {
  const g = matmulGeometry(ODD);
  const base = MATMUL_TILES['gpu-64x64-4x4'];

  it('name the field, what was expected and what came', () => {
    expect(() => tiledMatmul(g, { ...base, tileM: 60 })).toThrow(/tileM must equal wgY × blockRows \(16 × 4 = 64\), got 60/);
    expect(() => tiledMatmul(g, { ...base, blockCols: 3 })).toThrow(/tileN must equal wgX × blockCols \(16 × 3 = 48\), got 64/);
    expect(() => tiledMatmul(g, { ...base, wgX: 32, tileN: 128 })).toThrow(/wgX × wgY must be at most 256 invocations, got 32 × 16 = 512/);
    expect(() => tiledMatmul(g, { ...base, tileK: 32 })).toThrow(/need 32768 bytes of workgroup memory, expected at most 16384/);
    expect(() => tiledMatmul(g, { ...base, tileK: 0 })).toThrow(/tileK must be a positive integer, got 0/);
    expect(() => tiledMatmul(g, { ...base, vec4: 1 as unknown as boolean })).toThrow(/vec4 must be true or false, got 1/);
    expect(() => tiledMatmul(g, { ...base, splitK: 6 })).toThrow(/splitK must be at most 5 \(k = 37 is 5 tiles of tileK = 8\), got 6/);
    expect(() => tiledMatmul(g, { ...base, splitK: 4 })).toThrow(/splitK 4 leaves its last slice empty/);
    expect(() => matmulGeometry({ m: 0, n: 3, k: 2 })).toThrow(/matmul: m must be a positive integer, got 0/);
    expect(() => matmulGeometry({ batch: 2, m: 3, n: 3, k: 2, strideC: 4 })).toThrow(/strideC must be at least m × n = 9/);
    expect(() => matmulGeometry({ m: 3, n: 3, k: 2, strideA: -1 })).toThrow(/strideA must be a non-negative integer, got -1/);
    expect(() => matmulGeometry({ m: 3, n: 3, k: 2, relu: 'yes' as unknown as boolean })).toThrow(/relu must be true or false, got yes/);
  });

  it('matmul checks its views; matmulConfigProblem says why a preset does not apply', () => {
    const e = engine();
    const biased = matmulGeometry({ ...ODD, bias: true });
    const f = floatsOf(biased);
    const views = { a: nanBuffer(e, f.a), b: nanBuffer(e, f.b), c: nanBuffer(e, f.c) };
    expect(() => matmul(e, biased, views, base)).toThrow(/views\.bias is required/);
    expect(() => matmul(e, biased, { ...views, bias: nanBuffer(e, 4) }, base)).toThrow(/views\.bias must hold at least 45 floats, got 4/);
    expect(() => matmul(e, g, { ...views, a: nanBuffer(e, 12) }, base)).toThrow(/views\.a must hold at least/);
    expect(() => matmul(e, g, views, { ...base, splitK: 2 })).toThrow(/views\.partial is required/);
    const device = { limits: DEFAULT_MATMUL_LIMITS, features: { subgroups: false } };
    expect(matmulConfigProblem(g, base, device)).toBeNull();
    expect(matmulConfigProblem(g, MATMUL_TILES['gpu-64x64-4x4-subgroups'], device)).toMatch(/'subgroups' feature/);
    expect(matmulConfigProblem(matmulGeometry(SHORT_K), MATMUL_TILES['splitk-32x32-s4'], device)).toMatch(/splitK must be at most 1/);
    expect(matmulConfigProblem(g, base, { ...device, limits: { ...DEFAULT_MATMUL_LIMITS, maxComputeWorkgroupStorageSize: 4096 } })).toMatch(/expected at most 4096/);
  });

  it('the product binds what matmulBindings lists', () => {
    const bindings = matmulBindings(matmulGeometry({ ...ODD, maskA: true, bias: true }), base).map((b) => b.name);
    expect(bindings).toEqual(['a', 'b', 'maskA', 'bias', 'c']);
    expect(matmulBindings(g, { ...base, splitK: 2 }).map((b) => b.name)).toEqual(['a', 'b', 'partial']);
  });
});
