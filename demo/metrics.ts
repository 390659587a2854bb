/** Evaluation arithmetic on host predictions, shared by the worker, the page and the tests. */

export const CLASSES = 10;

/** Index of the largest value in row `row` of a [N, classes] array (the first on ties, like argmax). */
export function argmaxRow(values: ArrayLike<number>, row: number, classes = CLASSES): number {
  let best = 0;
  for (let c = 1; c < classes; c++) if (values[row * classes + c]! > values[row * classes + best]!) best = c;
  return best;
}

/** Mean crossentropy, with probabilities clipped to [1e-7, 1] as Keras does. */
export function crossentropy(probabilities: ArrayLike<number>, labels: ArrayLike<number>, classes = CLASSES): number {
  let sum = 0;
  for (let i = 0; i < labels.length; i++) sum -= Math.log(Math.min(1, Math.max(1e-7, probabilities[i * classes + labels[i]!]!)));
  return sum / labels.length;
}

/** matrix[truth][predicted] counts. */
export function confusionMatrix(probabilities: ArrayLike<number>, labels: ArrayLike<number>, classes = CLASSES): number[][] {
  const matrix = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < labels.length; i++) matrix[labels[i]!]![argmaxRow(probabilities, i, classes)]!++;
  return matrix;
}

/** Indices of the samples whose predicted class differs from the label. */
export function misclassifiedIndices(probabilities: ArrayLike<number>, labels: ArrayLike<number>, classes = CLASSES): number[] {
  const out: number[] = [];
  for (let i = 0; i < labels.length; i++) if (argmaxRow(probabilities, i, classes) !== labels[i]) out.push(i);
  return out;
}
