/**
 * Reading artifacts from storage: 'file://dir' or 'file://dir/model.json' (Node's fs),
 * 'indexeddb://name', an http(s) or relative URL of model.json (weights fetched relative to it), or
 * a handler `{ load() }`. Only model.json's outline is checked here; src/io/load.ts validates the
 * rest and builds the model.
 */
import { describe } from '../runtime/tensor.ts';
import { asObject, ModelFormatError, parseModelJSON, type LoadHandler, type LoadSource, type RawArtifacts } from './artifacts.ts';
import { IDB_MODELS, nodeFs, openDatabase, splitScheme } from './storage.ts';

/** The artifacts stored at `source`, as raw as the handler gives them. */
export async function readArtifacts(source: LoadSource): Promise<RawArtifacts> {
  if (typeof source === 'string') {
    const [scheme, rest] = splitScheme(source);
    if (scheme === 'file') return readFiles(rest);
    if (scheme === 'indexeddb') return asObject(await loadIndexedDB(rest), 'the stored artifacts');
    if (scheme === undefined || scheme === 'http' || scheme === 'https') return readURL(source);
    throw new Error(`unknown source scheme '${scheme}://'; use 'file://', 'indexeddb://', an http(s) URL or a handler { load() }`);
  }
  if (!source || typeof (source as LoadHandler).load !== 'function') {
    throw new TypeError(`expected a URL string or a handler { load() }, got ${describe(source)}`);
  }
  let artifacts: unknown;
  try {
    artifacts = await source.load();
  } catch (err) {
    throw new Error(`handler.load() failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  return asObject(artifacts, 'the artifacts handler.load() returned');
}

/** As tfjs-node's file:// handler: model.json, then the weight files it lists beside it. */
async function readFiles(target: string): Promise<RawArtifacts> {
  if (!target) throw new Error("'file://' needs a path, e.g. 'file://weights/my-model' or 'file://weights/my-model/model.json'");
  const { fs, path } = await nodeFs();
  let file = target;
  if (!target.endsWith('.json')) {
    const stat = await fs.stat(target).catch((err: Error) => {
      throw new Error(`cannot read ${target}: ${err.message}`);
    });
    if (stat.isDirectory()) file = path.join(target, 'model.json');
  }
  const text = await fs.readFile(file, 'utf8').catch((err: Error) => {
    throw new Error(`cannot read ${file}: ${err.message}`);
  });
  const { artifacts, paths } = parseModelJSON(text);
  const dir = path.resolve(path.dirname(file));
  const buffers = await Promise.all(
    paths.map(async (p, i) => {
      const full = path.resolve(dir, p);
      const relative = path.relative(dir, full);
      // Weight paths are relative to model.json; a file must not reach outside its folder.
      if (relative.startsWith('..') || path.isAbsolute(relative)) throw new ModelFormatError(`weight path ${i} '${p}' points outside the model's folder ${dir}`);
      const bytes = await fs.readFile(full).catch((err: Error) => {
        throw new Error(`cannot read the weights file '${p}' listed in ${file}: ${err.message}`);
      });
      return bytes;
    }),
  );
  return { ...artifacts, weightData: buffers };
}

/** As TF.js's http handler: model.json, then each weight file fetched relative to its URL. */
async function readURL(url: string): Promise<RawArtifacts> {
  let modelURL: URL;
  try {
    modelURL = new URL(url, (globalThis as { location?: { href: string } }).location?.href);
  } catch {
    throw new Error(`'${url}' is not a URL; a relative URL needs a page to resolve against (in Node use 'file://dir' or an http(s) URL)`);
  }
  if (typeof fetch !== 'function') throw new Error('loading from a URL needs fetch()');
  const get = async (target: URL, what: string): Promise<Response> => {
    let response: Response;
    try {
      response = await fetch(target);
    } catch (err) {
      throw new Error(`cannot fetch ${what} ${target.href}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!response.ok) throw new Error(`fetching ${what} ${target.href} failed: HTTP ${response.status} ${response.statusText}`);
    return response;
  };
  const { artifacts, paths } = parseModelJSON(await (await get(modelURL, 'model.json')).text());
  const buffers = await Promise.all(paths.map(async (p) => (await get(new URL(p, modelURL), 'the weights file')).arrayBuffer()));
  return { ...artifacts, weightData: buffers };
}

/** The artifacts TF.js's 'indexeddb://' handler (or ours) stored under `modelPath`. */
async function loadIndexedDB(modelPath: string): Promise<unknown> {
  if (!modelPath) throw new Error("'indexeddb://' needs a name, e.g. 'indexeddb://my-model'");
  const db = await openDatabase();
  try {
    return await new Promise((resolve, reject) => {
      const request = db.transaction(IDB_MODELS, 'readonly').objectStore(IDB_MODELS).get(modelPath);
      request.onsuccess = () => {
        const entry = request.result as { modelArtifacts?: unknown } | undefined;
        if (!entry) reject(new Error(`no model named '${modelPath}' in IndexedDB`));
        else resolve(entry.modelArtifacts);
      };
      request.onerror = () => reject(new Error(`cannot read '${modelPath}' from IndexedDB: ${request.error?.message}`));
    });
  } finally {
    db.close();
  }
}
