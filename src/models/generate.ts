/**
 * Text generation from a character-level language model (src/models/charlm.ts, or any model with
 * one input of T ids and one output of T next-character distributions): one character at a time,
 * sampled on the host from the distribution the GPU computed. A recurrent model runs one step per
 * character, carrying its states (src/models/recurrent-step.ts); any other reruns its window.
 */
import { CharVocab, UNKNOWN_ID } from '../data/text.ts';
import { Random } from '../layers/initializers.ts';
import type { LayersModel } from '../model/layers-model.ts';
import { formatShape, tensor, type Tensor } from '../runtime/tensor.ts';
import { recurrentStepModel, type StepModel } from './recurrent-step.ts';

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
  /**
   * Carry a recurrent model's states from character to character instead of rerunning its window
   * (default true; models it does not apply to rerun the window anyway: generationMode says why).
   */
  reusePrefix?: boolean;
}

/** Each model's one-step twin (or why it has none), built on first use. */
const twins = new WeakMap<LayersModel, StepModel | { reason: string }>();

function twinOf(model: LayersModel): StepModel | { reason: string } {
  let twin = twins.get(model);
  if (!twin) twins.set(model, (twin = recurrentStepModel(model)));
  return twin;
}

/** How generateText runs `model`: 'state' (one step per character, the states carried) or 'window' (the last T characters again), with the reason for a window. */
export function generationMode(model: LayersModel): { mode: 'state' } | { mode: 'window'; reason: string } {
  const twin = twinOf(model);
  return 'reason' in twin ? { mode: 'window', reason: twin.reason } : { mode: 'state' };
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
 * A recurrent model (generationMode 'state') reads the prompt's last T characters one step at a
 * time from zero states, then each new character costs one step of its one-step twin: one submit
 * and one readback of the distribution and the states, which go back in with the next character.
 * So the context is not cut at T characters, as an LSTM's is not in Keras's char-RNN example.
 *
 * Any other model (a transformer: attention and its position embedding see the whole window)
 * costs one predictOnBatch of one window of T ids per character: the last T characters (or, while
 * the text is shorter, the text at the window's start, the rest of the window unused), reading the
 * distribution at the last real position. That is exact because the model is causal: a step sees
 * only the steps before it. The window is one host tensor rewritten in place, and every call runs
 * through the same batch-1 predict plan (note that predictOnBatch reuses a larger predict plan if
 * the model already has one). A key/value cache would help only until the window fills: after
 * that every position embedding shifts with the window, so each character needs the whole window.
 */
export async function generateText(model: LayersModel, vocab: CharVocab, options: GenerateOptions): Promise<string> {
  if (!(vocab instanceof CharVocab)) throw new TypeError(`generateText: vocab must be a CharVocab, got ${String(vocab)}`);
  if (!options || typeof options !== 'object') throw new TypeError(`generateText: options must be { prompt, length, temperature, seed?, onText?, reusePrefix? }, got ${String(options)}`);
  const { prompt, length, temperature, seed = 0, onText, reusePrefix = true } = options;
  if (typeof prompt !== 'string') throw new TypeError(`generateText: prompt must be a string, got ${typeof prompt}`);
  if (!Number.isInteger(length) || length < 0) throw new Error(`generateText: length must be a non-negative integer, got ${String(length)}`);
  if (typeof temperature !== 'number' || !(temperature >= 0) || !Number.isFinite(temperature)) throw new Error(`generateText: temperature must be a finite number ≥ 0, got ${String(temperature)}`);
  if (!Number.isInteger(seed)) throw new Error(`generateText: seed must be an integer, got ${String(seed)}`);
  if (onText !== undefined && typeof onText !== 'function') throw new TypeError(`generateText: onText must be a function, got ${typeof onText}`);
  if (typeof reusePrefix !== 'boolean') throw new TypeError(`generateText: reusePrefix must be true or false, got ${typeof reusePrefix}`);
  const { steps, classes } = modelSizes(model, vocab);

  // The prompt's last T characters (an empty prompt starts after a line break).
  const context = vocab.encode(prompt === '' ? '\n' : prompt);
  const start = context.subarray(Math.max(0, context.length - steps));
  const random = new Random(seed);
  const weights = new Float64Array(classes);
  const twin = reusePrefix ? twinOf(model) : undefined;
  const next = twin && !('reason' in twin) ? await stateStepper(twin, start) : await windowStepper(model, steps, classes, length, start);
  let text = '';
  for (let n = 0; n < length; n++) {
    const { probs, offset } = next.distribution();
    const id = sampleIndex(probs, offset, classes, temperature, random, weights);
    text += vocab.chars[id];
    onText?.(text);
    if (n + 1 < length) await next.advance(id);
  }
  return text;
}

/** A generator's state: the distribution of the next character (probs[offset, offset + classes)), and how to take a character. */
interface Stepper {
  distribution(): { probs: ArrayLike<number>; offset: number };
  advance(id: number): Promise<void>;
}

/** The recurrent way: the twin reads the context step by step, then one step per character. */
async function stateStepper(twin: StepModel, context: Int32Array): Promise<Stepper> {
  const states = twin.states.map((units) => new Float32Array(units));
  const id = new Int32Array(1);
  const x = tensor(id, [1, 1]);
  const stateTensors = states.map((s) => tensor(s, [1, s.length]));
  let probs: ArrayLike<number> = [];
  const advance = async (token: number) => {
    id[0] = token;
    const [out, ...finals] = await twin.model.predictOnBatch([x, ...stateTensors]);
    finals.forEach((t, k) => states[k]!.set(t.dataSync()));
    probs = out!.dataSync();
  };
  for (const token of context) await advance(token);
  return { distribution: () => ({ probs, offset: 0 }), advance };
}

/** The window way: the last T characters through the whole model for each character. */
async function windowStepper(model: LayersModel, steps: number, classes: number, length: number, context: Int32Array): Promise<Stepper> {
  const history = new Int32Array(steps + length);
  history.set(context);
  let known = context.length;
  const window = new Int32Array(steps);
  const x = tensor(window, [1, steps]);
  let probs: ArrayLike<number> = [];
  let used = 0;
  const run = async () => {
    const start = Math.max(0, known - steps);
    window.set(history.subarray(start, known));
    used = known - start;
    probs = ((await model.predictOnBatch(x)) as Tensor).dataSync();
  };
  await run();
  return {
    distribution: () => ({ probs, offset: (used - 1) * classes }),
    advance: async (id) => {
      history[known++] = id;
      await run();
    },
  };
}
