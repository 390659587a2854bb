/**
 * Where a layer class registers itself, once, beside its definition: its Keras class name (what
 * model.json names and loadModel looks up) and its `tf.layers` factories under every TF.js name.
 *
 *   const factories = { conv2d: (config: Conv2DConfig) => new Conv2D(config) };
 *   registerLayer(Conv2D, factories);
 *   declare module './registry.ts' { interface LayerFactories extends Conv2DFactories {} }
 *
 * The `declare module` line merges the factories' types into `LayerFactories`, so `layers.conv2d`
 * is typed from the same object that registers it. `src/layers/all.ts` imports every layer file.
 */
import type { Layer } from './layer.ts';

/** `tf.layers`: every registered factory (each layer file merges its own into this interface). */
export interface LayerFactories {}

/** What loadModel needs of a layer class: its Keras class name and how to build it from model.json. */
export interface LayerClass {
  readonly className: string;
  fromConfig(config: unknown): Layer;
}

const classes = new Map<string, LayerClass>();
const factoryNames = new Map<string, string>();

/** The factories of every registered layer, filled as layer files load. */
export const layers = {} as LayerFactories;

/**
 * Registers `cls` under its Keras class name and adds `factories` to `layers`. A name taken by
 * another class is a programming error, reported at load time.
 */
export function registerLayer<F extends Record<string, (config: never) => Layer>>(cls: LayerClass, factories: F = {} as F): F {
  const taken = classes.get(cls.className);
  if (taken && taken !== cls) throw new Error(`registerLayer: class name ${cls.className} is registered twice`);
  classes.set(cls.className, cls);
  for (const [name, factory] of Object.entries(factories)) {
    const owner = factoryNames.get(name);
    if (owner && owner !== cls.className) throw new Error(`registerLayer: layers.${name} is registered by ${owner} and ${cls.className}`);
    factoryNames.set(name, cls.className);
    (layers as unknown as Record<string, unknown>)[name] = factory;
  }
  return factories;
}

/** The registered class for a model.json class name, or undefined. */
export function layerClass(className: string): LayerClass | undefined {
  return classes.get(className);
}

/** Every registered class name, sorted (for error messages and the README's layer table). */
export function layerClassNames(): string[] {
  return [...classes.keys()].sort();
}

/** Every `layers.*` factory name with the class it builds, in registration order. */
export function layerFactoryNames(): { name: string; className: string }[] {
  return [...factoryNames].map(([name, className]) => ({ name, className }));
}
