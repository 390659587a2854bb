/**
 * A page that uses the BUILT library the way another project would: it owns its GPUDevice and lends
 * it to the engine. The module is fetched at run time from its URL so that neither Vite nor the
 * bundler substitutes the sources; its types are the sources' (the same API the .d.ts describes).
 */
import { publishState } from './check-page.ts';
type Library = typeof import('../src/index.ts');

const LIBRARY_URL = `${import.meta.env.BASE_URL}dist/webgpu-train.js`;
const CLASSES = 4;
const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#d97706'];
/** Opaque tints of COLORS for the decision regions (translucent cells would darken where they overlap). */
const TINTS = ['#dbe6fd', '#fadddd', '#d6f0de', '#fbe9d0'];

interface EmbedState {
  status: 'starting' | 'training' | 'done' | 'error';
  libraryUrl: string;
  adapter?: string;
  /** The engine ran on the very GPUDevice this page created. */
  engineUsesPageDevice?: boolean;
  losses?: number[];
  trainAccuracy?: number;
  testAccuracy?: number;
  predictions?: number[][];
  /** After engine.dispose(), the page's device still round-trips data (the engine does not destroy lent devices). */
  deviceUsableAfterDispose?: boolean;
  error?: string;
}

const state: EmbedState = { status: 'starting', libraryUrl: LIBRARY_URL };
const setStatus = publishState('__embed', state);

/** Seeded points around four centers: a task a small dense model learns in a few epochs. */
function blobs(count: number, seed: number): { x: Float32Array; y: Int32Array } {
  let s = seed >>> 0;
  const uniform = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  const gaussian = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  const centers = [[-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5], [0.5, 0.5]] as const;
  const x = new Float32Array(count * 2);
  const y = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const c = i % CLASSES;
    y[i] = c;
    x[i * 2] = centers[c]![0] + 0.18 * gaussian();
    x[i * 2 + 1] = centers[c]![1] + 0.18 * gaussian();
  }
  return { x, y };
}

function accuracy(probabilities: Float32Array, labels: Int32Array): number {
  let right = 0;
  for (let i = 0; i < labels.length; i++) {
    const row = probabilities.subarray(i * CLASSES, (i + 1) * CLASSES);
    if (row.indexOf(Math.max(...row)) === labels[i]) right++;
  }
  return right / labels.length;
}

/** Writes and reads back a buffer on `device`: proof that the device is alive and usable. */
async function roundTrip(device: GPUDevice): Promise<boolean> {
  const values = new Float32Array([1.5, -2, 3.25, 42]);
  const source = device.createBuffer({ size: 16, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  const staging = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(source, 0, values);
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(source, 0, staging, 0, 16);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const back = new Float32Array(staging.getMappedRange().slice(0));
  staging.destroy();
  source.destroy();
  return back.every((v, i) => v === values[i]);
}

function plot(probabilities: Float32Array, grid: number, points: { x: Float32Array; y: Int32Array }): void {
  const canvas = document.getElementById('plot') as HTMLCanvasElement;
  const ctx = canvas.getContext('2d')!;
  const cell = canvas.width / grid;
  for (let gy = 0; gy < grid; gy++) {
    for (let gx = 0; gx < grid; gx++) {
      const row = probabilities.subarray((gy * grid + gx) * CLASSES, (gy * grid + gx + 1) * CLASSES);
      ctx.fillStyle = TINTS[row.indexOf(Math.max(...row))]!;
      const x0 = Math.round(gx * cell);
      const y0 = Math.round(gy * cell);
      ctx.fillRect(x0, y0, Math.round((gx + 1) * cell) - x0, Math.round((gy + 1) * cell) - y0);
    }
  }
  for (let i = 0; i < points.y.length; i++) {
    ctx.fillStyle = COLORS[points.y[i]!]!;
    ctx.beginPath();
    ctx.arc(((points.x[i * 2]! + 1) / 2) * canvas.width, ((points.x[i * 2 + 1]! + 1) / 2) * canvas.height, 2.5, 0, Math.PI * 2);
    ctx.fill();
  }
}

function showFacts(rows: [string, string][]): void {
  const table = document.getElementById('facts') as HTMLTableElement;
  table.replaceChildren();
  for (const [k, v] of rows) {
    const tr = table.insertRow();
    const th = document.createElement('th');
    th.textContent = k;
    th.style.textAlign = 'left';
    tr.appendChild(th);
    tr.insertCell().textContent = v;
  }
}

async function main(): Promise<void> {
  const lib = (await import(/* @vite-ignore */ LIBRARY_URL)) as Library;
  if (!navigator.gpu) throw new lib.WebGPUUnavailableError('navigator.gpu is missing: this browser has no WebGPU (see the demo page for how to enable it).');
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new lib.WebGPUUnavailableError('navigator.gpu.requestAdapter() returned null: WebGPU is blocked for this GPU or driver.');
  const device = await adapter.requestDevice({ label: 'embed page device' });
  const engine = await lib.createEngine({ device });
  state.adapter = engine.adapterDescription;
  state.engineUsesPageDevice = engine.device === device;

  setStatus('training', 'Training on the page’s own device…');
  const train = blobs(256, 7);
  const test = blobs(128, 99);
  const model = lib.sequential([
    lib.layers.dense({ units: 16, activation: 'relu', inputShape: [2] }),
    lib.layers.dense({ units: CLASSES, activation: 'softmax' }),
  ]);
  model.compile({ optimizer: lib.optimizers.adam({ learningRate: 0.05 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], engine });
  const history = await model.fit(lib.tensor(train.x, [256, 2]), lib.tensor(train.y, [256]), { epochs: 15, batchSize: 32, verbose: 0 });
  const testProbabilities = await model.predict(lib.tensor(test.x, [128, 2]));

  const grid = 40;
  const gridPoints = new Float32Array(grid * grid * 2);
  for (let gy = 0; gy < grid; gy++) {
    for (let gx = 0; gx < grid; gx++) {
      gridPoints[(gy * grid + gx) * 2] = ((gx + 0.5) / grid) * 2 - 1;
      gridPoints[(gy * grid + gx) * 2 + 1] = ((gy + 0.5) / grid) * 2 - 1;
    }
  }
  const regions = await model.predict(lib.tensor(gridPoints, [grid * grid, 2]), { batchSize: 400 });
  plot(regions.values, grid, test);

  state.losses = history.loss;
  state.trainAccuracy = history.accuracy.at(-1);
  state.testAccuracy = accuracy(testProbabilities.values, test.y);
  state.predictions = Array.from({ length: 8 }, (_, i) => Array.from(testProbabilities.values.subarray(i * CLASSES, (i + 1) * CLASSES)));

  model.dispose();
  engine.dispose();
  state.deviceUsableAfterDispose = await roundTrip(device);

  showFacts([
    ['adapter', state.adapter],
    ['engine on the page’s device', String(state.engineUsesPageDevice)],
    ['loss, first → last epoch', `${history.loss[0]!.toFixed(3)} → ${history.loss.at(-1)!.toFixed(3)}`],
    ['train accuracy (last epoch)', `${((state.trainAccuracy ?? NaN) * 100).toFixed(1)}%`],
    ['test accuracy (128 new points)', `${(state.testAccuracy * 100).toFixed(1)}%`],
    ['device usable after engine.dispose()', String(state.deviceUsableAfterDispose)],
  ]);
  setStatus('done', 'Trained and predicted with the page’s own GPUDevice.');
}

main().catch((err: unknown) => {
  state.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  setStatus('error', state.error);
});
