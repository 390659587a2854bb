/**
 * Times the light ops' variants against each other on this adapter (bench/NOTES.md item 73): the
 * optimizer update ('scalar' | 'vec4') and the flat elementwise kernels, each variant's
 * dispatches `reps` times in one submit, rounds interleaved (the order alternating), medians of
 * wall time per dispatch and of process CPU time per dispatch (SwiftShader's threads are this
 * process's, and CPU time moves less than wall time when others share the cores).
 *   npx tsx bench/light-variants.ts [rounds]
 */
import { loadavg } from 'node:os';
import { STEP_INFO_BYTES, stepInfoData } from '../shaders/kernel.ts';
import { flatDispatch, type FlatGeometry } from '../src/ops/elementwise.ts';
import { Adam, RMSprop } from '../src/optimizers.ts';
import type { Optimizer } from '../src/optimizers/optimizer.ts';
import { createEngine, type BufferView, type Dispatch, type Engine } from '../src/runtime/engine.ts';

const rounds = Number(process.argv[2] ?? 15);
const engine = await createEngine();

function input(e: Engine, n: number, seed: number): BufferView {
  const data = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = (s / 2 ** 32) * 2 - 1;
  }
  return { buffer: e.upload(data), offset: 0, size: n * 4 };
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;

/** Per variant: median wall ms and CPU ms per dispatch over interleaved rounds. */
async function compare(label: string, variants: Record<string, Dispatch[]>, reps: number): Promise<void> {
  const names = Object.keys(variants);
  const wall: Record<string, number[]> = {};
  const cpu: Record<string, number[]> = {};
  const runOnce = async (name: string) => {
    const list = Array.from({ length: reps }, () => variants[name]!).flat();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    engine.run(list);
    await engine.sync();
    const t = performance.now() - t0;
    const c = process.cpuUsage(c0);
    (wall[name] ??= []).push(t / reps);
    (cpu[name] ??= []).push((c.user + c.system) / 1000 / reps);
  };
  for (const name of names) await runOnce(name); // warm-up
  for (const name of names) {
    wall[name] = [];
    cpu[name] = [];
  }
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? [...names].reverse() : names;
    for (const name of order) await runOnce(name);
  }
  const [a, b] = names as [string, string];
  const fmt = (name: string) => `${name} ${median(wall[name]!).toFixed(3)} / ${median(cpu[name]!).toFixed(3)}`;
  console.log(
    `${label}: ${names.map(fmt).join(', ')} ms (wall / cpu per dispatch); ${a}/${b} wall ${(median(wall[a]!) / median(wall[b]!)).toFixed(2)}, cpu ${(median(cpu[a]!) / median(cpu[b]!)).toFixed(2)}`,
  );
}

/** One optimizer step's dispatches over n floats (rate uniform, step 3). */
function optimizerStep(opt: Optimizer, n: number, variant: string): Dispatch[] {
  const hyper = { buffer: engine.uniform(16) };
  const stepInfo = { buffer: engine.uniform(STEP_INFO_BYTES) };
  engine.write(stepInfo, stepInfoData(0, 3, 0, 1));
  opt.prepareStep(engine, hyper, 3);
  const views = { params: input(engine, n, 1), grads: input(engine, n, 2), slots: opt.slotNames.map((_, k) => input(engine, n, 3 + k)), hyper, stepInfo };
  return opt.dispatches(engine, n, { ...views, scratch: (floats) => ({ buffer: engine.buffer(floats * 4), offset: 0, size: floats * 4 }) }, variant);
}

console.log(`load average ${loadavg().map((v) => v.toFixed(1)).join(' ')}; ${rounds} rounds`);
// The tutorial CNN's trainable floats (each weight padded to 64 floats) and 1.2 M floats.
for (const n of [104_320, 1_200_000]) {
  const reps = n > 500_000 ? 2 : 10;
  for (const [name, make] of [
    ['RMSprop', () => new RMSprop()],
    ['Adam', () => new Adam()],
  ] as const) {
    await compare(`${name} update n=${n}`, { scalar: optimizerStep(make(), n, 'scalar'), vec4: optimizerStep(make(), n, 'vec4') }, reps);
  }
}

// The tutorial CNN at batch 64: its first convolution's output (64·26·26·32) and the gradient buffer.
const flats: FlatGeometry[] = [];
for (const n of [1_384_448, 104_320]) {
  flats.push(
    { op: { kind: 'fill', value: 0 }, n },
    { op: { kind: 'sum', inputs: 2 }, n },
    { op: { kind: 'accumulate' }, n },
    { op: { kind: 'scale', factor: 0.5 }, n },
    { op: { kind: 'reluForward' }, n },
    { op: { kind: 'activationForward', activation: { kind: 'relu' } }, n },
    { op: { kind: 'activationForward', activation: { kind: 'tanh' } }, n },
    { op: { kind: 'activationBackward', activation: { kind: 'tanh' } }, n },
  );
}
for (const g of flats) {
  const count = g.op.kind === 'fill' ? 1 : g.op.kind === 'sum' ? g.op.inputs + 1 : g.op.kind === 'activationBackward' ? 3 : 2;
  const views = Array.from({ length: count }, (_, k) => input(engine, g.n, 10 + k));
  const reps = g.n > 500_000 ? 3 : 10;
  await compare(`${g.op.kind}${'activation' in g.op ? ` ${g.op.activation.kind}` : ''} n=${g.n}`, { scalar: [flatDispatch(engine, g, views, 'scalar')], vec4: [flatDispatch(engine, g, views, 'vec4')] }, reps);
}
console.log(`load average ${loadavg().map((v) => v.toFixed(1)).join(' ')}`);
engine.dispose();
