/**
 * The buffers of a tuning bench (VariantTable.bench, src/runtime/tuning.ts): every op family times
 * its variants on views of its own, never a plan's, through benchRun.
 */
import type { Dispatch, Engine, Scratch, View } from '../runtime/engine.ts';
import type { BenchRun } from '../runtime/tuning.ts';

/**
 * Buffers of one tuning bench: inputs of seeded values in [-1, 1], outputs, uniforms and the op's
 * scratch, each a view of exactly the bytes asked for; dispose() releases them all.
 */
export class BenchBuffers {
  private readonly held: GPUBuffer[] = [];
  private state: number;

  constructor(
    readonly engine: Engine,
    seed = 1,
  ) {
    this.state = seed >>> 0;
  }

  /** A view of `floats` floats, uninitialized (an output). */
  output(floats: number, label = 'bench output'): View {
    return this.bytes(floats * 4, label);
  }

  /** A view of `floats` floats filled with a seeded LCG's values in [-1, 1] (an input). */
  input(floats: number, label = 'bench input'): View {
    const view = this.output(floats, label);
    const data = new Float32Array(floats);
    for (let i = 0; i < floats; i++) {
      this.state = (Math.imul(this.state, 1664525) + 1013904223) >>> 0;
      data[i] = (this.state / 2 ** 32) * 2 - 1;
    }
    this.engine.write(view, data);
    return view;
  }

  /** A view of `floats` floats all equal to `value` (a mask that keeps everything). */
  constant(floats: number, value: number, label = 'bench constant'): View {
    const view = this.output(floats, label);
    this.engine.write(view, new Float32Array(floats).fill(value));
    return view;
  }

  /** A uniform holding `data` (e.g. a StepInfo). */
  uniform(data: Uint32Array, label = 'bench uniform'): View {
    const buffer = this.engine.uniform(data.byteLength, label);
    this.held.push(buffer);
    this.engine.write(buffer, data);
    return { buffer, offset: 0, size: data.byteLength };
  }

  /** The op's scratch allocator: what it asks for is released with the rest. */
  readonly scratch: Scratch = (byteLength, label) => this.bytes(byteLength, label);

  private bytes(byteLength: number, label: string): View {
    const buffer = this.engine.buffer(byteLength, label);
    this.held.push(buffer);
    return { buffer, offset: 0, size: byteLength };
  }

  /** Releases every buffer handed out. */
  dispose(): void {
    for (const buffer of this.held.splice(0)) this.engine.release(buffer);
  }
}

/** A BenchRun from `build`'s dispatches on fresh BenchBuffers (released, and the error passed on, if building fails). */
export function benchRun(engine: Engine, build: (buffers: BenchBuffers) => Dispatch[]): BenchRun {
  const buffers = new BenchBuffers(engine);
  try {
    return { dispatches: build(buffers), dispose: () => buffers.dispose() };
  } catch (err) {
    buffers.dispose();
    throw err;
  }
}
