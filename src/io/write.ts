/**
 * Writing artifacts to storage: 'file://dir' (Node's fs, as tfjs-node), 'indexeddb://name' and
 * 'downloads://name' (pages, as TF.js's browser handlers) or a handler `{ save(artifacts) }`. Bytes
 * and JSON only; src/io/save.ts makes the artifacts from a model.
 */
import { describe } from '../runtime/tensor.ts';
import { artifactsInfo, modelJSON, type ModelArtifacts, type SaveHandler, type SaveTarget } from './artifacts.ts';
import { IDB_INFO, IDB_MODELS, nodeFs, openDatabase, splitScheme } from './storage.ts';

const SAVE_TARGETS = "'file://dir' (Node), 'indexeddb://name', 'downloads://name' (pages) or a handler { save(artifacts) }";

/** Stores `artifacts` at `target`; the errors name the targets there are. */
export async function writeArtifacts(target: SaveTarget, artifacts: ModelArtifacts): Promise<void> {
  if (typeof target === 'string') {
    const [scheme, rest] = splitScheme(target);
    if (scheme === 'file') await saveFiles(rest, artifacts);
    else if (scheme === 'indexeddb') await saveIndexedDB(rest, artifacts);
    else if (scheme === 'downloads') await saveDownloads(rest || 'model', artifacts);
    else throw new Error(`save(): unknown target '${target}'; use ${SAVE_TARGETS}`);
  } else if (target && typeof (target as SaveHandler).save === 'function') {
    await target.save(artifacts);
  } else {
    throw new TypeError(`save(): expected ${SAVE_TARGETS}, got ${describe(target)}`);
  }
}

const WEIGHTS_FILE = 'weights.bin';

/** As tfjs-node's file:// handler: dir/model.json and dir/weights.bin. */
async function saveFiles(dir: string, artifacts: ModelArtifacts): Promise<void> {
  if (!dir) throw new Error("save(): 'file://' needs a directory, e.g. 'file://weights/my-model'");
  const { fs, path } = await nodeFs();
  await fs.mkdir(dir, { recursive: true });
  // The weights first: a model.json on disk then always has its weights beside it.
  await fs.writeFile(path.join(dir, WEIGHTS_FILE), new Uint8Array(artifacts.weightData));
  await fs.writeFile(path.join(dir, 'model.json'), JSON.stringify(modelJSON(artifacts, [WEIGHTS_FILE])));
}

/** As TF.js's browserDownloads: `name.json` and `name.weights.bin`. */
async function saveDownloads(name: string, artifacts: ModelArtifacts): Promise<void> {
  if (typeof document === 'undefined' || typeof URL.createObjectURL !== 'function') {
    throw new Error("save(): 'downloads://' needs a page (document); in Node use 'file://dir'");
  }
  const weightsName = `${name}.weights.bin`;
  const json = JSON.stringify(modelJSON(artifacts, [`./${weightsName}`]));
  const files: [string, Blob][] = [
    [`${name}.json`, new Blob([json], { type: 'application/json' })],
    [weightsName, new Blob([artifacts.weightData], { type: 'application/octet-stream' })],
  ];
  for (const [fileName, blob] of files) {
    const url = URL.createObjectURL(blob);
    const anchor = document.createElement('a');
    anchor.download = fileName;
    anchor.href = url;
    anchor.click();
    // Browsers start the download on click; one task later the URL may go (Firefox keeps only the last of synchronous clicks otherwise).
    await new Promise((resolve) => setTimeout(resolve, 0));
    URL.revokeObjectURL(url);
  }
}

async function saveIndexedDB(modelPath: string, artifacts: ModelArtifacts): Promise<void> {
  if (!modelPath) throw new Error("save(): 'indexeddb://' needs a name, e.g. 'indexeddb://my-model'");
  const db = await openDatabase();
  try {
    const modelArtifactsInfo = artifactsInfo(artifacts);
    await new Promise<void>((resolve, reject) => {
      // One transaction over both stores: the info entry and the model land together or not at all.
      const tx = db.transaction([IDB_INFO, IDB_MODELS], 'readwrite');
      tx.objectStore(IDB_INFO).put({ modelPath, modelArtifactsInfo });
      tx.objectStore(IDB_MODELS).put({ modelPath, modelArtifacts: artifacts, modelArtifactsInfo });
      tx.oncomplete = () => resolve();
      tx.onerror = tx.onabort = () => reject(new Error(`cannot save '${modelPath}' to IndexedDB: ${tx.error?.message}`));
    });
  } finally {
    db.close();
  }
}
