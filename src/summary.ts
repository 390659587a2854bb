/** Keras 3's `model.summary()` table, drawn with the same box characters and number formats. */
import type { GraphNode, Layer, SymbolicTensor } from './layers/layer.ts';
import { sizeOf } from './runtime/tensor.ts';

/** A layer and its nodes in the model (a shared layer has several). */
export interface SummaryRow {
  layer: Layer;
  nodes: readonly GraphNode[];
  params: number;
}

/** Keras's reference to a tensor: `layer[nodeIndex][tensorIndex]`. */
function tensorRef(t: SymbolicTensor): string {
  return `${t.producer.layer.name}[${t.producer.layer.inboundNodes.indexOf(t.producer)}][${t.index}]`;
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(2)} ${units[unit]}`;
}

const count = (n: number) => n.toLocaleString('en-US');

export function summaryTable(modelName: string, rows: readonly SummaryRow[], showConnections: boolean, trainable: number, nonTrainable: number): string {
  const headers = ['Layer (type)', 'Output Shape', 'Param #', ...(showConnections ? ['Connected to'] : [])];
  const cells = rows.map(({ layer, nodes, params }) => {
    // Keras lists a node's several outputs (a recurrent layer's states) as a list of shapes.
    const shapeOf = (shape: readonly number[]) => `(None, ${shape.join(', ')})`;
    const shapes = [...new Set(nodes.map((n) => (n.outputs.length === 1 ? shapeOf(n.output.shape) : `[${n.outputs.map((t) => shapeOf(t.shape)).join(', ')}]`)))];
    return [
      `${layer.name} (${layer.className})`,
      shapes.length === 1 ? shapes[0]! : 'multiple',
      count(params),
      ...(showConnections ? [nodes.flatMap((n) => n.inputs.map(tensorRef)).join(', ') || '-'] : []),
    ];
  });
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)) + 2);
  const alignRight = (i: number) => i === 2;
  const pad = (text: string, i: number) => (alignRight(i) ? text.padStart(widths[i]! - 1) + ' ' : ' ' + text.padEnd(widths[i]! - 1));
  const rule = (l: string, m: string, r: string, h: string) => l + widths.map((w) => h.repeat(w)).join(m) + r;
  const lines = [`Model: "${modelName}"`, rule('┏', '┳', '┓', '━'), '┃' + headers.map(pad).join('┃') + '┃', rule('┡', '╇', '┩', '━')];
  cells.forEach((c, k) => {
    lines.push('│' + c.map(pad).join('│') + '│');
    if (k < cells.length - 1 && showConnections) lines.push(rule('├', '┼', '┤', '─'));
  });
  lines.push(rule('└', '┴', '┘', '─'));
  lines.push(` Total params: ${count(trainable + nonTrainable)} (${formatBytes((trainable + nonTrainable) * 4)})`);
  lines.push(` Trainable params: ${count(trainable)} (${formatBytes(trainable * 4)})`);
  lines.push(` Non-trainable params: ${count(nonTrainable)} (${formatBytes(nonTrainable * 4)})`);
  return lines.join('\n');
}

export function paramCount(shapes: readonly (readonly number[])[]): number {
  return shapes.reduce((total, s) => total + sizeOf(s), 0);
}
