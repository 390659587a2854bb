/**
 * Keras's progress bar for Node terminals:
 *   Epoch 1/5
 *   412/938 [============>.................] - ETA: 1:02 - loss: 0.3121 - accuracy: 0.9034
 * On a terminal it redraws one line; in a log file it writes a line at most every 30 s.
 */
import type { Logs } from './model/args.ts';

const WIDTH = 30;

function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}:${String(s % 60).padStart(2, '0')}`;
  return `${Math.floor(m / 60)}:${String(m % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

function formatMetrics(logs: Partial<Logs>): string {
  return Object.entries(logs)
    .filter(([k, v]) => typeof v === 'number' && k !== 'size' && Number.isFinite(v))
    .map(([k, v]) => ` - ${k}: ${(v as number).toFixed(4)}`)
    .join('');
}

export function progressLine(done: number, total: number, elapsedSeconds: number, logs: Partial<Logs>, final = false): string {
  const digits = String(total).length;
  const filled = Math.floor((WIDTH * done) / total);
  const bar = done >= total ? '='.repeat(WIDTH) : filled > 0 ? '='.repeat(filled - 1) + '>' + '.'.repeat(WIDTH - filled) : '.'.repeat(WIDTH);
  const timing = final
    ? ` - ${formatDuration(elapsedSeconds)} ${Math.round((elapsedSeconds * 1000) / total)}ms/step`
    : ` - ETA: ${formatDuration((elapsedSeconds / Math.max(done, 1)) * (total - done))}`;
  return `${String(done).padStart(digits)}/${total} [${bar}]${timing}${formatMetrics(logs)}`;
}

export class ProgressBar {
  private readonly start = performance.now();
  private lastPrint = 0;
  private readonly tty: boolean;
  private readonly write: (text: string) => void;

  constructor(
    private readonly total: number,
    title: string,
    write?: (text: string) => void,
  ) {
    const stdout = typeof process !== 'undefined' ? process.stdout : undefined;
    this.tty = !write && !!stdout?.isTTY;
    this.write = write ?? ((text) => (stdout ? stdout.write(text) : console.log(text)));
    this.write(`${title}\n`);
  }

  update(done: number, logs: Partial<Logs>): void {
    const elapsed = (performance.now() - this.start) / 1000;
    if (this.tty) {
      this.write(`\r${progressLine(done, this.total, elapsed, logs)}\x1b[K`);
    } else if (elapsed - this.lastPrint >= 30 && done < this.total) {
      this.lastPrint = elapsed;
      this.write(`${progressLine(done, this.total, elapsed, logs)}\n`);
    }
  }

  finish(logs: Partial<Logs>): void {
    const elapsed = (performance.now() - this.start) / 1000;
    this.write(`${this.tty ? '\r' : ''}${progressLine(this.total, this.total, elapsed, logs, true)}${this.tty ? '\x1b[K' : ''}\n`);
  }
}
