import { describe, expect, it } from 'vitest';
import { createEngine } from '../src/runtime/engine.ts';
import { scale } from '../shaders/elementwise.ts';
import { uploadView, nanBuffer, readF32 } from './helpers.ts';

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
