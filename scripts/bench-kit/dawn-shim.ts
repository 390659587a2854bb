/**
 * The kit's `webgpu` module (build.ts bundles it as payload/node_modules/webgpu/index.js, with the
 * package's own index.js beside it as dawn-binding.js): Dawn's binding with two changes for
 * benchmarking, applied to every instance, ours and TF.js's alike.
 * - Timestamp queries at full resolution: Dawn quantizes them to 65.536 µs by default (the
 *   `timestamp_quantization` toggle), which leaves a GPU's per-dispatch timings as 0 or 65.5 µs.
 * - Instances live until the process exits: Dawn's binding runs InstanceBase::ProcessEvents from a
 *   timer while events are pending, and if the GPU object has been garbage-collected by then (an
 *   engine drops it on dispose(), right after device.destroy() queued the device-lost event) the
 *   process aborts ("std::system_error: Invalid argument"). The kit creates an engine per run.
 */
import { create as createInstance, globals } from 'webgpu';

/** Dawn toggles the kit turns off on every instance. */
export const KIT_DISABLED_TOGGLES = ['timestamp_quantization'] as const;

const DISABLE = 'disable-dawn-features=';

/** `flags` with the kit's toggles added to their `disable-dawn-features=` entry (one is made if there is none). */
export function withKitToggles(flags: readonly string[]): string[] {
  const out = [...flags];
  const i = out.findIndex((f) => f.startsWith(DISABLE));
  const listed = i >= 0 ? out[i]!.slice(DISABLE.length).split(',').filter(Boolean) : [];
  const merged = DISABLE + [...new Set([...listed, ...KIT_DISABLED_TOGGLES])].join(',');
  if (i >= 0) out[i] = merged;
  else out.push(merged);
  return out;
}

const instances: GPU[] = [];

/** Dawn's `create`, with the kit's toggles, keeping the instance alive. */
export function create(flags: string[] = []): GPU {
  const gpu = createInstance(withKitToggles(flags));
  instances.push(gpu);
  return gpu;
}

export { globals };
