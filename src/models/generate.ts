/**
 * Text generation from a character-level language model (src/models/charlm.ts, or any model with
 * one input of T ids and one output of T next-character distributions): one character at a time,
 * sampled on the host from the distribution the GPU computed.
 */
import { CharVocab, UNKNOWN_ID } from '../data/text.ts';
import { Random } from '../layers/initializers.ts';
import type { LayersModel } from '../model/layers-model.ts';
import { formatShape, tensor, type Tensor } from '../runtime/tensor.ts';

export interface GenerateOptions {
  /** The text to continue (characters outside the vocabulary read as the unknown id); '' starts after a line break. */
  prompt: string;
  /** Characters to generate. */
  length: number;
  /** Softmax temperature: 1 samples the model's distribution, lower is greedier, 0 takes the most likely character. */
  temperature: number;
  /** The sampling's seed: the same model, prompt and seed give the same text. Default 0. */
  seed?: number;
  /** Called after each character with the generated text so far (the prompt not included). */
  onText?: (textSoFar: string) => void;
}

/** The model's window length T and vocabulary size, checked against `vocab`. */
function modelSizes(model: LayersModel, vocab: CharVocab): { steps: number; classes: number } {
  const inputs = model.inputs;
  const outputs = model.outputs;
  const inShape = inputs[0]?.shape;
  const outShape = outputs[0]?.shape;
  if (inputs.length !== 1 || outputs.length !== 1 || inShape?.length !== 1 || outShape?.length !== 2 || outShape[0] !== inShape[0]) {
    throw new Error(
      `generateText: the model must map ids [T] to next-character probabilities [T, vocab] (charLanguageModel), got inputs ${inputs.map((t) => formatShape(t.shape)).join(', ')} and outputs ${outputs.map((t) => formatShape(t.shape)).join(', ')}`,
    );
  }
  if (outShape[1] !== vocab.size) throw new Error(`generateText: the model predicts ${outShape[1]} classes, but the vocabulary has ${vocab.size} ids`);
  return { steps: inShape[0]!, classes: vocab.size };
}

/**
 * Index of the next character drawn from `probs[offset, offset + classes)` at `temperature`
 * (0: the first maximum), never the unknown id: p_i^(1/temperature), renormalized, in log space.
 */
export function sampleIndex(probs: ArrayLike<number>, offset: number, classes: number, temperature: number, random: Random, weights: Float64Array): number {
  let best = -1;
  for (let i = 0; i < classes; i++) if (i !== UNKNOWN_ID && (best < 0 || probs[offset + i]! > probs[offset + best]!)) best = i;
  if (temperature === 0) return best;
  const top = Math.log(Math.max(probs[offset + best]!, 1e-30)) / temperature;
  let total = 0;
  for (let i = 0; i < classes; i++) {
    weights[i] = i === UNKNOWN_ID ? 0 : Math.exp(Math.log(Math.max(probs[offset + i]!, 1e-30)) / temperature - top);
    total += weights[i]!;
  }
  let u = random.next() * total;
  for (let i = 0; i < classes; i++) {
    u -= weights[i]!;
    if (u < 0 && weights[i]! > 0) return i;
  }
  return best;
}

/**
 * Continues `prompt` by `length` characters sampled one at a time at `temperature` (seeded), and
 * returns the generated characters (without the prompt).
 *
 * Each character costs one predictOnBatch of one window of T ids: the last T characters (or, while
 * the text is shorter, the text at the window's start, the rest of the window unused), reading the
 * distribution at the last real position. That is exact because the model is causal: a step sees
 * only the steps before it. The window is one host tensor rewritten in place, and every call runs
 * through the same batch-1 predict plan (built on the first call; note that predictOnBatch reuses a
 * larger predict plan if the model already has one), so the per-character cost is one forward pass
 * over T steps, one submit and one readback of [T, vocab] (all T rows: predictOnBatch reads the
 * whole output, and the engine's read() creates its mapped staging buffer per call).
 *
 * Re-using the prefix (computing only the new step) is future work: the engine cannot carry an
 * LSTM's state between predict calls (returnState and stateful are not supported) and its
 * MultiHeadAttention keeps no key/value cache, so every character re-runs the whole window.
 */
export async function generateText(model: LayersModel, vocab: CharVocab, options: GenerateOptions): Promise<string> {
  if (!(vocab instanceof CharVocab)) throw new TypeError(`generateText: vocab must be a CharVocab, got ${String(vocab)}`);
  if (!options || typeof options !== 'object') throw new TypeError(`generateText: options must be { prompt, length, temperature, seed?, onText? }, got ${String(options)}`);
  const { prompt, length, temperature, seed = 0, onText } = options;
  if (typeof prompt !== 'string') throw new TypeError(`generateText: prompt must be a string, got ${typeof prompt}`);
  if (!Number.isInteger(length) || length < 0) throw new Error(`generateText: length must be a non-negative integer, got ${String(length)}`);
  if (typeof temperature !== 'number' || !(temperature >= 0) || !Number.isFinite(temperature)) throw new Error(`generateText: temperature must be a finite number ≥ 0, got ${String(temperature)}`);
  if (!Number.isInteger(seed)) throw new Error(`generateText: seed must be an integer, got ${String(seed)}`);
  if (onText !== undefined && typeof onText !== 'function') throw new TypeError(`generateText: onText must be a function, got ${typeof onText}`);
  const { steps, classes } = modelSizes(model, vocab);

  // The text as ids, the prompt's last T characters then the generated ones (an empty prompt starts after a line break).
  const context = vocab.encode(prompt === '' ? '\n' : prompt);
  const history = new Int32Array(steps + length);
  let known = Math.min(context.length, steps);
  history.set(context.subarray(context.length - known));
  const window = new Int32Array(steps);
  const x = tensor(window, [1, steps]);
  const random = new Random(seed);
  const weights = new Float64Array(classes);
  let text = '';
  for (let n = 0; n < length; n++) {
    const start = Math.max(0, known - steps);
    window.set(history.subarray(start, known));
    const used = known - start;
    const probs = ((await model.predictOnBatch(x)) as Tensor).dataSync();
    const id = sampleIndex(probs, (used - 1) * classes, classes, temperature, random, weights);
    history[known++] = id;
    text += vocab.chars[id];
    onText?.(text);
  }
  return text;
}
