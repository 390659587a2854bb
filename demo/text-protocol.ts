/** Messages between the demo's text tab and its worker (text-worker.ts owns the GPU; the page only renders). */
import type { CharLmKind } from '../src/models/charlm.ts';

export type { CharLmKind };

/** Where the training text came from (the page resolves it and sends the text itself). */
export type TextSource = 'corpus' | 'pasted';

export interface TextTrainConfig {
  kind: CharLmKind;
  /** The transformer's model width or the LSTM's units; undefined: charLanguageModel's default. */
  width?: number;
  /** Transformer blocks or stacked LSTMs; undefined: charLanguageModel's default. */
  blocks?: number;
  /** T: characters per training window (the model's context when it generates). */
  sequenceLength: number;
  batchSize: number;
  /** Passes over the training windows. */
  epochs: number;
  /** Adam's learning rate. */
  learningRate: number;
  /** A sample is generated every this many steps (and after training), while training goes on. */
  sampleEvery: number;
  /** Characters per sample. */
  sampleLength: number;
  /** What each sample continues; empty: a line break (generateText's rule). */
  prompt: string;
  /** Sampling temperature at the start (0 = argmax); the slider changes it while training runs. */
  temperature: number;
  seed: number;
}

export type ToTextWorker =
  | { type: 'init' }
  | { type: 'train'; config: TextTrainConfig; source: TextSource; text: string }
  | { type: 'stop' }
  /** The temperature of the samples generated from now on; the worker acknowledges it. */
  | { type: 'temperature'; value: number }
  /** What samples continue from now on. */
  | { type: 'prompt'; value: string }
  /** A sample now, from the model as it is (during training: from the next step's weights). */
  | { type: 'sample'; prompt: string; length: number };

/** What the worker made of the text and the model, before the first step. */
export interface TextRunInfo {
  summary: string;
  params: number;
  /** The vocabulary: `chars[id]`; chars[0] is what the unknown id decodes to. */
  chars: string[];
  characters: number;
  trainWindows: number;
  validationWindows: number;
  /** Windows between consecutive starts in the text. */
  stride: number;
  batchSize: number;
  /** Steps in one pass over the training windows (the charts' x unit). */
  stepsPerEpoch: number;
  /** Steps between validations and samples (fitDataset's batchesPerEpoch). */
  stepsPerRound: number;
  totalSteps: number;
}

export interface TextStep {
  /** 1-based count of optimizer steps so far. */
  step: number;
  totalSteps: number;
  /** Bits per character of this batch alone, and the mean over the round so far. */
  bpc: number;
  roundBpc: number;
  elapsedMs: number;
}

export interface TextSample {
  id: number;
  /** The training step whose weights generated it (0: untrained). */
  step: number;
  temperature: number;
  prompt: string;
  /** The generated characters (the prompt not included); partial while `done` is false. */
  text: string;
  done: boolean;
  ms: number;
}

export type FromTextWorker =
  | { type: 'ready'; adapter: string; fallbackAdapter: boolean }
  | { type: 'unavailable'; message: string }
  | { type: 'error'; message: string }
  | ({ type: 'info' } & TextRunInfo)
  | { type: 'phase'; phase: 'compiling' | 'training' | 'done'; stopped?: boolean; trainMs?: number }
  | ({ type: 'step' } & TextStep)
  /** The end of a round: mean training bits per character over it, and the validation's. */
  | { type: 'round'; step: number; bpc: number; valBpc: number }
  | ({ type: 'sample' } & TextSample)
  /** A sample failed; training (if running) goes on. */
  | { type: 'sampleError'; message: string }
  | { type: 'temperature'; value: number };
