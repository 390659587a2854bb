/**
 * Reading and describing Keras's JSON: a value as error messages show it, and a serialized
 * `{class_name, config}` object. A leaf module: the config readers of layers, initializers,
 * regularizers and constraints all use it.
 */

/** JSON text of a value, or undefined when it has none (cycles, BigInt). */
export function jsonText(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}

/** A value as JSON for error messages, cut at 80 characters. */
export function describeValue(value: unknown): string {
  const text = jsonText(value);
  return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * A Keras serialized object `{class_name, config}` (TF.js's `className`, Keras 3's `module` and
 * `registered_name` beside them, ignored): its class name and config, or an Error naming `what`.
 */
export function kerasObject(value: unknown, what: string): { className: string; config: unknown } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${what}: expected {class_name, config}, got ${describeValue(value)}`);
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v)) {
    if (!['class_name', 'className', 'config', 'module', 'registered_name'].includes(key)) {
      throw new Error(`${what}: unknown key '${key}' beside class_name; expected class_name, config (and Keras 3's module, registered_name), got ${describeValue(v)}`);
    }
  }
  const className = v.class_name ?? v.className;
  if (typeof className !== 'string') throw new Error(`${what}: expected {class_name: string, config: object}, got ${describeValue(value)}`);
  return { className, config: v.config ?? {} };
}
