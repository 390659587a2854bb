/**
 * A recurrent sequence model's one-step twin, for generating one token at a time without running
 * the prefix again: the same layers over a sequence of length 1, each recurrent layer starting from
 * state inputs and returning its final states (returnState, initialState), so that each call
 * carries the states on to the next.
 *
 * The twin's layers are copies built from the originals' configs (so the model's own layers gain
 * no node) that read the originals' weights (shareLayerWeights): a twin built once follows the
 * model's training. It applies to models whose layers, apart from the recurrent
 * ones, treat each step alone (an embedding, dense layers, dropout, normalization over features);
 * a layer that mixes the steps (attention, convolutions, a position embedding, flatten) keeps the
 * whole window, and `recurrentStepModel` says why it does not apply.
 */
import { InputLayer, layerClass } from '../layers/all.ts';
import type { Layer, SymbolicTensor } from '../layers/layer.ts';
import { RecurrentLayer } from '../layers/recurrent-base.ts';
import { input, model } from '../model/containers.ts';
import type { LayersModel } from '../model/layers-model.ts';
import { layerWeights, shareLayerWeights } from '../model/shared-weights.ts';
import type { Tensor } from '../runtime/tensor.ts';

/** Layer classes that compute each step from that step alone (per position over the last axis). */
const PER_STEP = new Set(['Embedding', 'Dense', 'Dropout', 'Activation', 'LayerNormalization', 'BatchNormalization', 'ReLU', 'LeakyReLU', 'ELU', 'Softmax', 'ThresholdedReLU', 'GaussianNoise', 'GaussianDropout']);

/** A one-step twin: inputs [step input, ...states], outputs [step output, ...states], the states' sizes in input order. */
export interface StepModel {
  model: LayersModel<Tensor[]>;
  /** Units of each state input (and output), in order: each recurrent layer's h (and an LSTM's c). */
  states: number[];
}

/**
 * The one-step twin of `source` (one input [T, ...], one output [T, ...]), or the reason it has none.
 * It runs on the source's engine.
 */
export function recurrentStepModel(source: LayersModel): StepModel | { reason: string } {
  if (source.inputs.length !== 1 || source.outputs.length !== 1) return { reason: 'the model has several inputs or outputs' };
  const nodes = source.nodes;
  const recurrent = nodes.filter((n) => n.layer instanceof RecurrentLayer);
  if (recurrent.length === 0) return { reason: 'the model has no recurrent layer to carry the state' };
  const values = new Map<SymbolicTensor, SymbolicTensor>();
  const stateInputs: SymbolicTensor[] = [];
  const stateOutputs: SymbolicTensor[] = [];
  const states: number[] = [];
  /** A layer of the same class and config (`changes` in Keras's fields), reading the original's weights. */
  const copyOf = (layer: Layer, changes: Record<string, unknown> = {}): Layer => {
    // A declared input shape (an Embedding's inputLength) names T steps: the twin takes one.
    const config: Record<string, unknown> = { ...layer.getConfig(), ...changes };
    delete config.batch_input_shape;
    if ('input_length' in config) config.input_length = null;
    const copy = layerClass(layer.className)!.fromConfig(config);
    if (layerWeights(layer)) shareLayerWeights(layer, copy);
    return copy;
  };
  try {
    for (const node of nodes) {
      const layer = node.layer;
      if (layer instanceof InputLayer) {
        values.set(node.output, input({ shape: [1, ...layer.shape.slice(1)], name: layer.name }));
        continue;
      }
      if (node.inputs.length !== 1) return { reason: `layer ${layer.name} (${layer.className}) takes several inputs` };
      const x = values.get(node.inputs[0]!)!;
      if (layer instanceof RecurrentLayer) {
        if (layer.goBackwards || !layer.returnSequences || layer.returnState) return { reason: `layer ${layer.name} (${layer.className}) is not a forward layer returning its sequence` };
        const copy = copyOf(layer, { return_state: true }) as RecurrentLayer<boolean>;
        const initial = Array.from({ length: layer.stateCount }, (_, k) => input({ shape: [layer.units], name: `${layer.name}_state${k}` }));
        const [y, ...finals] = copy.apply(x, { initialState: initial }) as SymbolicTensor[];
        stateInputs.push(...initial);
        stateOutputs.push(...finals);
        states.push(...initial.map(() => layer.units));
        values.set(node.output, y!);
        continue;
      }
      if (!PER_STEP.has(layer.className)) return { reason: `layer ${layer.name} (${layer.className}) mixes the steps of the sequence` };
      values.set(node.output, copyOf(layer).apply(x));
    }
  } catch (err) {
    return { reason: (err as Error).message };
  }
  const inputs = [values.get(source.inputs[0]!)!, ...stateInputs];
  const outputs = [values.get(source.outputs[0]!)!, ...stateOutputs];
  const twin = model({ name: `${source.name}_step`, inputs, outputs }) as LayersModel<Tensor[]>;
  const engine = source.engine;
  if (engine) twin.useEngine(engine);
  return { model: twin, states };
}
