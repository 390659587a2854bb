/**
 * One registry per op family: a table of the variants the family can run, as ordered rows. A row
 * names a variant and says whether it applies to a geometry on a device profile; the first row
 * that applies is the hand policy's choice, and the variants that apply, in row order (each name
 * once, at its first applicable row), are what a tuner may time. A name may stand in several rows
 * so that its place in the order depends on the profile (e.g. first on 'cpu', second on 'gpu').
 * Rows carry the parameters the variant runs with (`params`) where a family's variants are one
 * kernel tuned differently. Every choice an op makes goes through choose(), which records it on
 * the engine (Engine.variantChoices; src/runtime/describe-variants.ts).
 */
import type { Engine } from '../runtime/engine.ts';
import type { DeviceProfile } from '../runtime/profile.ts';
import type { BenchRun, TuningRequest } from '../runtime/tuning.ts';

/** One row of a table: a variant, when it applies, and why it stands where it does. */
export interface Variant<G, P = undefined> {
  name: string;
  applies(g: G, p: DeviceProfile): boolean;
  /** The bench/NOTES.md item the row rests on ("bench/NOTES.md item N"), where a measurement does. */
  note?: string;
  /** One sentence: why the row is there and in this place. */
  why: string;
  /** What the variant runs with (families whose variants are one kernel with different tuning). */
  params?: P;
}

/** An op family's variants in policy order, with a short key of a geometry for the records. */
export interface VariantTable<G, P = undefined> {
  /** The op as records and errors name it, e.g. 'conv2d.forward'. */
  op: string;
  rows: readonly Variant<G, P>[];
  key(g: G): string;
  /**
   * The variant `name` of geometry g on scratch buffers of the engine's (random inputs), for the
   * tuner to time (src/runtime/tuning.ts); a table without it is never tuned.
   */
  bench?(engine: Engine, g: G, name: string): BenchRun;
}

/** What choose() needs of an engine: its profile and, optionally, somewhere to record the choice and a tuner. */
export interface VariantHost {
  readonly profile: DeviceProfile;
  recordVariant?(op: string, variant: string, key: string): void;
  /** Tuning on first use: the measured choice of (op, key), and where to ask for a measurement. */
  readonly tuning?: { chosen(op: string, key: string): string | undefined; request(request: TuningRequest): void };
}

/** The variants of `table` that apply to g on profile p, in the table's order (the first is the hand policy's), each once. */
export function applicable<G, P>(table: VariantTable<G, P>, g: G, p: DeviceProfile): Variant<G, P>[] {
  const seen = new Set<string>();
  const out: Variant<G, P>[] = [];
  for (const row of table.rows) {
    if (seen.has(row.name) || !row.applies(g, p)) continue;
    seen.add(row.name);
    out.push(row);
  }
  return out;
}

/** The names of applicable(table, g, p). */
export function applicableNames<G, P>(table: VariantTable<G, P>, g: G, p: DeviceProfile): string[] {
  return applicable(table, g, p).map((row) => row.name);
}

/** Every variant name a table can give, in first-row order (what a forced-variant test iterates). */
export function variantNames<G, P>(table: VariantTable<G, P>): string[] {
  return [...new Set(table.rows.map((row) => row.name))];
}

/**
 * The row that runs g on host's profile: the forced variant (an Error naming the op, the variant
 * and the applicable ones when it does not apply), else the first applicable row; the choice is
 * recorded on the host. An Error too when nothing applies (a table's last row should always).
 */
export function choose<G, P>(table: VariantTable<G, P>, g: G, host: VariantHost, forced?: string): Variant<G, P> {
  const rows = applicable(table, g, host.profile);
  const row = forced === undefined ? tuned(table, g, host, rows) : rows.find((r) => r.name === forced);
  if (!row) {
    const names = rows.map((r) => r.name).join(', ') || 'none';
    if (forced !== undefined) throw new Error(`${table.op}: the variant '${forced}' does not apply here (applicable: ${names}; geometry ${table.key(g)})`);
    throw new Error(`${table.op}: no variant applies to geometry ${table.key(g)} on a '${host.profile.kind}' device`);
  }
  host.recordVariant?.(table.op, row.name, table.key(g));
  return row;
}

/**
 * The row a host's tuner measured fastest for g, when it has; else the hand policy's (the first),
 * and, when the table can bench its variants, a request to measure them (the model runtime awaits
 * it before the plan's first step and rebuilds the plan if the winner differs).
 */
function tuned<G, P>(table: VariantTable<G, P>, g: G, host: VariantHost, rows: Variant<G, P>[]): Variant<G, P> | undefined {
  const tuning = host.tuning;
  if (!tuning || rows.length < 2) return rows[0];
  const key = table.key(g);
  const measured = tuning.chosen(table.op, key);
  const row = measured === undefined ? undefined : rows.find((r) => r.name === measured);
  if (row) return row;
  const bench = table.bench;
  if (bench) tuning.request({ op: table.op, key, candidates: rows.map((r) => r.name), bench: (name) => bench(host as Engine, g, name) });
  return rows[0];
}

/** The parameters of a table's row (those rows must carry them). */
export function paramsOf<G, P>(row: Variant<G, P>, op: string): P {
  if (row.params === undefined) throw new Error(`${op}: the variant '${row.name}' has no parameters`);
  return row.params;
}

/**
 * The rows of two variants that both run on any profile, each first on its own kind: `cpu` first
 * on 'cpu' profiles, `gpu` first on 'gpu' ones (the rows' own `applies` is not consulted).
 */
export function kindFirst<G, P>(cpu: Variant<G, P>, gpu: Variant<G, P>): Variant<G, P>[] {
  return [{ ...cpu, applies: onCpu }, { ...gpu, applies: always }, { ...cpu, applies: always }];
}

/** A row applying on every profile and geometry. */
export const always = (): boolean => true;
/** A row applying on 'cpu' profiles. */
export const onCpu = (_g: unknown, p: DeviceProfile): boolean => p.kind === 'cpu';
/** A row applying on 'gpu' profiles. */
export const onGpu = (_g: unknown, p: DeviceProfile): boolean => p.kind === 'gpu';
