/** The buffers of one plan; gradient buffers are recycled once their last reader has been recorded. */
import type { Engine, View } from '../runtime/engine.ts';

export class PlanMemory {
  private readonly owned: GPUBuffer[] = [];
  private readonly free = new Map<number, View[]>();
  constructor(private readonly engine: Engine) {}

  take(floats: number, label: string): View {
    const size = Math.max(4, floats * 4);
    const recycled = this.free.get(size)?.pop();
    if (recycled) return recycled;
    const buffer = this.engine.buffer(size, label);
    this.owned.push(buffer);
    return { buffer, offset: 0, size };
  }

  recycle(view: View): void {
    let list = this.free.get(view.size);
    if (!list) this.free.set(view.size, (list = []));
    list.push(view);
  }

  dispose(): void {
    for (const b of this.owned) this.engine.release(b);
    this.owned.length = 0;
    this.free.clear();
  }
}
