/**
 * The skeleton every loss kernel shares (shaders/losses.ts holds the losses themselves): its
 * bindings, the per-position loop over the real rows with Kahan sums (with a Keras mask, over its
 * kept positions: the loss is their mean, Σ mask·loss / Σ mask), the accuracy counting, the
 * workgroup reduction into the metrics accumulator, and the WGSL helper functions a loss body may
 * call (included only when used).
 *
 * There is no f32 atomic, so the batch reduction happens inside one workgroup: its invocations
 * stride over the batch, each keeping a Kahan sum, then a tree reduction and one Kahan addition
 * into the accumulator. That is the 'one-workgroup' variant (lossKernel): one dispatch and no
 * scratch buffer, right for CPU rasterizers and small outputs. The 'partials' variant
 * (shaders/loss-partials.ts) runs the same declarations and loops (lossDeclarations, lossLoops)
 * over many workgroups for GPUs; src/ops/losses/loss-variants.ts chooses between them.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { metricsWgsl } from './metrics.ts';
import { STEP_INFO_STRUCT, type KernelSource } from './kernel.ts';
import { constants, f32 } from './wgsl.ts';

/** TF.js's fuzz factor, `tf.backend().epsilon()` under float32: its clips use it. */
export const EPSILON = 1e-7;

/** Keras's default Huber delta. */
export const HUBER_DELTA = 1.0;

/** The accuracy a loss kernel counts (see src/ops/losses/loss.ts, AccuracyKind), or null for none. */
export type AccuracyCount = 'sparse' | 'categorical' | 'binary' | null;

export interface LossKernelGeometry {
  /** Rows of the plan; StepInfo.rows of them are real. */
  batch: number;
  /** Per-position losses per sample: the product of the output's per-sample axes but the last. */
  positions: number;
  /** The output's last axis, which a per-position loss reduces over. */
  width: number;
}

export interface LossKernelOptions {
  /** False for evaluation: only the metrics are accumulated, and there is no gradient binding. */
  withGradient: boolean;
  accuracy: AccuracyCount;
  /**
   * Weighted per row (classWeight, sampleWeight): a last binding holds f32 [batch] weights, and each
   * row's losses and gradients are multiplied by its weight; the loss stays a mean over the real
   * positions (TF.js's mean(loss · weight), Keras's sum over batch size).
   */
  sampleWeights?: boolean;
  /**
   * With a Keras mask on the output: the mask's values per sample, each over POSITIONS / maskPositions
   * consecutive positions. A last binding holds the mask f32 [batch, maskPositions] (1 kept, 0
   * masked); the masked positions add no loss, accuracy nor gradient, and the batch's loss is the
   * mean over the kept positions (Keras 2.13+ and 3: Σ mask·loss / Σ mask, 0 when none is kept).
   */
  maskPositions?: number;
}

/** The activation the output holds the pre-activation of (a fused loss), which predictions pass through. */
export type Activation = 'none' | 'sigmoid' | 'softmax';

// ---- helper functions ----------------------------------------------------------------------

/** WGSL helpers a loss body may call, by name; a kernel includes those its code mentions. */
const HELPERS: Readonly<Record<string, WgslHelper>> = {
  log_1p: {
    code: `// log(1 + x) for x > -1 to about an ulp (WGSL has no log1p). For -0.5 < x < 1 it is
// 2 atanh(w), w = x / (2 + x), |w| < 1/3, whose odd series converges fast; elsewhere the
// rounding of 1 + x costs nothing (x <= -0.5: it is exact; x >= 1: it is relatively tiny).
fn log_1p(x: f32) -> f32 {
  if (x <= -0.5 || x >= 1.0) { return log(1.0 + x); }
  let w = x / (2.0 + x);
  let w2 = w * w;
  // 2 (w + w^3/3 + ... + w^13/13): the next term is below 2e-8 relative.
  return 2.0 * w * (1.0 + w2 * (1.0 / 3.0 + w2 * (1.0 / 5.0 + w2 * (1.0 / 7.0 + w2 * (1.0 / 9.0 + w2 * (1.0 / 11.0 + w2 / 13.0))))));
}`,
  },
  sigmoid: {
    code: `// 1 / (1 + exp(-x)) without overflow: exp only ever sees -|x|.
fn sigmoid(x: f32) -> f32 {
  let e = exp(-abs(x));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}`,
  },
  tanh_stable: {
    code: `// tanh(x) without the overflow of exp(2x) nor the cancellation of 1 - exp(-2|x|) near 0.
fn tanh_stable(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.125) {
    let a2 = a * a;
    // x - x^3/3 + 2x^5/15 - 17x^7/315: the next term is below 2e-9 relative.
    return x * (1.0 + a2 * (-1.0 / 3.0 + a2 * (2.0 / 15.0 + a2 * (-17.0 / 315.0))));
  }
  let e = exp(-2.0 * a);
  return sign(x) * ((1.0 - e) / (1.0 + e));
}`,
  },
  log_cosh: {
    uses: ['log_1p'],
    code: `// log(cosh(x)) = |x| + log(1 + exp(-2|x|)) - log 2, which cancels for small |x|: there
// its series instead.
fn log_cosh(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.25) {
    let a2 = a * a;
    // x^2/2 - x^4/12 + x^6/45 - 17x^8/2520 + 31x^10/14175: the next term is below 3e-9 relative.
    return a2 * (0.5 + a2 * (-1.0 / 12.0 + a2 * (1.0 / 45.0 + a2 * (-17.0 / 2520.0 + a2 * (31.0 / 14175.0)))));
  }
  return (a - LN2) + log_1p(exp(-2.0 * a));
}`,
  },
  in_clip: {
    code: `// The derivative of clip(x, EPSILON, ONE_MINUS_EPSILON): 1 inside, bounds included (as TF.js's
// clipByValue gradient), 0 outside.
fn in_clip(x: f32) -> f32 {
  return select(0.0, 1.0, x >= EPSILON && x <= ONE_MINUS_EPSILON);
}`,
  },
  nan_from: {
    code: `// A quiet NaN at run time (WGSL has no NaN literal): for a bad sparse label, so that the loss
// shows it instead of training silently on a wrong class.
fn nan_from(bits: u32) -> f32 {
  return bitcast<f32>(0x7fc00000u | bits);
}`,
  },
};

/** A WGSL helper function a kernel body may call, and the helpers it calls itself. */
export interface WgslHelper {
  code: string;
  uses?: readonly string[];
}

/**
 * The helpers `code` calls, with theirs, in dependency order: the loss helpers above and any
 * `extra` a kernel family adds (the metric kernels share these).
 */
export function helpersFor(code: string, extra: Readonly<Record<string, WgslHelper>> = {}): string {
  const all: Readonly<Record<string, WgslHelper>> = { ...HELPERS, ...extra };
  const included: string[] = [];
  const visit = (name: string) => {
    if (included.includes(name)) return;
    for (const dep of all[name]!.uses ?? []) visit(dep);
    included.push(name);
  };
  for (const name of Object.keys(all)) if (new RegExp(`\\b${name}\\(`).test(code)) visit(name);
  return included.map((name) => all[name]!.code).join('\n\n');
}

// ---- the shared skeleton -------------------------------------------------------------------

/**
 * The bindings of every loss kernel, in order: output f32 [batch, positions, width] (read); labels
 * (read: sparse u32 [batch, positions], dense f32 like the output); with a gradient, grad f32 like
 * the output (overwritten with d(batch-mean loss)/d(output), zero on padding rows); the metrics
 * accumulator (added to); the StepInfo uniform; when weighted, the rows' weights (f32 [batch], read);
 * when masked, the output's mask (f32 [batch, maskPositions], read).
 */
export function lossBindings(withGradient: boolean, sampleWeights = false, masked = false): KernelSource['bindings'] {
  return ['read', 'read', ...(withGradient ? (['write'] as const) : []), 'write', 'uniform', ...(sampleWeights ? (['read'] as const) : []), ...(masked ? (['read'] as const) : [])];
}

/** Invocations of the one workgroup: 64 keeps the tree reduction short; big outputs get 256. */
function workgroupSize(elements: number): number {
  return elements > 16384 ? 256 : 64;
}

function checkGeometry(who: string, g: LossKernelGeometry): void {
  for (const key of ['batch', 'positions', 'width'] as const) {
    const v = g[key];
    if (!Number.isInteger(v) || v < 1) throw new Error(`${who}: ${key} must be a positive integer, got ${v}`);
  }
  if (g.batch * g.positions * g.width > 2 ** 31) throw new Error(`${who}: ${g.batch} × ${g.positions} × ${g.width} elements exceed the u32 indexing`);
}

export interface KernelSpec {
  name: string;
  formula: string;
  g: LossKernelGeometry;
  options: LossKernelOptions;
  sparse: boolean;
  activation: Activation;
  /** Present for the elementwise family: a loop over elements instead of positions. */
  elementwise?: { reduce: 'mean' | 'sum' };
  /** WGSL: loss_term and loss_term_grad (elementwise) or position_loss (row-wise). */
  fns: string;
}

/** WGSL of `fn correct_at(p: u32) -> u32`: the accuracy matches at position p. */
function accuracyFns(kind: Exclude<AccuracyCount, null>, activation: Activation): string {
  // Sigmoid saturates where logits still differ, so predictions are judged after it, as TF.js
  // judges the model's output. Softmax keeps the order of the logits, so argmax reads them.
  const argmaxOutput = `// What argmax compares: ${activation === 'sigmoid' ? 'the sigmoid of the logits' : 'the output'}.
fn score(i: u32) -> f32 {
  return ${activation === 'sigmoid' ? 'sigmoid(output[i])' : 'output[i]'};
}

// The first maximum, as TF.js's argMax.
fn argmax_output(base: u32) -> u32 {
  var best = 0u;
  var top = score(base);
  for (var j = 1u; j < WIDTH; j++) {
    let v = score(base + j);
    if (v > top) { top = v; best = j; }
  }
  return best;
}`;
  if (kind === 'sparse') {
    return `${argmaxOutput}

fn correct_at(p: u32) -> u32 {
  return select(0u, 1u, argmax_output(p * WIDTH) == labels[p]);
}`;
  }
  if (kind === 'categorical') {
    return `${argmaxOutput}

fn argmax_labels(base: u32) -> u32 {
  var best = 0u;
  var top = labels[base];
  for (var j = 1u; j < WIDTH; j++) {
    if (labels[base + j] > top) { top = labels[base + j]; best = j; }
  }
  return best;
}

fn correct_at(p: u32) -> u32 {
  return select(0u, 1u, argmax_output(p * WIDTH) == argmax_labels(p * WIDTH));
}`;
  }
  // binary: per element, (prediction > 0.5) == (label > 0.5).
  const prob =
    activation === 'softmax' ? 'exp((output[base + j] - m) - logS)' : activation === 'sigmoid' ? 'sigmoid(output[base + j])' : 'output[base + j]';
  return `fn correct_at(p: u32) -> u32 {
  let base = p * WIDTH;
${activation === 'softmax' ? `  var m = output[base];
  for (var j = 1u; j < WIDTH; j++) { m = max(m, output[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < WIDTH; j++) { s += exp(output[base + j] - m); }
  let logS = log(s);
` : ''}  var n = 0u;
  for (var j = 0u; j < WIDTH; j++) {
    n += select(0u, 1u, (${prob} > 0.5) == (labels[base + j] > 0.5));
  }
  return n;
}`;
}

/** The f32 constants `code` uses, as named WGSL constants. */
function floatConstants(code: string): string {
  const all: Record<string, number> = { EPSILON, ONE_MINUS_EPSILON: 1 - EPSILON, HUBER_DELTA, LN2: Math.LN2 };
  return Object.entries(all)
    .filter(([name]) => new RegExp(`\\b${name}\\b`).test(code))
    .map(([name, value]) => `const ${name} = ${f32(value)};`)
    .join('\n');
}

/** What every pass of a loss derives from its spec: the checked options, the sizes and the WGSL the passes share. */
export interface LossParts {
  spec: KernelSpec;
  withGradient: boolean;
  weighted: boolean;
  masked: boolean;
  maskPositions: number | undefined;
  accuracy: AccuracyCount;
  /** Elements per sample. */
  sample: number;
  /** Terms per per-position loss: WIDTH for an elementwise mean, else 1. */
  termsPerLoss: number;
  /** The WGSL expression of what `correct` is out of. */
  accuracyCount: string;
  /** The accumulator's binding (2 or 3): the bindings after it follow. */
  metricsBinding: number;
  helpers: string;
  body: string;
  /** The key's tail after the loss name and geometry. */
  keyOptions: string;
}

/** Checks a spec and derives its LossParts; throws naming the loss. */
export function lossParts(spec: KernelSpec): LossParts {
  const { name, g, options, sparse, activation, elementwise } = spec;
  checkGeometry(name, g);
  const accuracy = options.accuracy;
  if (accuracy !== null && !['sparse', 'categorical', 'binary'].includes(accuracy)) throw new Error(`${name}: unknown accuracy '${String(accuracy)}'`);
  if (accuracy === 'sparse' && !sparse) throw new Error(`${name}: sparse accuracy needs sparse labels (class indices)`);
  if (accuracy !== null && accuracy !== 'sparse' && sparse) throw new Error(`${name}: ${accuracy} accuracy needs dense labels, this loss has class indices`);
  const withGradient = options.withGradient;
  const weighted = options.sampleWeights === true;
  const maskPositions = options.maskPositions;
  const masked = maskPositions !== undefined;
  if (masked && !(Number.isInteger(maskPositions) && maskPositions >= 1 && g.positions % maskPositions === 0)) {
    throw new Error(`${name}: maskPositions must be a positive divisor of the ${g.positions} positions per sample, got ${maskPositions}`);
  }
  const accuracyCode = accuracy ? accuracyFns(accuracy, activation) : '';
  const body = `${spec.fns}\n\n${accuracyCode}`;
  // With a mask the loss and accuracy count the kept positions only.
  const counted = masked ? 'keptPositions' : 'realPositions';
  return {
    spec,
    withGradient,
    weighted,
    masked,
    maskPositions,
    accuracy,
    sample: g.positions * g.width,
    // The per-position loss is the mean (or sum) of the elements' terms, so a thread sums terms and
    // the batch's sum of per-position losses is that over WIDTH.
    termsPerLoss: elementwise?.reduce === 'mean' ? g.width : 1,
    accuracyCount: accuracy === 'binary' ? `${counted} * WIDTH` : accuracy ? counted : '0u',
    metricsBinding: withGradient ? 3 : 2,
    helpers: helpersFor(body),
    body,
    keyOptions: `${withGradient ? 'gradient' : 'metrics-only'}:${accuracy ?? 'no-accuracy'}${weighted ? ':weighted' : ''}${masked ? `:masked${maskPositions}` : ''}`,
  };
}

/**
 * The module scope of a loss's per-position pass, from its header to the loss body: `accumulator`
 * is the WGSL at the accumulator's binding (the metrics, or the partial sums), `extra` more
 * constants and `note` more header lines (each starting with a new line).
 */
export function lossDeclarations(parts: LossParts, wg: number, accumulator: string, extra: Readonly<Record<string, number>> = {}, note = ''): string {
  const { spec, withGradient, weighted, masked, maskPositions, sample, termsPerLoss, metricsBinding, helpers, body } = parts;
  const { name, g, sparse } = spec;
  return wgsl`// ${name}: ${spec.formula}.
// The batch's loss is the mean over its real positions (StepInfo.rows rows of POSITIONS each)${masked ? ' that the mask keeps' : ''}.${note}
${constants({ BATCH: g.batch, POSITIONS: g.positions, WIDTH: g.width, SAMPLE: sample, WG: wg, ...extra })}
${floatConstants(`${helpers}\n${body}`)}

${STEP_INFO_STRUCT}

@group(0) @binding(0) var<storage, read> output: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<${sparse ? 'u32' : 'f32'}>;
#if ${withGradient}
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;
#endif
${accumulator}

@group(0) @binding(${metricsBinding + 1}) var<uniform> step: StepInfo;
${weighted ? `@group(0) @binding(${metricsBinding + 2}) var<storage, read> sampleWeight: array<f32>;

// The weight of the row being summed: it scales the row's losses and gradients.
var<private> rowWeight: f32;
` : ''}${masked ? `${constants({ MASK_POSITIONS: maskPositions!, MASK_INNER: g.positions / maskPositions! })} // the mask's values per sample; positions per value
@group(0) @binding(${metricsBinding + (weighted ? 3 : 2)}) var<storage, read> mask: array<f32>;

// Whether the position being summed is kept (its mask value is not 0): a masked one adds no loss nor gradient.
var<private> positionKept: bool;
` : ''}
// d(batch-mean loss) / d(per-position loss, or term): 1 / (real positions${termsPerLoss > 1 ? ' * WIDTH' : ''}).
var<private> gradScale: f32;

fn store_grad(i: u32, g: f32) {${withGradient ? (masked ? ` grad[i] = select(0.0, g * gradScale${weighted ? ' * rowWeight' : ''}, positionKept); ` : ` grad[i] = g * gradScale${weighted ? ' * rowWeight' : ''}; `) : ' /* evaluation: no gradient */ '}}

${KAHAN_ADD}

${helpers}

${body}`;
}

/** A Kahan sum in WGSL, shared by every pass that sums losses. */
export const KAHAN_ADD = `// A Kahan sum: x the sum, y what it lost to rounding, negated.
fn kahan_add(sum: vec2f, v: f32) -> vec2f {
  let y = v - sum.y;
  let t = sum.x + y;
  return vec2f(t, (t - sum.x) - y);
}`;

/** The gradient's scale for masked losses, from `keptPositions`, or from the real positions. */
export function gradScaleWgsl(parts: LossParts): string {
  const width = parts.termsPerLoss > 1 ? ' * f32(WIDTH)' : '';
  return parts.masked ? `gradScale = 1.0 / (f32(max(keptPositions, 1u))${width});` : `gradScale = 1.0 / (f32(realPositions)${width});`;
}

/**
 * The per-position loops of `main` (invocations from `start` by `stride`): the losses and
 * gradients Kahan-summed into `loss`, the padding rows' zero gradient, the matches into `correct`.
 */
export function lossLoops(parts: LossParts, start: string, stride: string): string {
  const { withGradient, weighted, masked, accuracy } = parts;
  const elementwise = parts.spec.elementwise;
  return wgsl`  var loss = vec2f(0.0);
#if ${elementwise !== undefined}
  for (var i = ${start}; i < rows * SAMPLE; i += ${stride}) {
    let y = output[i];
    let t = labels[i];${weighted ? `
    rowWeight = sampleWeight[i / SAMPLE];` : ''}${masked ? `
    positionKept = mask[i / (WIDTH * MASK_INNER)] != 0.0;
    if (positionKept) { loss = kahan_add(loss, ${weighted ? 'rowWeight * ' : ''}loss_term(y, t)); }` : weighted ? `
    loss = kahan_add(loss, rowWeight * loss_term(y, t));` : `
    loss = kahan_add(loss, loss_term(y, t));`}
    store_grad(i, loss_term_grad(y, t));
  }
#else
  for (var p = ${start}; p < realPositions; p += ${stride}) {${weighted ? `
    rowWeight = sampleWeight[p / POSITIONS];` : ''}${masked ? `
    positionKept = mask[p / MASK_INNER] != 0.0;
    // position_loss stores the (zeroed) gradient either way.
    let value = ${weighted ? 'rowWeight * ' : ''}position_loss(p);
    if (positionKept) { loss = kahan_add(loss, value); }` : weighted ? `
    loss = kahan_add(loss, rowWeight * position_loss(p));` : `
    loss = kahan_add(loss, position_loss(p));`}
  }
#endif
#if ${withGradient}
  // The padding rows: no loss, no gradient.
  for (var i = rows * SAMPLE + ${start}; i < BATCH * SAMPLE; i += ${stride}) { grad[i] = 0.0; }
#endif
  var correct = 0u;
#if ${accuracy !== null}
  for (var p = ${start}; p < realPositions; p += ${stride}) { ${masked ? 'if (mask[p / MASK_INNER] != 0.0) { correct += correct_at(p); }' : 'correct += correct_at(p);'} }
#endif
`;
}

/** The workgroup's tree reduction of each invocation's `loss` and `correct` into lossPart[0] and correctPart[0]. */
/**
 * WGSL of a main() with \`lid\`, \`rows\` and the mask bound: the mask's nonzero values over the real
 * rows, counted per invocation into \`local\` and summed by a tree into \`part\`[0] (a workgroup
 * array of WG u32s), which every invocation may read after it.
 */
export function countKeptPositions(local: string, part: string): string {
  return `var ${local} = 0u;
  for (var q = lid; q < rows * MASK_POSITIONS; q += WG) { ${local} += select(0u, 1u, mask[q] != 0.0); }
  ${part}[lid] = ${local};
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { ${part}[lid] += ${part}[lid + stride]; }
    workgroupBarrier();
  }`;
}

export const WORKGROUP_REDUCTION = `  lossPart[lid] = loss.x - loss.y;
  correctPart[lid] = correct;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      lossPart[lid] += lossPart[lid + stride];
      correctPart[lid] += correctPart[lid + stride];
    }
    workgroupBarrier();
  }`;

/** Invocation 0's addition of the batch's totals (lossPart[0], correctPart[0]) into the metrics accumulator. */
export function addToMetricsWgsl(parts: LossParts): string {
  const { masked, termsPerLoss, accuracyCount } = parts;
  return `  if (lid == 0u) {
    ${masked ? `// The accumulator averages over realPositions: the batch's sum is scaled so that its mean is over the kept ones.
    add_to_metrics(lossPart[0]${termsPerLoss > 1 ? ' / f32(WIDTH)' : ''} * (f32(realPositions) / f32(max(keptPositions, 1u))), realPositions, correctPart[0], ${accuracyCount});` : `add_to_metrics(lossPart[0]${termsPerLoss > 1 ? ' / f32(WIDTH)' : ''}, realPositions, correctPart[0], ${accuracyCount});`}
  }`;
}

/** The 'one-workgroup' loss kernel: one workgroup over the whole batch, adding into the metrics itself. */
export function lossKernel(spec: KernelSpec): KernelSource {
  const parts = lossParts(spec);
  const { g } = spec;
  const wg = workgroupSize(g.batch * parts.sample);
  const code = wgsl`${lossDeclarations(parts, wg, metricsWgsl(parts.metricsBinding))}

var<workgroup> lossPart: array<f32, WG>;
var<workgroup> correctPart: array<u32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  let rows = min(step.rows, BATCH);
  let realPositions = rows * POSITIONS;
${parts.masked ? `  // The kept positions of the real rows, summed over the workgroup first: the mean is over them.
  ${countKeptPositions('keptValues', 'correctPart')}
  let keptPositions = correctPart[0] * MASK_INNER;
  workgroupBarrier(); // every invocation has read it before correctPart is reused
  // No kept position: no loss and no gradient (rather than Keras 2's 0/0).
  ${gradScaleWgsl(parts)}` : `  ${gradScaleWgsl(parts)}`}
${lossLoops(parts, 'lid', 'WG')}
${WORKGROUP_REDUCTION}
${addToMetricsWgsl(parts)}
}`;
  return {
    key: `loss:${spec.name}:${g.batch}x${g.positions}x${g.width}:${parts.keyOptions}`,
    bindings: lossBindings(parts.withGradient, parts.weighted, parts.masked),
    workgroups: [1, 1, 1],
    code,
  };
}
