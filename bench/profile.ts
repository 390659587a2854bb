/**
 * Per-dispatch timing of a captured training step. With 'timestamp-query' the step is replayed in
 * one submit, each dispatch in its own compute pass whose start and end the GPU stamps; the stamps
 * are trusted only if they are ordered (no pass begins before the previous one ends, none runs
 * backwards) and their sum does not exceed the replay's wall time. A sum well below the wall time
 * is kept: on a fast GPU a small step's kernels leave it idle for most of a submit, which is the
 * overhead the kit reports. Otherwise each dispatch is timed alone, submit to completion, which
 * adds a submit's overhead to every dispatch.
 * Replays run the step for real (the optimizer updates the weights again): harmless for timing.
 */
import type { Dispatch, Engine } from '../src/runtime/engine.ts';
import { median } from './results.ts';

export type TimingMethod = 'timestamp-query' | 'isolated-submits';

export interface DispatchTime {
  index: number;
  label: string;
  /** Kernel family: the label up to its first ':'. */
  op: string;
  phase: Phase;
  workgroups: readonly number[];
  /** Median over runs. */
  ms: number;
}

export interface StepProfile {
  method: TimingMethod;
  /** Why timestamps were not used, when they were not; with timestamps, how little of the replay the kernels filled, where under half. */
  note?: string;
  runs: number;
  dispatches: DispatchTime[];
  /** Sum of the per-dispatch medians. */
  totalMs: number;
  /** Median wall time of a whole replay (timestamp method) or of a normal one-pass step. */
  wallMs: number;
}

export type Phase = 'input' | 'forward' | 'loss' | 'backward' | 'optimizer';

/**
 * The phase of a step a kernel belongs to: input, loss and optimizer from its family; the rest by
 * where it runs, before the loss (forward) or after it (backward), since families such as the
 * Winograd transforms serve both.
 */
export function phaseOf(op: string, afterLoss: boolean): Phase {
  if (op.startsWith('gather')) return 'input';
  // The loss family is 'loss' (earlier engines: '…crossentropy'); the optimizer's 'optimizer-update' (earlier: its name).
  if (op === 'loss' || op.includes('crossentropy')) return 'loss';
  if (op.startsWith('optimizer') || /^(rmsprop|adam|sgd)$/.test(op)) return 'optimizer';
  return afterLoss ? 'backward' : 'forward';
}

function describeDispatches(dispatches: readonly Dispatch[], times: number[][]): DispatchTime[] {
  const loss = dispatches.findIndex((d) => phaseOf(d.label.split(':')[0]!, false) === 'loss');
  return dispatches.map((d, index) => {
    const op = d.label.split(':')[0]!;
    return { index, label: d.label, op, phase: phaseOf(op, loss >= 0 && index > loss), workgroups: d.workgroups, ms: median(times[index]!) };
  });
}

const QUERY_RESOLVE = 0x200;
const COPY_SRC = 0x4;
const COPY_DST = 0x8;
const MAP_READ = 0x1;

async function timestampProfile(engine: Engine, dispatches: readonly Dispatch[], runs: number): Promise<{ times: number[][]; walls: number[]; ordered: boolean }> {
  const device = engine.device;
  const count = dispatches.length * 2;
  const querySet = device.createQuerySet({ type: 'timestamp', count });
  const resolve = device.createBuffer({ size: count * 8, usage: QUERY_RESOLVE | COPY_SRC, label: 'profile-resolve' });
  const readback = device.createBuffer({ size: count * 8, usage: MAP_READ | COPY_DST, label: 'profile-readback' });
  const times: number[][] = dispatches.map(() => []);
  const walls: number[] = [];
  let ordered = true;
  try {
    for (let r = 0; r < runs; r++) {
      await engine.sync();
      const start = performance.now();
      engine.submit((encoder) => {
        dispatches.forEach((d, i) => engine.encode(encoder, [d], { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 }));
        encoder.resolveQuerySet(querySet, 0, count, resolve, 0);
        encoder.copyBufferToBuffer(resolve, 0, readback, 0, count * 8);
      });
      await engine.sync();
      walls.push(performance.now() - start);
      await engine.guard(readback.mapAsync(MAP_READ));
      const stamps = new BigUint64Array(readback.getMappedRange().slice(0));
      readback.unmap();
      dispatches.forEach((_, i) => times[i]!.push(Number(stamps[2 * i + 1]! - stamps[2 * i]!) / 1e6));
      for (let i = 1; i < dispatches.length; i++) if (stamps[2 * i]! < stamps[2 * i - 1]!) ordered = false;
    }
  } finally {
    querySet.destroy();
    resolve.destroy();
    readback.destroy();
  }
  return { times, walls, ordered };
}

async function isolatedProfile(engine: Engine, dispatches: readonly Dispatch[], runs: number): Promise<number[][]> {
  const times: number[][] = dispatches.map(() => []);
  for (let r = 0; r < runs; r++) {
    for (const [i, d] of dispatches.entries()) {
      await engine.sync();
      const start = performance.now();
      engine.run([d]);
      await engine.sync();
      times[i]!.push(performance.now() - start);
    }
  }
  return times;
}

/** Wall time of the step replayed as the engine runs it: one pass, one submit. */
async function wholeStepMs(engine: Engine, dispatches: readonly Dispatch[], runs: number): Promise<number> {
  const walls: number[] = [];
  for (let r = 0; r < runs; r++) {
    await engine.sync();
    const start = performance.now();
    engine.run(dispatches);
    await engine.sync();
    walls.push(performance.now() - start);
  }
  return median(walls);
}

export async function profileStep(engine: Engine, dispatches: readonly Dispatch[], runs: number): Promise<StepProfile> {
  let note: string | undefined;
  if (engine.hasTimestamps) {
    const { times, walls, ordered } = await timestampProfile(engine, dispatches, runs);
    const timed = describeDispatches(dispatches, times);
    const totalMs = timed.reduce((s, d) => s + d.ms, 0);
    const wallMs = median(walls);
    const negative = times.some((t) => t.some((ms) => !(ms >= 0)));
    // Passes run one after another within the replay: ordered stamps whose sum fits in its wall time.
    if (!negative && ordered && totalMs > 0 && totalMs < 1.1 * wallMs) {
      const idle = totalMs < 0.5 * wallMs ? `the kernels kept the GPU busy for ${((100 * totalMs) / wallMs).toFixed(0)}% of the replay` : undefined;
      return { method: 'timestamp-query', ...(idle ? { note: idle } : {}), runs, dispatches: timed, totalMs, wallMs };
    }
    note = `timestamps rejected: they sum to ${totalMs.toFixed(1)} ms for a ${wallMs.toFixed(1)} ms replay${negative ? ', some are negative' : ''}${ordered ? '' : ', some passes begin before the previous one ends'}`;
  } else {
    note = "the device has no 'timestamp-query' feature";
  }
  const timed = describeDispatches(dispatches, await isolatedProfile(engine, dispatches, runs));
  return { method: 'isolated-submits', note, runs, dispatches: timed, totalMs: timed.reduce((s, d) => s + d.ms, 0), wallMs: await wholeStepMs(engine, dispatches, runs) };
}
