/**
 * The worker's transfer learning (Teachable Machine's recipe): the base model goes through the TF.js
 * layers format (saved to memory artifacts, or the copy kept in IndexedDB), is loaded back, frozen
 * and cut at its features, and a new softmax head learns the classes the user drew.
 */
import { featureLayer, loadModel, MNIST_MODEL_NAMES, optimizers, tensor, transferModel, type Engine, type LayersModel, type MnistModelName, type ModelArtifacts } from '../src/index.ts';
import { IDB_INFO, openDatabase } from '../src/io/storage.ts';
import type { FromWorker, SavedBase, TransferConfig, TransferReport } from './protocol.ts';

const PIXELS = 28 * 28;
/** Each model of the catalog is kept under its own name: indexeddb://webgpu-train-demo/<model>. */
const SAVE_PREFIX = 'webgpu-train-demo/';
/** Few examples and few steps: a larger step than Adam's default lets the head converge in tens of steps. */
const LEARNING_RATE = 0.01;
const MAX_BATCH = 16;

/** Keeps `model` (trained as `name`) in IndexedDB, where the 'saved' source finds it on a later visit. */
export async function saveBase(model: LayersModel, name: MnistModelName): Promise<SavedBase> {
  const path = `indexeddb://${SAVE_PREFIX}${name}`;
  const result = await model.save(path);
  return { path, model: name, savedAt: new Date(result.modelArtifactsInfo.dateSaved).toISOString() };
}

/** The most recently saved base in this browser's IndexedDB, or null. */
export async function findSavedBase(): Promise<SavedBase | null> {
  const db = await openDatabase();
  try {
    const records = await Promise.all(
      MNIST_MODEL_NAMES.map(
        (model) =>
          new Promise<SavedBase | null>((resolve, reject) => {
            const request = db.transaction(IDB_INFO, 'readonly').objectStore(IDB_INFO).get(`${SAVE_PREFIX}${model}`);
            request.onsuccess = () => {
              const info = request.result as { modelArtifactsInfo?: { dateSaved?: Date | string } } | undefined;
              const date = info?.modelArtifactsInfo?.dateSaved;
              resolve(date ? { path: `indexeddb://${SAVE_PREFIX}${model}`, model, savedAt: new Date(date).toISOString() } : null);
            };
            request.onerror = () => reject(request.error ?? new Error('IndexedDB read failed'));
          }),
      ),
    );
    const found = records.filter((r): r is SavedBase => r !== null);
    found.sort((a, b) => b.savedAt.localeCompare(a.savedAt));
    return found[0] ?? null;
  } finally {
    db.close();
  }
}

/** The artifacts a model saves, kept in memory (TF.js's `tf.io.withSaveHandler`). */
async function inMemory(model: LayersModel): Promise<ModelArtifacts> {
  let artifacts: ModelArtifacts | undefined;
  await model.save({
    save: async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    },
  });
  return artifacts!;
}

/** One transfer model at a time: the loaded, frozen base and its new head. */
export class TransferSession {
  private base: LayersModel | undefined;
  private head: LayersModel | undefined;

  get trained(): boolean {
    return this.head !== undefined;
  }

  /**
   * Loads the base (from `trained`, the page's model as `trainedName`, or from IndexedDB), freezes
   * and cuts it, and trains a new head on the drawn examples, reporting each epoch through `post`.
   */
  async train(
    config: TransferConfig,
    engine: Engine,
    trained: { model: LayersModel; name: MnistModelName } | undefined,
    saved: SavedBase | null,
    post: (m: FromWorker) => void,
  ): Promise<TransferReport> {
    const classes = config.classes.length;
    if (classes < 2 || classes > 5) throw new Error(`transfer learning needs 2 to 5 classes, got ${classes}`);
    const counts = config.classes.map((_, c) => config.examples.filter((e) => e.label === c).length);
    const empty = counts.findIndex((n) => n === 0);
    if (empty >= 0) throw new Error(`class '${config.classes[empty]}' has no examples yet: draw one and add it`);
    this.dispose();
    const started = performance.now();
    let baseModel: MnistModelName | 'unknown';
    if (config.source === 'trained') {
      if (!trained) throw new Error('train a model first (or pick the model saved in this browser)');
      post({ type: 'transferProgress', text: 'Saving the trained model (TF.js layers format, in memory) and loading it back…' });
      const artifacts = await inMemory(trained.model);
      this.base = await loadModel({ load: async () => artifacts }, { engine });
      baseModel = trained.name;
    } else {
      if (!saved) throw new Error('no model is saved in this browser yet: train one first');
      post({ type: 'transferProgress', text: `Loading ${saved.path}…` });
      this.base = await loadModel(saved.path, { engine });
      baseModel = MNIST_MODEL_NAMES.includes(saved.model) ? saved.model : 'unknown';
    }
    const cut = featureLayer(this.base);
    const head = transferModel(this.base, { classes, seed: 1 });
    this.head = head;
    head.compile({ optimizer: optimizers.adam({ learningRate: LEARNING_RATE }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], engine });
    const n = config.examples.length;
    const images = new Uint8Array(n * PIXELS);
    config.examples.forEach((e, i) => images.set(e.pixels, i * PIXELS));
    const labels = Int32Array.from(config.examples, (e) => e.label);
    post({ type: 'transferProgress', text: `Compiling shaders and training the new head on ${n} drawings…` });
    const history = await head.fit(tensor(images, [n, 28, 28, 1]), tensor(labels, [n]), {
      epochs: config.epochs,
      batchSize: Math.min(MAX_BATCH, n),
      verbose: 0,
      callbacks: {
        onEpochEnd: (epoch, logs) =>
          post({ type: 'transferProgress', text: `Training the new head: epoch ${epoch + 1} of ${config.epochs}`, epoch, epochs: config.epochs, loss: logs.loss, accuracy: logs.accuracy ?? NaN }),
      },
    });
    return {
      source: config.source,
      baseModel,
      featureLayer: cut.name,
      featureShape: [...cut.output.shape] as number[],
      trainableParams: head.countTrainableParams(),
      totalParams: head.countParams(),
      classes: [...config.classes],
      examples: n,
      epochs: config.epochs,
      loss: history.history.loss!.at(-1)!,
      accuracy: history.history.accuracy?.at(-1) ?? NaN,
      trainMs: performance.now() - started,
    };
  }

  /** The new head's class probabilities for one 28×28 drawing. */
  async predict(pixels: Uint8Array): Promise<Float32Array> {
    if (!this.head) throw new Error('train the new head first');
    return (await this.head.predict(tensor(pixels, [1, 28, 28, 1]), { batchSize: 1 })).values;
  }

  dispose(): void {
    this.head?.dispose();
    this.base?.dispose();
    this.head = this.base = undefined;
  }
}
