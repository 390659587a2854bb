/**
 * Character-level text data for language models, in pages and in Node: a character vocabulary
 * (built from a text, saved and restored as JSON, unknown characters on a reserved id), encoding
 * and decoding, and windows of ids (an input of T characters and its target, the same T shifted by
 * one) as int32 tensors [n, T] for `fit` or as seeded batches for `fitDataset`, with a
 * train/validation split taken from the end of the text.
 *
 * The project ships a public-domain corpus, Ambrose Bierce's The Devil's Dictionary (383 KB of
 * English prose, data/corpus/; see SOURCE.md there): `loadCorpus()` reads it in Node; a page
 * fetches the file (`await (await fetch(url)).text()`) and hands the text to `textDataset`.
 * Characters are Unicode code points: a character outside the Basic Multilingual Plane is one id.
 */
import { Random } from '../layers/initializers.ts';
import { describe, Tensor } from '../runtime/tensor.ts';

/** The id of every character the vocabulary does not hold. */
export const UNKNOWN_ID = 0;

/** What decode() writes for the unknown id, unless the vocabulary names another character. */
export const DEFAULT_UNKNOWN_CHAR = '\uFFFD';

const FORMAT = 'webgpu-train/char-vocab';

/** A vocabulary as JSON: `chars[id]` is the character of `id`; `chars[0]` is what the unknown id decodes to. */
export interface CharVocabJSON {
  format: typeof FORMAT;
  version: 1;
  chars: string[];
}

export interface CharVocabOptions {
  /** Ids in all, the unknown id included: only the most frequent characters are kept (ties by code point). */
  maxSize?: number;
  /** Characters seen fewer times are left out (unknown); default 1. */
  minCount?: number;
  /** What decode() writes for the unknown id; default U+FFFD. */
  unknownChar?: string;
}

const isChar = (c: unknown): c is string => typeof c === 'string' && [...c].length === 1;

/** A value for an error message: numbers and booleans as written, strings quoted, anything else by its kind. */
function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : describe(value);
}

function positiveInteger(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new Error(`${what} must be a positive integer, got ${shown(value)}`);
  return value;
}

/** Characters ↔ ids: id 0 is every character the vocabulary does not hold, the others are sorted by code point. */
export class CharVocab {
  /** The character of each id; `chars[0]` is what the unknown id decodes to. */
  readonly chars: readonly string[];
  private readonly index: ReadonlyMap<string, number>;

  private constructor(chars: readonly string[]) {
    this.chars = chars;
    this.index = new Map(chars.slice(1).map((c, i) => [c, i + 1]));
  }

  /** The vocabulary of the characters of `text` (those seen `minCount` times, at most `maxSize` − 1 of them). */
  static fromText(text: string, options: CharVocabOptions = {}): CharVocab {
    if (typeof text !== 'string') throw new TypeError(`CharVocab.fromText: text must be a string, got ${shown(text)}`);
    if (!options || typeof options !== 'object') throw new TypeError(`CharVocab.fromText: options must be { maxSize?, minCount?, unknownChar? }, got ${shown(options)}`);
    const minCount = options.minCount === undefined ? 1 : positiveInteger(options.minCount, 'CharVocab.fromText: minCount');
    const maxSize = options.maxSize === undefined ? Infinity : positiveInteger(options.maxSize, 'CharVocab.fromText: maxSize');
    if (maxSize < 2) throw new Error(`CharVocab.fromText: maxSize must be at least 2 (the unknown id and one character), got ${maxSize}`);
    const unknown = options.unknownChar ?? DEFAULT_UNKNOWN_CHAR;
    if (!isChar(unknown)) throw new Error(`CharVocab.fromText: unknownChar must be one character, got ${shown(unknown)}`);
    const counts = new Map<string, number>();
    for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
    const byCodePoint = (a: string, b: string) => a.codePointAt(0)! - b.codePointAt(0)!;
    let kept = [...counts].filter(([, n]) => n >= minCount);
    if (kept.length > maxSize - 1) kept = kept.sort(([a, n], [b, m]) => m - n || byCodePoint(a, b)).slice(0, maxSize - 1);
    if (kept.length === 0) throw new Error(`CharVocab.fromText: no character of the text (${text.length} code units) is seen ${minCount} times or more`);
    return new CharVocab([unknown, ...kept.map(([c]) => c).sort(byCodePoint)]);
  }

  /** A vocabulary saved with toJSON() (the object, or its JSON text). */
  static fromJSON(value: CharVocabJSON | string): CharVocab {
    let v: unknown = value;
    if (typeof value === 'string') {
      try {
        v = JSON.parse(value);
      } catch (err) {
        throw new Error(`CharVocab.fromJSON: not JSON: ${(err as Error).message}`);
      }
    }
    const o = v as Partial<CharVocabJSON> | null;
    if (!o || typeof o !== 'object' || o.format !== FORMAT || o.version !== 1) {
      throw new Error(`CharVocab.fromJSON: expected { format: '${FORMAT}', version: 1, chars }, got ${shown(v)}`);
    }
    const chars = o.chars;
    if (!Array.isArray(chars) || chars.length < 2) throw new Error(`CharVocab.fromJSON: chars must list the unknown id's character and at least one more, got ${shown(chars)}`);
    const bad = chars.findIndex((c) => !isChar(c));
    if (bad >= 0) throw new Error(`CharVocab.fromJSON: chars[${bad}] must be one character, got ${shown(chars[bad])}`);
    const seen = new Map<string, number>();
    chars.forEach((c, i) => {
      if (i > 0 && seen.has(c)) throw new Error(`CharVocab.fromJSON: ${JSON.stringify(c)} is both id ${seen.get(c)} and id ${i}`);
      if (i > 0) seen.set(c, i);
    });
    return new CharVocab([...chars]);
  }

  /** Ids in all, the unknown id included (an Embedding's inputDim, the output layer's units). */
  get size(): number {
    return this.chars.length;
  }

  /** The id of one character; UNKNOWN_ID for a character the vocabulary does not hold. */
  idOf(char: string): number {
    return this.index.get(char) ?? UNKNOWN_ID;
  }

  /** The ids of every character of `text`, unknown ones as UNKNOWN_ID. */
  encode(text: string): Int32Array {
    if (typeof text !== 'string') throw new TypeError(`CharVocab.encode: text must be a string, got ${shown(text)}`);
    const ids: number[] = [];
    for (const c of text) ids.push(this.index.get(c) ?? UNKNOWN_ID);
    return Int32Array.from(ids);
  }

  /** The text of `ids` (an array, typed array or tensor of them); the unknown id becomes `chars[0]`. */
  decode(ids: ArrayLike<number> | Tensor): string {
    const values = ids instanceof Tensor ? ids.dataSync() : ids;
    if (!values || typeof (values as ArrayLike<number>).length !== 'number') throw new TypeError(`CharVocab.decode: expected ids (an array, typed array or tensor), got ${shown(ids)}`);
    let out = '';
    for (let i = 0; i < values.length; i++) {
      const id = values[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= this.chars.length) throw new Error(`CharVocab.decode: id ${i} is ${shown(id)}, which is not an id of this vocabulary (integers in [0, ${this.chars.length}))`);
      out += this.chars[id];
    }
    return out;
  }

  /** The vocabulary as JSON (JSON.stringify calls it): fromJSON restores it. */
  toJSON(): CharVocabJSON {
    return { format: FORMAT, version: 1, chars: [...this.chars] };
  }
}

// ---- windows ------------------------------------------------------------------------------------

export interface WindowOptions {
  /** T: characters per window. */
  windowSize: number;
  /** Characters between the starts of consecutive windows; default windowSize (windows do not overlap). */
  stride?: number;
}

export interface OrderOptions {
  /** Whether to draw the windows in a seeded random order (default true for batches, false for tensors). */
  shuffle?: boolean;
  /** The order's seed (default 0): the same seed gives the same order. */
  seed?: number;
}

/** A batch as fitDataset takes it: ids xs [B, T] and targets ys [B, T], both int32. */
export interface TextBatch {
  xs: Tensor<Int32Array>;
  ys: Tensor<Int32Array>;
}

/**
 * Every window of T ids of an encoded text: window i starts at i·stride; its input is ids[s, s + T)
 * and its target ids[s + 1, s + T + 1), the character that follows each input character.
 */
export class TextWindows {
  readonly windowSize: number;
  readonly stride: number;
  /** Windows in the text. */
  readonly count: number;

  constructor(
    readonly ids: Int32Array,
    options: WindowOptions,
  ) {
    if (!(ids instanceof Int32Array)) throw new TypeError(`TextWindows: ids must be an Int32Array (CharVocab.encode), got ${shown(ids)}`);
    if (!options || typeof options !== 'object') throw new TypeError(`TextWindows: options must be { windowSize, stride? }, got ${shown(options)}`);
    this.windowSize = positiveInteger(options.windowSize, 'TextWindows: windowSize');
    this.stride = options.stride === undefined ? this.windowSize : positiveInteger(options.stride, 'TextWindows: stride');
    if (ids.length < this.windowSize + 1) {
      throw new Error(`TextWindows: a window of ${this.windowSize} characters and its target need ${this.windowSize + 1} characters, but the text has ${ids.length}`);
    }
    this.count = Math.floor((ids.length - this.windowSize - 1) / this.stride) + 1;
  }

  /** Window i's input and target ids (views of the text's ids). */
  window(i: number): { input: Int32Array; target: Int32Array } {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new RangeError(`TextWindows.window: index must be an integer in [0, ${this.count}), got ${shown(i)}`);
    const s = i * this.stride;
    return { input: this.ids.subarray(s, s + this.windowSize), target: this.ids.subarray(s + 1, s + this.windowSize + 1) };
  }

  /** The window indices in the order `options` asks for (in order, or a seeded permutation). */
  order(options: OrderOptions = {}, shuffleByDefault = false): Uint32Array {
    const shuffle = options.shuffle ?? shuffleByDefault;
    if (typeof shuffle !== 'boolean') throw new TypeError(`TextWindows: shuffle must be true or false, got ${shown(shuffle)}`);
    const seed = options.seed ?? 0;
    if (typeof seed !== 'number' || !Number.isInteger(seed)) throw new TypeError(`TextWindows: seed must be an integer, got ${shown(seed)}`);
    return shuffle ? new Random(seed).permutation(this.count) : Uint32Array.from({ length: this.count }, (_, i) => i);
  }

  /** The windows at `indices` as xs [n, T] (inputs) and ys [n, T] (targets), int32. */
  gather(indices: ArrayLike<number>): TextBatch {
    const T = this.windowSize;
    const xs = new Int32Array(indices.length * T);
    const ys = new Int32Array(indices.length * T);
    for (let k = 0; k < indices.length; k++) {
      const { input, target } = this.window(indices[k]!);
      xs.set(input, k * T);
      ys.set(target, k * T);
    }
    return { xs: new Tensor(xs, [indices.length, T]), ys: new Tensor(ys, [indices.length, T]) };
  }

  /** Every window as tensors for `fit(xs, ys)`: in text order, or shuffled with `{ shuffle: true, seed }`. */
  tensors(options: OrderOptions = {}): TextBatch {
    return this.gather(this.order(options));
  }

  /**
   * Batches of `batchSize` windows for `fitDataset`: each pass over the returned iterable (an epoch)
   * draws every window once, shuffled by default with seed + epoch, so a run is reproducible from
   * its seed; `dropRemainder` leaves out a last smaller batch.
   */
  batches(batchSize: number, options: OrderOptions & { dropRemainder?: boolean } = {}): TextBatches {
    return new TextBatches(this, positiveInteger(batchSize, 'TextWindows.batches: batchSize'), options);
  }
}

/** The batches of TextWindows.batches(): an iterable (sync and async) whose every pass is the next epoch. */
export class TextBatches implements AsyncIterable<TextBatch>, Iterable<TextBatch> {
  private epochs = 0;

  constructor(
    readonly windows: TextWindows,
    readonly batchSize: number,
    private readonly options: OrderOptions & { dropRemainder?: boolean },
  ) {
    if (options.dropRemainder !== undefined && typeof options.dropRemainder !== 'boolean') throw new TypeError(`TextWindows.batches: dropRemainder must be true or false, got ${shown(options.dropRemainder)}`);
    windows.order(options, true);
    if (options.dropRemainder && windows.count < batchSize) throw new Error(`TextWindows.batches: ${windows.count} windows make no full batch of ${batchSize} (dropRemainder)`);
  }

  /** Batches per epoch. */
  get length(): number {
    return this.options.dropRemainder ? Math.floor(this.windows.count / this.batchSize) : Math.ceil(this.windows.count / this.batchSize);
  }

  /** The batches of epoch `epoch` (0-based), whichever epochs came before. */
  *epoch(epoch: number): Generator<TextBatch> {
    const order = this.windows.order({ ...this.options, seed: (this.options.seed ?? 0) + epoch }, true);
    for (let b = 0; b < this.length; b++) yield this.windows.gather(order.subarray(b * this.batchSize, Math.min(order.length, (b + 1) * this.batchSize)));
  }

  [Symbol.iterator](): Iterator<TextBatch> {
    return this.epoch(this.epochs++);
  }

  [Symbol.asyncIterator](): AsyncIterator<TextBatch> {
    const batches = this.epoch(this.epochs++);
    return { next: async () => batches.next() };
  }
}

// ---- a text as training and validation windows ----------------------------------------------------

export interface TextDatasetOptions extends WindowOptions {
  /** The fraction of the text held out for validation, from its end (0 ≤ v < 1); default 0.1. */
  validationSplit?: number;
  /** Encode with this vocabulary; default: built from the whole text (CharVocab.fromText). */
  vocab?: CharVocab;
}

export interface TextDataset {
  vocab: CharVocab;
  train: TextWindows;
  /** Windows of the held-out end of the text; null when validationSplit is 0. */
  validation: TextWindows | null;
}

/**
 * A text as windows for a character-level language model: encoded with `vocab` (by default built
 * from the text), its last `validationSplit` held out so that no validation character is trained on.
 */
export function textDataset(text: string, options: TextDatasetOptions): TextDataset {
  if (typeof text !== 'string') throw new TypeError(`textDataset: text must be a string, got ${shown(text)}`);
  if (!options || typeof options !== 'object') throw new TypeError(`textDataset: options must be { windowSize, stride?, validationSplit?, vocab? }, got ${shown(options)}`);
  const split = options.validationSplit ?? 0.1;
  if (typeof split !== 'number' || !(split >= 0 && split < 1)) throw new Error(`textDataset: validationSplit must be a number in [0, 1), got ${shown(split)}`);
  if (options.vocab !== undefined && !(options.vocab instanceof CharVocab)) throw new TypeError(`textDataset: vocab must be a CharVocab, got ${shown(options.vocab)}`);
  const vocab = options.vocab ?? CharVocab.fromText(text);
  const ids = vocab.encode(text);
  const cut = Math.round(ids.length * (1 - split));
  const windows = { windowSize: options.windowSize, stride: options.stride };
  const part = (from: number, to: number, what: string) => {
    try {
      return new TextWindows(ids.slice(from, to), windows);
    } catch (err) {
      throw new Error(`textDataset: the ${what} part (characters ${from} to ${to} of ${ids.length}, validationSplit ${split}): ${(err as Error).message}`);
    }
  };
  return { vocab, train: part(0, cut, 'training'), validation: split === 0 ? null : part(cut, ids.length, 'validation') };
}

// ---- reading text in Node ----------------------------------------------------------------------

/** The corpus that ships with the project, in data/corpus/ (public domain; SOURCE.md there says where it came from). */
export const CORPUS_FILE = 'devils-dictionary.txt';

/**
 * Reads a UTF-8 text file in Node: `path`, or by default the shipped corpus (found beside the
 * package, from src/data or from dist). Node's modules are imported by variable names, when
 * called, so that bundlers building this file for a page neither follow nor stub them.
 */
export async function loadCorpus(path?: string): Promise<string> {
  if (path !== undefined && (typeof path !== 'string' || path === '')) throw new TypeError(`loadCorpus: path must be a file path, got ${shown(path)}`);
  const names = { fs: 'node:fs/promises', path: 'node:path', url: 'node:url' };
  let fs: typeof import('node:fs/promises');
  let paths: typeof import('node:path');
  let url: typeof import('node:url');
  try {
    fs = await import(/* @vite-ignore */ names.fs);
    paths = await import(/* @vite-ignore */ names.path);
    url = await import(/* @vite-ignore */ names.url);
  } catch (err) {
    throw new Error(`loadCorpus needs Node.js (its fs module); in a page fetch the file and pass its text to textDataset: ${(err as Error).message}`);
  }
  let candidates = path === undefined ? [] : [path];
  if (path === undefined) {
    const here = paths.dirname(url.fileURLToPath(import.meta.url));
    // src/data/text.ts in the repository, dist/webgpu-train.js in the built package.
    candidates = [paths.resolve(here, '../../data/corpus', CORPUS_FILE), paths.resolve(here, '../data/corpus', CORPUS_FILE)];
  }
  for (const file of candidates) {
    try {
      return await fs.readFile(file, 'utf8');
    } catch (err) {
      if (path !== undefined || (err as { code?: string }).code !== 'ENOENT') throw new Error(`loadCorpus: cannot read ${file}: ${(err as Error).message}`);
    }
  }
  throw new Error(`loadCorpus: the corpus ${CORPUS_FILE} is in none of ${candidates.join(', ')}; pass the path of a text file`);
}
