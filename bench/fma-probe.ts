/**
 * The adapter's arithmetic ceiling: a WGSL kernel of independent vec4 multiply-add chains that
 * touches memory once per invocation, so only the ALUs limit it. Chains are independent so that
 * latency hides behind throughput; the trip count comes from a uniform so the compiler cannot fold
 * the loop. Run on the same device as the benchmark, in the same process, right before it.
 */

export interface ProbeVariant {
  /** Independent accumulator chains per invocation. */
  chains: number;
  /** `fma()` builtin or `a * m + c` (a compiler may or may not fuse the latter). */
  form: 'fma' | 'mul-add';
  workgroupSize: number;
}

export interface ProbeRun extends ProbeVariant {
  gflops: number;
  /** Best of the runs, seconds. */
  seconds: number;
  flops: number;
}

export interface ProbeResult {
  /** The best variant's GFLOP/s: the ceiling. */
  gflops: number;
  best: ProbeRun;
  variants: ProbeRun[];
}

const VARIANTS: ProbeVariant[] = [
  { chains: 4, form: 'mul-add', workgroupSize: 64 },
  { chains: 8, form: 'mul-add', workgroupSize: 64 },
  { chains: 8, form: 'fma', workgroupSize: 64 },
  { chains: 16, form: 'mul-add', workgroupSize: 64 },
];

/** Enough invocations to occupy every core of a CPU adapter many times over; a GPU wants more. */
const WORKGROUPS = 1024;
/** Loop trip count is calibrated so that one run lasts about this long. */
const TARGET_SECONDS = 0.25;

function shader(v: ProbeVariant): string {
  const chains = Array.from({ length: v.chains }, (_, i) => i);
  const step = (i: number) => (v.form === 'fma' ? `a${i} = fma(a${i}, m, c);` : `a${i} = a${i} * m + c;`);
  return /* wgsl */ `
struct Params { iterations: u32, multiplier: f32, addend: f32, pad: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> sink: array<vec4<f32>>;

@compute @workgroup_size(${v.workgroupSize})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let m = vec4<f32>(params.multiplier);
  let c = vec4<f32>(params.addend);
  let seed = f32(gid.x) * 1e-7;
  ${chains.map((i) => `var a${i} = vec4<f32>(seed + ${i}.0, seed - ${i}.0, seed * ${i + 2}.0, seed + 0.5);`).join('\n  ')}
  for (var i = 0u; i < params.iterations; i++) {
    ${chains.map(step).join('\n    ')}
  }
  sink[gid.x] = ${chains.map((i) => `a${i}`).join(' + ')};
}`;
}

/** FLOPs of one dispatch: 4 lanes × 2 (multiply and add) per chain per iteration. */
function flopsOf(v: ProbeVariant, iterations: number): number {
  return WORKGROUPS * v.workgroupSize * iterations * v.chains * 4 * 2;
}

export async function probeFmaCeiling(device: GPUDevice, runs: number, log: (line: string) => void = () => {}): Promise<ProbeResult> {
  const params = device.createBuffer({ size: 16, usage: 0x40 /* UNIFORM */ | 0x8 /* COPY_DST */, label: 'fma-probe-params' });
  const sink = device.createBuffer({ size: WORKGROUPS * 256 * 16, usage: 0x80 /* STORAGE */, label: 'fma-probe-sink' });
  const timeOnce = async (pipeline: GPUComputePipeline, bindGroup: GPUBindGroup, iterations: number): Promise<number> => {
    // A multiplier just under 1 keeps values finite and normal (denormals could be slow paths).
    const data = new ArrayBuffer(16);
    new Uint32Array(data, 0, 1)[0] = iterations;
    new Float32Array(data, 4, 2).set([0.9999999, 1e-3]);
    device.queue.writeBuffer(params, 0, data);
    await device.queue.onSubmittedWorkDone();
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(WORKGROUPS);
    pass.end();
    const start = performance.now();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    return (performance.now() - start) / 1000;
  };
  try {
    const variants: ProbeRun[] = [];
    for (const v of VARIANTS) {
      const module = device.createShaderModule({ code: shader(v), label: `fma-probe-${v.chains}-${v.form}` });
      const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      const bindGroup = device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: params } },
          { binding: 1, resource: { buffer: sink } },
        ],
      });
      // Calibrate on a short run (it also absorbs first-dispatch costs), then size the real ones.
      let iterations = 64;
      let seconds = await timeOnce(pipeline, bindGroup, iterations);
      while (seconds < 0.02 && iterations < 1 << 24) {
        iterations *= 4;
        seconds = await timeOnce(pipeline, bindGroup, iterations);
      }
      iterations = Math.max(1, Math.round((iterations * TARGET_SECONDS) / seconds));
      let best = Infinity;
      for (let r = 0; r < runs; r++) best = Math.min(best, await timeOnce(pipeline, bindGroup, iterations));
      const flops = flopsOf(v, iterations);
      const run: ProbeRun = { ...v, seconds: best, flops, gflops: flops / best / 1e9 };
      log(`fma probe: ${v.chains} chains, ${v.form}, workgroup ${v.workgroupSize}: ${run.gflops.toFixed(2)} GFLOP/s`);
      variants.push(run);
    }
    const best = variants.reduce((a, b) => (b.gflops > a.gflops ? b : a));
    return { gflops: best.gflops, best, variants };
  } finally {
    params.destroy();
    sink.destroy();
  }
}
