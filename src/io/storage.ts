/**
 * What the storage back ends share: the scheme of a target string, Node's fs (imported only when a
 * 'file://' target is used) and the IndexedDB database laid out as TF.js keeps its models.
 */

/** ['file', 'dir'] for 'file://dir'; [undefined, s] without a scheme. */
export function splitScheme(s: string): [string | undefined, string] {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/is.exec(s);
  return m ? [m[1]!.toLowerCase(), m[2]!] : [undefined, s];
}

/**
 * The parts of Node's fs/promises and path this library calls, declared here so that its type
 * declarations build in projects without @types/node (pages).
 */
export interface NodeFs {
  readFile(path: string): Promise<Uint8Array>;
  readFile(path: string, encoding: 'utf8'): Promise<string>;
  writeFile(path: string, data: string | Uint8Array): Promise<void>;
  appendFile(path: string, data: string): Promise<void>;
  mkdir(path: string, options: { recursive: boolean }): Promise<unknown>;
  stat(path: string): Promise<{ size: number; isDirectory(): boolean }>;
}

export interface NodePath {
  join(...parts: string[]): string;
  dirname(path: string): string;
  resolve(...parts: string[]): string;
  relative(from: string, to: string): string;
  isAbsolute(path: string): boolean;
}

/**
 * Node modules by variable names, imported when used, so that bundlers building this file for a
 * page neither follow nor stub them.
 */
export async function nodeFs(): Promise<{ fs: NodeFs; path: NodePath }> {
  const fsName = 'node:fs/promises';
  const pathName = 'node:path';
  try {
    const fs = (await import(/* @vite-ignore */ fsName)) as NodeFs;
    const path = (await import(/* @vite-ignore */ pathName)) as NodePath;
    return { fs, path };
  } catch (err) {
    throw new Error(`file:// needs Node.js (its fs module); in a page use 'indexeddb://', 'downloads://' or a URL: ${(err as Error).message}`);
  }
}

// IndexedDB, laid out as TF.js's 'indexeddb://' handler keeps models, so that each reads the other's.
const IDB_DATABASE = 'tensorflowjs';
const IDB_VERSION = 1;
export const IDB_MODELS = 'models_store';
export const IDB_INFO = 'model_info_store';

/** Opens (creating on first use) the database TF.js's 'indexeddb://' handler uses. */
export function openDatabase(): Promise<IDBDatabase> {
  const factory = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (!factory) throw new Error("'indexeddb://' needs IndexedDB (a page or a worker); in Node use 'file://dir'");
  return new Promise((resolve, reject) => {
    const request = factory.open(IDB_DATABASE, IDB_VERSION);
    request.onupgradeneeded = () => {
      request.result.createObjectStore(IDB_MODELS, { keyPath: 'modelPath' });
      request.result.createObjectStore(IDB_INFO, { keyPath: 'modelPath' });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(new Error(`cannot open IndexedDB database '${IDB_DATABASE}': ${request.error?.message}`));
  });
}
