/** The order in which a model's graph runs and lists its layers. */
import type { GraphNode, Layer, SymbolicTensor } from '../layers/layer.ts';

/**
 * Nodes reachable backwards from `outputs`, producers first, and the layers they apply, in TF.js's
 * Container order (so that `model.layers` and getWeights() list what TF.js lists): nodes and layers
 * by decreasing depth (the longest distance to an output; a layer applied at several nodes takes
 * the deepest, and raises its later nodes to it), ties by a depth-first walk from the outputs that
 * numbers each node before its inputs. For a Sequential model (and any chain) that is the chain's order.
 */
export function graphOrder(outputs: readonly SymbolicTensor[]): { nodes: GraphNode[]; layers: Layer[] } {
  const walk = new Map<GraphNode, number>();
  const layerIndex = new Map<Layer, number>();
  const postorder: GraphNode[] = [];
  const state = new Map<GraphNode, 'visiting' | 'done'>();
  const visit = (node: GraphNode) => {
    const s = state.get(node);
    if (s === 'done') return;
    if (s === 'visiting') throw new Error(`the model graph has a cycle through layer ${node.layer.name}`);
    state.set(node, 'visiting');
    walk.set(node, walk.size);
    if (!layerIndex.has(node.layer)) layerIndex.set(node.layer, layerIndex.size);
    for (const t of node.inputs) visit(t.producer);
    state.set(node, 'done');
    postorder.push(node);
  };
  for (const t of outputs) visit(t.producer);
  const depth = new Map<GraphNode, number>();
  const layerDepth = new Map<Layer, number>();
  // Reversed, the postorder lists every node before its inputs.
  for (const node of [...postorder].reverse()) {
    const d = Math.max(depth.get(node) ?? 0, layerDepth.get(node.layer) ?? 0);
    layerDepth.set(node.layer, d);
    depth.set(node, d);
    for (const t of node.inputs) depth.set(t.producer, Math.max(d + 1, depth.get(t.producer) ?? 0));
  }
  const nodes = postorder.sort((a, b) => depth.get(b)! - depth.get(a)! || walk.get(a)! - walk.get(b)!);
  const layers = [...layerDepth.keys()].sort((a, b) => layerDepth.get(b)! - layerDepth.get(a)! || layerIndex.get(a)! - layerIndex.get(b)!);
  return { nodes, layers };
}

/** The nodes of graphOrder(). */
export function topologicalNodes(outputs: readonly SymbolicTensor[]): GraphNode[] {
  return graphOrder(outputs).nodes;
}
