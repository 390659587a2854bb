/**
 * Python's number formatting as Keras's callbacks use it: the `{name:spec}` placeholders of
 * ModelCheckpoint's file path (`weights.{epoch:02d}-{val_loss:.2f}`, str.format's mini-language)
 * and `repr(float)`, which CSVLogger writes.
 */
import { describe } from '../runtime/tensor.ts';

/** A float as Python's repr() writes it: shortest round-trip digits, '1.0', '1e-05', 'nan', 'inf'. */
export function pyFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mantissa, expText] = x.toExponential().split('e') as [string, string];
  const exp = Number(expText);
  const sign = mantissa.startsWith('-') ? '-' : '';
  const digits = mantissa.replace(/^-/, '').replace('.', '');
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const whole = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
  const frac = digits.slice(exp + 1);
  return `${sign}${whole}.${frac || '0'}`;
}

const SPEC = /^(?:(.)?([<>^=]))?([+\- ])?(0)?(\d+)?(?:\.(\d+))?([deEfFgG%s])?$/s;

/** `value` formatted by a Python format spec ('02d', '.2f', '.3e', '>8.4g', …). */
export function formatSpec(value: number | string, spec: string): string {
  const m = SPEC.exec(spec);
  if (!m) throw new Error(`unsupported format spec '${spec}' (supported: [[fill]align][sign][0][width][.precision][d|e|E|f|F|g|G|%|s])`);
  const [, fillGiven, alignGiven, sign = '-', zero, widthText, precisionText, type] = m;
  const precision = precisionText === undefined ? undefined : Number(precisionText);
  let body: string;
  let signText = '';
  if (typeof value === 'string') {
    if (type !== undefined && type !== 's') throw new Error(`format code '${type}' is for numbers, got the string '${value}'`);
    body = precision === undefined ? value : value.slice(0, precision);
  } else {
    if (type === 's') throw new Error(`format code 's' is for strings, got the number ${value}`);
    if (value < 0 || Object.is(value, -0)) signText = '-';
    else if (sign === '+') signText = '+';
    else if (sign === ' ') signText = ' ';
    body = formatNumber(Math.abs(value), type, precision);
  }
  const width = widthText === undefined ? 0 : Number(widthText);
  const fill = fillGiven ?? (zero && !alignGiven ? '0' : ' ');
  const align = alignGiven ?? (zero ? '=' : typeof value === 'string' ? '<' : '>');
  const pad = Math.max(0, width - signText.length - body.length);
  if (align === '=') return signText + fill.repeat(pad) + body;
  const text = signText + body;
  if (align === '<') return text + fill.repeat(pad);
  if (align === '^') return fill.repeat(Math.floor(pad / 2)) + text + fill.repeat(Math.ceil(pad / 2));
  return fill.repeat(pad) + text;
}

/** A non-negative number by a Python presentation type. */
function formatNumber(x: number, type: string | undefined, precision: number | undefined): string {
  const upper = type === 'E' || type === 'F' || type === 'G';
  if (!Number.isFinite(x)) return upper ? (Number.isNaN(x) ? 'NAN' : 'INF') : Number.isNaN(x) ? 'nan' : 'inf';
  switch (type) {
    case 'd':
      if (!Number.isInteger(x)) throw new Error(`format code 'd' needs an integer, got ${x}`);
      return String(x);
    case 'f':
    case 'F':
      return x.toFixed(precision ?? 6);
    case 'e':
    case 'E': {
      const text = exponential(x, precision ?? 6);
      return upper ? text.toUpperCase() : text;
    }
    case 'g':
    case 'G': {
      const text = general(x, precision ?? 6);
      return upper ? text.toUpperCase() : text;
    }
    case '%':
      return `${(x * 100).toFixed(precision ?? 6)}%`;
    default:
      if (precision !== undefined) return general(x, precision);
      return Number.isInteger(x) && !String(x).includes('e') ? String(x) : pyFloat(x);
  }
}

/** Python's 'e': d.ddddde±XX, at least two exponent digits. */
function exponential(x: number, precision: number): string {
  const [m, e] = x.toExponential(precision).split('e') as [string, string];
  const exp = Number(e);
  return `${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
}

/** Python's 'g': `precision` significant digits, fixed or exponent notation, trailing zeros dropped. */
function general(x: number, precision: number): string {
  const p = precision === 0 ? 1 : precision;
  if (x === 0) return '0';
  const exp = Number(x.toExponential(p - 1).split('e')[1]);
  const strip = (s: string) => (s.includes('.') ? s.replace(/\.?0+$/, '') : s);
  if (exp >= -4 && exp < p) return strip(x.toFixed(p - 1 - exp));
  const [m, e] = exponential(x, p - 1).split('e') as [string, string];
  return `${strip(m)}e${e}`;
}

/**
 * Fills `{name}` / `{name:spec}` placeholders from `values`, as Python's str.format; `{{` and `}}`
 * are literal braces. A missing name is an Error listing the names there are.
 */
export function formatPlaceholders(template: string, values: Readonly<Record<string, number | string | undefined>>, what: string): string {
  return template.replace(/\{\{|\}\}|\{([^{}:]*)(?::([^{}]*))?\}/g, (whole, name: string | undefined, spec: string | undefined) => {
    if (whole === '{{') return '{';
    if (whole === '}}') return '}';
    const value = values[name!];
    if (value === undefined) {
      const known = Object.keys(values).filter((k) => values[k] !== undefined);
      throw new Error(`${what}: cannot fill '{${name}${spec === undefined ? '' : `:${spec}`}}' in '${template}': no '${name}' in the logs; there are ${known.join(', ')}`);
    }
    try {
      return formatSpec(value, spec ?? '');
    } catch (err) {
      throw new Error(`${what}: cannot fill '${whole}' in '${template}' with ${describe(value)}: ${(err as Error).message}`);
    }
  });
}
