/**
 * Times the max-pool and dense kernels at the reference model's shapes (batch 64) and at a bigger
 * MLP layer: median of several runs after warm-up, each one submit followed by engine.sync().
 *   npx tsx bench/pool-dense-kernels.ts [runs]
 */
import { denseBackward, denseForward, denseGeometry } from '../src/ops/dense.ts';
import { maxPoolBackward, maxPoolForward, poolGeometry } from '../src/ops/pool.ts';
import { Random } from '../src/layers/initializers.ts';
import { createEngine, type Dispatch, type Engine } from '../src/runtime/engine.ts';
import { loadavg } from 'node:os';

const runs = Number(process.argv[2] ?? 15);
const engine = await createEngine();

function data(n: number, seed: number): Float32Array {
  const r = new Random(seed);
  return Float32Array.from({ length: n }, () => r.uniform(-1, 1));
}

const view = (e: Engine, n: number, seed?: number) => {
  const buffer = seed === undefined ? e.buffer(n * 4) : e.upload(data(n, seed));
  return { buffer, offset: 0, size: n * 4 };
};

/** Median and minimum in ms (the minimum is the better estimate when others share the CPU). */
async function time(dispatches: Dispatch[]): Promise<{ median: number; min: number }> {
  for (let i = 0; i < 3; i++) {
    engine.run(dispatches);
    await engine.sync();
  }
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    engine.run(dispatches);
    await engine.sync();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)]!, min: times[0]! };
}

const rows: string[][] = [];
async function report(name: string, dispatches: Dispatch[], flops = 0): Promise<void> {
  const { median, min } = await time(dispatches);
  rows.push([name, median.toFixed(2), min.toFixed(2), flops ? (flops / median / 1e6).toFixed(2) : '']);
}

for (const [rowsN, inputs, units, relu] of [
  [64, 1152, 10, false],
  [64, 784, 512, true],
] as const) {
  const g = denseGeometry(64, [inputs], units, { relu, bias: true });
  const x = view(engine, rowsN * inputs, 1);
  const w = view(engine, inputs * units, 2);
  const b = view(engine, units, 3);
  const y = view(engine, rowsN * units);
  const dy = view(engine, rowsN * units, 4);
  const dx = view(engine, rowsN * inputs);
  const dw = view(engine, inputs * units);
  const db = view(engine, units);
  const mac = 2 * rowsN * inputs * units;
  const label = `dense [${rowsN}, ${inputs}] -> ${units}${relu ? ' relu' : ''}`;
  const fwd = denseForward(engine, g, { x, w, b, y });
  const bwd = denseBackward(engine, g, { x, w, y, dy, dx, dw, db });
  await report(`${label}: forward`, fwd, mac);
  await report(`${label}: backward (dx, dW and db)`, bwd, 2 * mac);
  await report(`${label}:   dx`, [bwd[0]!], mac);
  await report(`${label}:   dW and db`, [bwd[1]!], mac);
}

for (const shape of [
  [26, 26, 32],
  [11, 11, 64],
]) {
  const g = poolGeometry(64, shape, [2, 2], [2, 2], 'valid');
  const nIn = 64 * shape.reduce((a, b) => a * b, 1);
  const nOut = 64 * g.outHeight * g.outWidth * g.channels;
  const x = view(engine, nIn, 5);
  const y = view(engine, nOut);
  const dy = view(engine, nOut, 6);
  const dx = view(engine, nIn);
  const label = `maxpool 2x2 [64, ${shape.join(', ')}]`;
  await report(`${label}: forward`, maxPoolForward(engine, g, { x, y }));
  await report(`${label}: backward`, maxPoolBackward(engine, g, { x, dy, dx }));
}

await report('empty submit (overhead)', []);

console.log(`${engine.adapterDescription}, kernel style ${engine.kernelStyle}, ${runs} runs after warm-up, load average ${loadavg()[0]!.toFixed(1)}`);
const width = Math.max(...rows.map((r) => r[0]!.length));
console.log(`${'kernel'.padEnd(width)}  ${'median ms'.padStart(10)}  ${'min ms'.padStart(8)}  GFLOP/s (median)`);
for (const [name, median, min, gflops] of rows) console.log(`${name!.padEnd(width)}  ${median!.padStart(10)}  ${min!.padStart(8)}  ${gflops}`);
engine.dispose();
process.exit(0);
