/**
 * Where tuning choices persist (src/runtime/tuning.ts): a JSON file in Node, IndexedDB in pages and
 * workers. A store that cannot read or write (no IndexedDB, a read-only disk) loses nothing but the
 * memory of earlier runs: the tuner measures again.
 */
import { isNode } from './gpu.ts';
import { checkTuningFile, type TuningFile, type TuningStore } from './tuning.ts';

/** The environment variable naming the file a Node process keeps its tuning choices in. */
export const TUNING_FILE_ENV = 'WEBGPU_TRAIN_TUNING_FILE';

type Fs = typeof import('node:fs');
type Path = typeof import('node:path');
type Os = typeof import('node:os');

/** Node's built-in modules without a static import (the library also runs in pages). */
function builtin<T>(id: string): T {
  return (process as unknown as { getBuiltinModule(id: string): T }).getBuiltinModule(id);
}

/** A JSON file (Node); its folder is made on the first save. */
export function fileTuningStore(path: string): TuningStore {
  return {
    async load() {
      const fs = builtin<Fs>('node:fs');
      if (!fs.existsSync(path)) return undefined;
      return checkTuningFile(JSON.parse(await fs.promises.readFile(path, 'utf8')));
    },
    async save(file: TuningFile) {
      const fs = builtin<Fs>('node:fs');
      await fs.promises.mkdir(builtin<Path>('node:path').dirname(path), { recursive: true });
      await fs.promises.writeFile(path, `${JSON.stringify(file, null, 1)}\n`);
    },
  };
}

const DB = 'webgpu-train';
const STORE = 'tuning';
const KEY = 'choices';

/** One IndexedDB record (pages and workers). */
export function indexedDbTuningStore(): TuningStore {
  const open = () =>
    new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open(DB, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  const transact = async <T>(mode: IDBTransactionMode, act: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> => {
    const db = await open();
    try {
      return await new Promise<T>((resolve, reject) => {
        const request = act(db.transaction(STORE, mode).objectStore(STORE));
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
    } finally {
      db.close();
    }
  };
  return {
    async load() {
      const value = await transact<unknown>('readonly', (s) => s.get(KEY));
      return value === undefined ? undefined : checkTuningFile(value);
    },
    async save(file: TuningFile) {
      await transact('readwrite', (s) => s.put(file, KEY));
    },
  };
}

/**
 * The store an engine tunes into by default: in Node the file $WEBGPU_TRAIN_TUNING_FILE, else
 * ~/.cache/webgpu-train/tuning.json; in pages and workers IndexedDB; none elsewhere.
 */
export function defaultTuningStore(): TuningStore | undefined {
  if (isNode) {
    const path = process.env[TUNING_FILE_ENV] || builtin<Path>('node:path').join(builtin<Os>('node:os').homedir(), '.cache', 'webgpu-train', 'tuning.json');
    return fileTuningStore(path);
  }
  return typeof indexedDB === 'undefined' ? undefined : indexedDbTuningStore();
}
