/**
 * History loggers for Node: CSVLogger writes each epoch's logs as keras.callbacks.CSVLogger does
 * (an `epoch` column then the log keys sorted, values as Python's repr, 'NA' for a missing one,
 * the csv module's '\r\n' line ends, the header left out when appending to a non-empty file), and
 * JSONLogger writes one JSON object per epoch and line (JSON Lines; NaN and ±Infinity as null).
 * Each row is appended as its epoch ends, so a file follows a long training.
 */
import type { Logs } from '../model/args.ts';
import { nodeFs } from '../io/storage.ts';
import { describe } from '../runtime/tensor.ts';
import { pyFloat } from './format.ts';
import { Callback } from './list.ts';
import { booleanOption, checkOptions } from './monitor.ts';

type Fs = Awaited<ReturnType<typeof nodeFs>>['fs'];

/** What the two loggers share: the file, opened (truncated or appended to) when training begins. */
abstract class FileLogger extends Callback {
  protected fs: Fs | undefined;
  /** Whether the file had content when training began (then appending adds no header). */
  protected hadContent = false;

  constructor(
    readonly filename: string,
    readonly append: boolean,
  ) {
    super();
  }

  override async onTrainBegin(): Promise<void> {
    const { fs, path } = await nodeFs();
    this.fs = fs;
    this.hadContent = false;
    await fs.mkdir(path.dirname(this.filename), { recursive: true });
    if (this.append) {
      const size = await fs.stat(this.filename).then((s) => s.size, () => 0);
      this.hadContent = size > 0;
      if (!this.hadContent) await fs.writeFile(this.filename, '');
    } else {
      await fs.writeFile(this.filename, '');
    }
  }

  protected async write(text: string): Promise<void> {
    // Opened by onTrainBegin; a list that skipped it still gets a file.
    if (!this.fs) await this.onTrainBegin();
    await this.fs!.appendFile(this.filename, text);
  }
}

function checkFilename(owner: string, filename: unknown): string {
  if (typeof filename !== 'string' || filename === '') throw new Error(`${owner}: filename must be a non-empty path such as 'run/log.csv', got ${describe(filename)}`);
  return filename.replace(/^file:\/\//, '');
}

export interface CSVLoggerArgs {
  /** Between fields (default ','). */
  separator?: string;
  /** Append to an existing file instead of overwriting it (default false). */
  append?: boolean;
}

export class CSVLogger extends FileLogger {
  readonly separator: string;
  /** The columns after `epoch`: the first epoch's log keys, sorted. */
  keys: string[] | undefined;

  constructor(filename: string, args: CSVLoggerArgs = {}) {
    const owner = 'csvLogger()';
    const a = checkOptions<CSVLoggerArgs>(owner, args, ['separator', 'append']);
    super(checkFilename(owner, filename), booleanOption(owner, 'append', a.append, false));
    if (a.separator !== undefined && (typeof a.separator !== 'string' || a.separator.length !== 1 || '"\r\n'.includes(a.separator))) {
      throw new Error(`${owner}: separator must be one character other than '"' and line breaks, got ${describe(a.separator)}`);
    }
    this.separator = a.separator ?? ',';
  }

  override async onTrainBegin(): Promise<void> {
    this.keys = undefined;
    await super.onTrainBegin();
  }

  override async onEpochEnd(epoch: number, logs: Logs): Promise<void> {
    let header = '';
    if (!this.keys) {
      this.keys = Object.keys(logs).sort();
      if (!(this.append && this.hadContent)) header = this.row(['epoch', ...this.keys]);
    }
    const values = this.keys.map((k) => {
      const v = logs[k];
      return typeof v === 'number' ? pyFloat(v) : 'NA';
    });
    await this.write(header + this.row([String(epoch), ...values]));
  }

  /** One line as Python's csv module writes it (excel dialect): quoted only where needed, '\r\n' ended. */
  private row(fields: string[]): string {
    const quote = (f: string) => (f.includes(this.separator) || /["\r\n]/.test(f) ? `"${f.replace(/"/g, '""')}"` : f);
    return `${fields.map(quote).join(this.separator)}\r\n`;
  }
}

export class JSONLogger extends FileLogger {
  constructor(filename: string, args: { append?: boolean } = {}) {
    const owner = 'jsonLogger()';
    const a = checkOptions<{ append: boolean }>(owner, args, ['append']);
    super(checkFilename(owner, filename), booleanOption(owner, 'append', a.append, false));
  }

  override async onEpochEnd(epoch: number, logs: Logs): Promise<void> {
    await this.write(`${JSON.stringify({ epoch, ...logs })}\n`);
  }
}

/** keras.callbacks.CSVLogger (Node): appends each epoch's logs to a CSV file as Keras writes it. */
export function csvLogger(filename: string, args?: CSVLoggerArgs): CSVLogger {
  return new CSVLogger(filename, args);
}

/** Node: appends each epoch's logs to a JSON Lines file, one `{"epoch":…,"loss":…}` object per line. */
export function jsonLogger(filename: string, args?: { append?: boolean }): JSONLogger {
  return new JSONLogger(filename, args);
}
