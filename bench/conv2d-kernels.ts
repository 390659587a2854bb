/**
 * Times the conv2d kernels at the reference model's three conv layers (batch 64): forward, dx,
 * dW and db, each the median of several runs after warm-up (one submit + engine.sync() per run).
 *   npx tsx bench/conv2d-kernels.ts [runs] [forwardPixels=4,forwardGroups=2,...] [conv2]
 * The optional arguments override register-block sizes (for tuning) and pick layers by name.
 */
import { defaultBlocks, type Conv2DBlocks } from '../shaders/conv2d.ts';
import { conv2dBackward, conv2dForward, conv2dGeometry } from '../src/ops/conv2d.ts';
import { Random } from '../src/layers/initializers.ts';
import { createEngine, type Dispatch } from '../src/runtime/engine.ts';

const runs = Number(process.argv[2] ?? 9);
const overrides: Partial<Conv2DBlocks> = {};
for (const setting of (process.argv[3] ?? '').split(',').filter(Boolean)) {
  const [name, value] = setting.split('=') as [keyof Conv2DBlocks, string];
  overrides[name] = Number(value);
}
const engine = await createEngine();

const view = (n: number, seed?: number) => {
  const r = new Random(seed ?? 0);
  const buffer = seed === undefined ? engine.buffer(n * 4) : engine.upload(Float32Array.from({ length: n }, () => r.uniform(-1, 1)));
  return { buffer, offset: 0, size: n * 4 };
};

const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/**
 * Median wall time and median CPU time (all of this process's threads, SwiftShader's workers
 * included) per run. On a shared machine wall time mostly measures the neighbours; CPU time / 2
 * estimates the wall time on 2 quiet cores (assuming both stay busy). Dawn's Node binding
 * busy-polls the main thread while a GPU promise is pending (bench/NOTES.md), which would steal a
 * core from SwiftShader's workers and count as CPU time: each run sleeps through most of the time
 * the warm-up took before it awaits the GPU.
 */
async function time(dispatches: Dispatch[]): Promise<{ wall: number; cpu: number }> {
  let warm = Infinity;
  for (let i = 0; i < 2; i++) {
    const t0 = performance.now();
    engine.run(dispatches);
    await engine.sync();
    warm = Math.min(warm, performance.now() - t0);
  }
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    engine.run(dispatches);
    await new Promise((resolve) => setTimeout(resolve, 0.8 * warm));
    await engine.sync();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { wall: median(wall), cpu: median(cpu) };
}

/**
 * A compute-only probe (8 independent vec4 multiply-add chains, no memory): its GFLOP/s shows how
 * much of the machine this run got (8.7 on 2 quiet cores, /work/shared/webgpu-notes.md).
 */
async function probe(): Promise<string> {
  const iterations = 1024;
  const invocations = 16384;
  const chains = Array.from({ length: 8 }, (_, i) => `a${i}`);
  const source = {
    key: 'bench-fma-probe',
    bindings: ['write'] as const,
    workgroups: [invocations / 64, 1, 1] as const,
    code: `
@group(0) @binding(0) var<storage, read_write> out: array<vec4f>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${chains.map((a, i) => `var ${a} = vec4f(f32(gid.x + ${i}u));`).join('\n  ')}
  for (var i = 0u; i < ${iterations}u; i++) {
    ${chains.map((a) => `${a} = ${a} * 0.999 + 0.001;`).join('\n    ')}
  }
  out[gid.x] = ${chains.join(' + ')};
}`,
  };
  const { wall, cpu } = await time([engine.kernel(source, [view(invocations * 4)])]);
  const flops = invocations * iterations * chains.length * 8;
  return `${(flops / wall / 1e6).toFixed(2)} GFLOP/s wall, ${(flops / (cpu / 2) / 1e6).toFixed(2)} at CPU ms / 2`;
}

console.log(`${engine.adapterDescription}, kernel style ${engine.kernelStyle}, block overrides ${JSON.stringify(overrides)}, median of ${runs}`);
const probeBefore = await probe();
const rows: string[][] = [['layer', 'kernel', 'wall ms', 'GFLOP/s', 'CPU ms', 'GFLOP/s at CPU ms / 2']];
const layers = [
  { name: 'conv1 [64,28,28,1]→32', inputShape: [28, 28, 1], filters: 32, dx: false },
  { name: 'conv2 [64,13,13,32]→64', inputShape: [13, 13, 32], filters: 64, dx: true },
  { name: 'conv3 [64,5,5,64]→128', inputShape: [5, 5, 64], filters: 128, dx: true },
];
for (const layer of layers.filter((l) => l.name.includes(process.argv[4] ?? ''))) {
  const g = conv2dGeometry({ batch: 64, inputShape: layer.inputShape, filters: layer.filters, kernelSize: [3, 3], relu: true, useBias: true });
  const blocks = { ...defaultBlocks(g), ...overrides };
  const nx = g.batch * g.inH * g.inW * g.inC;
  const ny = g.batch * g.outH * g.outW * g.outC;
  const nw = g.kH * g.kW * g.inC * g.outC;
  const x = view(nx, 1);
  const w = view(nw, 2);
  const b = view(g.outC, 3);
  const y = view(ny);
  const dy = view(ny, 4);
  const flops = 2 * ny * g.kH * g.kW * g.inC;
  const forward = conv2dForward(engine, g, { x, w, b, y }, blocks);
  const backward = conv2dBackward(engine, g, { x, w, y, dy, dx: layer.dx ? view(nx) : null, dw: view(nw), db: view(g.outC), scratch: (bytes) => view(bytes / 4) }, blocks);
  // Time each gradient with the reduction that finishes it (a sum-partials dispatch follows its kernel).
  const part = (prefix: string) => {
    const i = backward.findIndex((d) => d.label.startsWith(prefix));
    return backward.slice(i, backward[i + 1]?.label.startsWith('sum-partials') ? i + 2 : i + 1);
  };
  const timed: [string, Dispatch[], number][] = [
    ['forward', forward, flops],
    ...(layer.dx ? [['dx', part('conv2d-input-grad'), flops] as [string, Dispatch[], number]] : []),
    ['dW', part('conv2d-kernel-grad'), flops],
    ['db', part('conv2d-bias-grad'), ny],
    ['backward (all)', backward, (layer.dx ? 2 : 1) * flops + ny],
  ];
  for (const [kernel, dispatches, count] of timed) {
    const { wall, cpu } = await time(dispatches);
    rows.push([layer.name, kernel, wall.toFixed(1), (count / wall / 1e6).toFixed(2), cpu.toFixed(1), (count / (cpu / 2) / 1e6).toFixed(2)]);
  }
}
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
for (const r of rows) console.log(r.map((cell, c) => cell.padEnd(widths[c]!)).join('  '));
console.log(`FMA probe (8.7 GFLOP/s on 2 quiet cores): before ${probeBefore}; after ${await probe()}`);
engine.dispose();
process.exit(0);
