/**
 * shaders/wgsl.ts (the WGSL-building helpers every family shares) and the engine's shader dump
 * (EngineOptions.dumpShaders, WEBGPU_TRAIN_DUMP_WGSL): tiny kernels written with the helpers run
 * against JS references on NaN-filled outputs, and the dump hands out each compiled source once.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BindingKind, KernelSource } from '../shaders/kernel.ts';
import {
  activation,
  channelReader,
  channelWriter,
  constants,
  each,
  each2,
  f32,
  flatIndex,
  grid,
  literal,
  matrixReader,
  matrixWriter,
} from '../shaders/wgsl.ts';
import { createEngine, DUMP_WGSL_ENV, shaderDumpFileName, shaderDumpText } from '../src/runtime/engine.ts';
import { nanBuffer, randomArray, readF32, uploadView, useEngine } from './helpers.ts';

const engine = useEngine();

/**
 * y[r, c] = act(x[r, c]·SCALE + (ROWS − 1 − r)·STEP), one invocation per row, the row's groups of
 * 4 columns unrolled; constants of every type, the row index mixing u32, i32 and abstract ones.
 */
function scaleRows(rows: number, cols: number, relu: boolean, scale: number, step: number): KernelSource {
  const WG = 4;
  const { workgroups, rowStride } = grid(rows, WG);
  return {
    key: `test-scale-rows:${rows}:${cols}:${relu}:${f32(scale)}:${f32(step)}`,
    bindings: ['read', 'write'],
    workgroups,
    code: `
${matrixReader('x', 0, cols)}
${matrixWriter('y', 1, cols)}
${constants({ ROWS: rows })}
${constants({ SCALE: scale, STEP: step }, 'f32')}
${constants({ MINUS_ONE: -1 }, 'i32')}
${constants({ ONE: 1 }, 'abstract')}
${activation(relu)}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, rows, 'r')}
  let offset = vec4f(f32(i32(ROWS - ONE - r) + MINUS_ONE + ONE) * STEP);
  ${each(Math.ceil(cols / 4), (q) => `store_y(r, ${4 * q}u, activate(load_x(r, ${4 * q}u) * SCALE + offset));`)}
}`,
  };
}

/** y = 2·x over rows of `channels` floats, a block of 2 rows × every vec4 group per invocation (rows even). */
function doubleChannels(rows: number, channels: number): KernelSource {
  const groups = Math.ceil(channels / 4);
  const { workgroups, rowStride } = grid(rows / 2, 4);
  return {
    key: `test-double-channels:${rows}:${channels}`,
    bindings: ['read', 'write'],
    workgroups,
    code: `
${channelReader('x', 0, rows, channels)}
${channelWriter('y', 1, channels)}

@compute @workgroup_size(4)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, rows / 2)}
  ${each2(2, groups, (j, q) => `store_y(i * 2u + ${j}u, ${q}u, read_x(i * 2u + ${j}u, ${q}u) * 2.0);`)}
}`,
  };
}

/** out[i] = i for i < n, in workgroups of one: a launch over 65,535 groups folds into 2-D. */
function iota(n: number): KernelSource {
  const { workgroups, rowStride } = grid(n, 1);
  return {
    key: `test-iota:${n}`,
    bindings: ['write'],
    workgroups,
    code: `
@group(0) @binding(0) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, n)}
  out[i] = f32(i);
}`,
  };
}

/** Runs `source` on `inputs` and a NaN-filled output of `n + 4` floats; returns all of it (the 4 past n must stay NaN). */
async function run(source: KernelSource, inputs: Float32Array[], n: number): Promise<Float32Array> {
  const e = engine();
  const out = nanBuffer(e, n + 4);
  e.run([e.kernel(source, [...inputs.map((a) => uploadView(e, a)), out])]);
  return readF32(e, out, n + 4);
}

function expectClose(actual: Float32Array, expected: Float64Array): void {
  for (let i = 0; i < expected.length; i++) {
    const tolerance = 1e-6 * Math.max(1, Math.abs(expected[i]!));
    if (!(Math.abs(actual[i]! - expected[i]!) <= tolerance)) throw new Error(`element ${i}: ${actual[i]} vs ${expected[i]}`);
  }
  for (let i = expected.length; i < actual.length; i++) expect(actual[i], `element ${i} past the end`).toBeNaN();
}

describe('WGSL helpers (shaders/wgsl.ts)', () => {
  it('format literals and named constants', () => {
    expect(f32(1)).toBe('1.0');
    expect(f32(0.1)).toBe('0.10000000149011612');
    expect(f32(-2.5e-8)).toMatch(/e-8$/);
    expect(Number(f32(-2.5e-8))).toBe(Math.fround(-2.5e-8));
    expect(() => f32(Infinity)).toThrow(/non-finite/);
    expect(literal(28, 'u32')).toBe('28u');
    expect(literal(-3, 'i32')).toBe('-3i');
    expect(literal(7, 'abstract')).toBe('7');
    expect(literal(0.5, 'f32')).toBe('0.5');
    expect(constants({ IN_H: 28, IN_W: 27 })).toBe('const IN_H = 28u;\nconst IN_W = 27u;');
    expect(constants({ PAD_TOP: 1 }, 'abstract')).toBe('const PAD_TOP = 1;');
    expect(() => constants({ X: 0.75 })).toThrow(/as an integer/);
    expect(() => constants({ X: -1 })).toThrow(/as u32/);
    expect(() => constants({ X: 2 ** 31 }, 'i32')).toThrow(/as i32/);
    expect(() => constants({ inH: 1 })).toThrow(/UPPER_SNAKE_CASE/);
  });

  it('fold a launch past 65,535 workgroups into 2-D', () => {
    expect(grid(100, 64)).toEqual({ workgroups: [2, 1, 1], rowStride: 128 });
    expect(grid(0, 64)).toEqual({ workgroups: [1, 1, 1], rowStride: 64 });
    expect(grid(65535 * 64 + 1, 64)).toEqual({ workgroups: [65535, 2, 1], rowStride: 65535 * 64 });
    expect(flatIndex(128, 100, 't')).toBe('let t = gid.x + gid.y * 128u;\n  if (t >= 100u) { return; }');
    expect(each(3, (i) => `a${i};`)).toBe('a0;\n  a1;\n  a2;');
    expect(each(2, (i) => [`a${i};`, `b${i};`], ' ')).toBe('a0; b0; a1; b1;');
    expect(each2(2, 3, (i, j) => `${i}${j}`, ',')).toBe('00,01,02,10,11,12');
  });

  for (const [cols, relu] of [[8, true], [6, false], [3, true]] as const) {
    it(`read and write rows of ${cols} floats (matrixReader / matrixWriter, ${relu ? 'ReLU' : 'linear'})`, async () => {
      const rows = 9;
      const scale = 0.75;
      const step = -0.125;
      const x = randomArray(rows * cols, 11 + cols);
      const expected = new Float64Array(rows * cols);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          const v = Math.fround(x[r * cols + c]! * scale) + (rows - 1 - r) * step;
          expected[r * cols + c] = relu ? Math.max(v, 0) : v;
        }
      }
      expectClose(await run(scaleRows(rows, cols, relu, scale, step), [x], rows * cols), expected);
    });
  }

  for (const channels of [8, 6]) {
    it(`read and write rows of ${channels} channels by vec4 groups (channelReader / channelWriter, each2)`, async () => {
      const rows = 10;
      const x = randomArray(rows * channels, 23 + channels);
      expectClose(await run(doubleChannels(rows, channels), [x], rows * channels), Float64Array.from(x, (v) => 2 * v));
    });
  }

  it('index a 2-D launch with flatIndex and leave the invocations past the count out', async () => {
    const n = 65535 + 5;
    const source = iota(n);
    expect(source.workgroups).toEqual([65535, 2, 1]);
    expectClose(await run(source, [], n), Float64Array.from({ length: n }, (_, i) => i));
  });
});

describe('shader dump', () => {
  const source = (): KernelSource => iota(7);

  it('hands a callback each newly compiled kernel once: key, code and bindings', async () => {
    const seen: [string, string, readonly BindingKind[]][] = [];
    const dumping = await createEngine({ device: engine().device, dumpShaders: (key, code, bindings) => seen.push([key, code, bindings]) });
    try {
      const s = source();
      for (let k = 0; k < 2; k++) dumping.kernel(s, [dumping.buffer(32)]); // the second finds the pipeline cached
      expect(seen).toEqual([[s.key, s.code, ['write']]]);
    } finally {
      dumping.dispose();
    }
  });

  it('writes <key>.wgsl files into a directory, from the option or the environment (Node)', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wgsl-dump-'));
    const saved = process.env[DUMP_WGSL_ENV];
    try {
      const s = source();
      const fromOption = path.join(root, 'option');
      const fromEnv = path.join(root, 'env');
      const off = path.join(root, 'off');
      const optionEngine = await createEngine({ device: engine().device, dumpShaders: fromOption });
      process.env[DUMP_WGSL_ENV] = fromEnv;
      const envEngine = await createEngine({ device: engine().device });
      process.env[DUMP_WGSL_ENV] = off;
      const offEngine = await createEngine({ device: engine().device, dumpShaders: false });
      for (const e of [optionEngine, envEngine, offEngine]) {
        e.kernel(s, [e.buffer(32)]);
        e.dispose();
      }
      const name = shaderDumpFileName(s.key);
      expect(name).toMatch(/^test-iota_7-[0-9a-f]{8}\.wgsl$/);
      for (const dir of [fromOption, fromEnv]) {
        const text = fs.readFileSync(path.join(dir, name), 'utf8');
        expect(text).toBe(shaderDumpText(s.key, s.code, s.bindings));
        expect(text.split('\n')[0]).toBe('// test-iota:7 | bindings: 0 write');
        expect(text.slice(text.indexOf('\n') + 1)).toBe(`${s.code}\n`);
      }
      expect(fs.existsSync(off)).toBe(false);
    } finally {
      if (saved === undefined) delete process.env[DUMP_WGSL_ENV];
      else process.env[DUMP_WGSL_ENV] = saved;
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('names files after their keys, sanitized, with a hash that keeps keys apart', () => {
    const a = shaderDumpFileName('conv2d-forward:registers:n2-in5x5x3/../x y');
    expect(a).toMatch(/^conv2d-forward_registers_n2-in5x5x3_.._x_y-[0-9a-f]{8}\.wgsl$/);
    expect(shaderDumpFileName('a:b')).not.toBe(shaderDumpFileName('a_b'));
    expect(shaderDumpFileName('..')).toMatch(/^_-[0-9a-f]{8}\.wgsl$/);
    expect(shaderDumpFileName('k'.repeat(500)).length).toBeLessThanOrEqual(160 + 15);
  });
});
