import { describe, expect, it } from 'vitest';
import { createEngine } from '../src/runtime/engine.ts';
import { scale } from '../shaders/elementwise.ts';
import { uploadView, nanBuffer, readF32 } from './helpers.ts';
import { conv2dGeometry, conv2dVariants } from '../src/ops/conv2d.ts';

describe('engine runtime', () => {
  it('finds the adapter, caches pipelines and counts work', async () => {
    const engine = await createEngine();
    try {
      const s0 = engine.stats();
      expect(s0.adapter.length).toBeGreaterThan(0);
      const x = uploadView(engine, new Float32Array([1, 2, 3, 4]));
      const out = nanBuffer(engine, 4);
      const d1 = engine.kernel(scale(4, 2), [x, out]);
      const d2 = engine.kernel(scale(4, 2), [x, out]);
      expect(d1.pipeline).toBe(d2.pipeline);
      engine.run([d1, d2]);
      expect([...(await readF32(engine, out, 4))]).toEqual([2, 4, 6, 8]);
      const s1 = engine.stats();
      expect(s1.readbacks - s0.readbacks).toBe(1);
      expect(s1.bindGroupsCreated - s0.bindGroupsCreated).toBe(2 + 1); // + the NaN fill
    } finally {
      engine.dispose();
    }
  });

  it('sets a pipeline once for a run of dispatches that share it, each with its own bindings', async () => {
    const engine = await createEngine();
    try {
      const x = uploadView(engine, new Float32Array([1, 2, 3, 4]));
      const [a, b, c] = [nanBuffer(engine, 4), nanBuffer(engine, 4), nanBuffer(engine, 4)];
      const double1 = engine.kernel(scale(4, 2), [x, a]);
      const double2 = engine.kernel(scale(4, 2), [a, b]);
      const triple = engine.kernel(scale(4, 3), [b, c]);
      const calls: string[] = [];
      const name = (p: unknown) => (p === double1.pipeline ? 'double' : p === triple.pipeline ? 'triple' : '?');
      const pass = {
        setPipeline: (p: unknown) => calls.push(`pipeline ${name(p)}`),
        setBindGroup: (_: number, g: unknown) => calls.push(g === double1.bindGroup ? 'x→a' : g === double2.bindGroup ? 'a→b' : 'b→c'),
        dispatchWorkgroups: () => calls.push('dispatch'),
        end: () => calls.push('end'),
      };
      engine.encode({ beginComputePass: () => pass } as unknown as GPUCommandEncoder, [double1, double2, triple, double1]);
      expect(calls).toEqual([
        'pipeline double', 'x→a', 'dispatch', 'a→b', 'dispatch',
        'pipeline triple', 'b→c', 'dispatch',
        'pipeline double', 'x→a', 'dispatch', 'end',
      ]);
      engine.run([double1, double2, triple]);
      expect([...(await readF32(engine, c, 4))]).toEqual([12, 24, 36, 48]);
    } finally {
      engine.dispose();
    }
  });

  it('drops bounds checks only where asked, or by default for a CPU adapter in Node, and paces Dawn there', async () => {
    const engine = await createEngine();
    const checked = await createEngine({ robustBufferAccess: true });
    try {
      const cpu = engine.stats().isFallbackAdapter; // true on SwiftShader, where CI runs
      expect(engine.stats().robustBufferAccess).toBe(!cpu);
      expect(checked.stats().robustBufferAccess).toBe(true);
      // With checks, a read past the binding gives 0 (Vulkan robustness2) or the last element (Tint's clamp).
      const x = uploadView(checked, new Float32Array([5, 6, 7, 8]));
      const out = nanBuffer(checked, 1);
      const pastEnd = {
        key: 'read-past-end',
        bindings: ['read', 'write'] as const,
        workgroups: [1, 1, 1] as const,
        code: `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(1) fn main() { out[0] = x[arrayLength(&x) + 3u]; }`,
      };
      checked.run([checked.kernel(pastEnd, [x, out])]);
      expect([0, 8]).toContain((await readF32(checked, out, 1))[0]);
      // Dawn's completion polling is paced, and user callbacks still get their arguments.
      expect((globalThis as Record<symbol, unknown>)[Symbol.for('webgpu-train.pacedDawnPolling')] === true).toBe(cpu);
      // With checks, Winograd's forward and kernel gradient, but the direct input gradient (measured, bench/NOTES.md),
      // unless a fused pool leaves dy's last row and column zero (item 49: Winograd then needs 0.17 of the multiply-adds).
      const conv2 = conv2dGeometry({ batch: 2, inputShape: [13, 13, 32], filters: 64, kernelSize: [3, 3], relu: true });
      expect(checked.stats().winograd).toBe(cpu);
      if (cpu) expect(Object.values(conv2dVariants(checked, conv2)).map((list) => list[0])).toEqual(['winograd', 'direct', 'winograd']);
      if (cpu) expect(Object.values(conv2dVariants(checked, { ...conv2, pooledOutput: true })).map((list) => list[0])).toEqual(['winograd', 'winograd', 'winograd']);
      if (cpu) expect(Object.values(conv2dVariants(engine, conv2)).map((list) => list[0])).toEqual(['winograd', 'winograd', 'winograd']);
      expect(await new Promise((resolve) => setImmediate(resolve, 'argument'))).toBe('argument');
    } finally {
      engine.dispose();
      checked.dispose();
    }
  });

  it('turns a WGSL error into a JavaScript error with the WebGPU message', async () => {
    const engine = await createEngine();
    try {
      const bad = { key: 'bad', code: '@compute @workgroup_size(1) fn main() { let x: f32 = 1u; }', bindings: [] as const, workgroups: [1, 1, 1] as const };
      // Dawn reports compile errors at once, browsers later: either way the caller gets the message.
      const attempt = async () => {
        engine.run([engine.kernel(bad, [])]);
        await engine.sync();
      };
      await expect(attempt()).rejects.toThrow(/WebGPU error.*cannot initialize 'let' of type 'f32'/s);
    } finally {
      engine.dispose();
    }
  });

  it('rejects calls after device loss instead of hanging', async () => {
    const engine = await createEngine();
    engine.device.destroy();
    await expect(engine.read(engine.buffer(16), 16)).rejects.toThrow(/lost|destroyed/i);
    engine.dispose();
  });
});
