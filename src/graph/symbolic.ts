/**
 * Symbolic tensors: the edges of a model's graph before any data exists. `layer.apply(x)` creates a
 * node (layer + its input edges) and returns the node's output edge; `model({ inputs, outputs })`
 * walks back from the outputs.
 */
import type { Layer, Shape } from '../layers/layer.ts';

export interface GraphNode {
  readonly layer: Layer;
  readonly inputs: readonly SymbolicTensor[];
  readonly output: SymbolicTensor;
}

let nextId = 0;

export class SymbolicTensor {
  readonly id = nextId++;
  /** Set once by the node that produces this tensor. */
  producer!: GraphNode;
  constructor(readonly shape: Shape) {}

  /** Keras's shape with the batch dimension: [null, ...shape]. */
  get batchShape(): (number | null)[] {
    return [null, ...this.shape];
  }
}

export function isSymbolicTensor(value: unknown): value is SymbolicTensor {
  return value instanceof SymbolicTensor;
}

/** Nodes reachable backwards from `outputs`, in a topological order (producers first). */
export function topologicalNodes(outputs: readonly SymbolicTensor[]): GraphNode[] {
  const order: GraphNode[] = [];
  const state = new Map<GraphNode, 'visiting' | 'done'>();
  const visit = (node: GraphNode) => {
    const s = state.get(node);
    if (s === 'done') return;
    if (s === 'visiting') throw new Error(`the model graph has a cycle through layer ${node.layer.name}`);
    state.set(node, 'visiting');
    for (const t of node.inputs) visit(t.producer);
    state.set(node, 'done');
    order.push(node);
  };
  for (const t of outputs) visit(t.producer);
  return order;
}
