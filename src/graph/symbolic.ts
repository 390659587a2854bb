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

/**
 * Nodes reachable backwards from `outputs`, producers first, in TF.js's Container order (so that
 * `model.layers` and getWeights() list what TF.js lists): by decreasing longest distance to an
 * output, ties by a depth-first walk from the outputs that numbers each node before its inputs. For
 * a Sequential model (and any chain) that is the chain's order.
 */
export function topologicalNodes(outputs: readonly SymbolicTensor[]): GraphNode[] {
  const walk = new Map<GraphNode, number>();
  const postorder: GraphNode[] = [];
  const state = new Map<GraphNode, 'visiting' | 'done'>();
  const visit = (node: GraphNode) => {
    const s = state.get(node);
    if (s === 'done') return;
    if (s === 'visiting') throw new Error(`the model graph has a cycle through layer ${node.layer.name}`);
    state.set(node, 'visiting');
    walk.set(node, walk.size);
    for (const t of node.inputs) visit(t.producer);
    state.set(node, 'done');
    postorder.push(node);
  };
  for (const t of outputs) visit(t.producer);
  const depth = new Map<GraphNode, number>();
  // Reversed, the postorder lists every node before its inputs.
  for (const node of [...postorder].reverse()) {
    const d = depth.get(node) ?? 0;
    depth.set(node, d);
    for (const t of node.inputs) depth.set(t.producer, Math.max(d + 1, depth.get(t.producer) ?? 0));
  }
  return postorder.sort((a, b) => depth.get(b)! - depth.get(a)! || walk.get(a)! - walk.get(b)!);
}
