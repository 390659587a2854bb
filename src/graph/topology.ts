/** The order in which a model's graph runs and lists its layers. */
import type { GraphNode, SymbolicTensor } from '../layers/layer.ts';

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
