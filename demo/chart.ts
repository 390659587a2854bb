/** A small line chart on a canvas: enough for live training curves, without a chart library. */

export interface Series {
  label: string;
  color: string;
  points: { x: number; y: number }[];
  /** Thin line for noisy per-batch values, thick line with dots for per-epoch values. */
  style: 'thin' | 'bold';
}

export interface ChartOptions {
  title: string;
  /** Fixed y range (accuracy is 0..1); otherwise from the data, starting at 0. */
  yRange?: [number, number];
  xMax: number;
  formatY: (v: number) => string;
}

export class LineChart {
  private readonly ctx: CanvasRenderingContext2D;
  private pending = false;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly options: ChartOptions,
    private series: Series[] = [],
  ) {
    this.ctx = canvas.getContext('2d')!;
  }

  set(series: Series[], xMax: number): void {
    this.series = series;
    this.options.xMax = xMax;
    this.schedule();
  }

  /** Coalesces redraws to one per frame however often data arrives. */
  schedule(): void {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  draw(): void {
    const { canvas, ctx, options } = this;
    const dpr = window.devicePixelRatio || 1;
    const cssW = canvas.clientWidth || 400;
    const cssH = canvas.clientHeight || 220;
    if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
      canvas.width = Math.round(cssW * dpr);
      canvas.height = Math.round(cssH * dpr);
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);
    const pad = { left: 46, right: 12, top: 26, bottom: 26 };
    const w = cssW - pad.left - pad.right;
    const h = cssH - pad.top - pad.bottom;
    const all = this.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.y));
    let [y0, y1] = options.yRange ?? [0, Math.max(1e-6, ...all.map((p) => p.y))];
    if (!options.yRange) y1 = niceCeil(y1);
    const xMax = Math.max(options.xMax, 1e-9);
    const px = (x: number) => pad.left + (x / xMax) * w;
    const py = (y: number) => pad.top + h - ((y - y0) / (y1 - y0)) * h;

    ctx.font = '12px system-ui, sans-serif';
    ctx.fillStyle = '#1f2937';
    ctx.textAlign = 'left'; // the context keeps the previous draw's alignment
    ctx.textBaseline = 'alphabetic';
    ctx.fillText(`${options.title} (x: epochs)`, pad.left, 16);
    // Legend, right-aligned on the title line.
    let lx = cssW - pad.right;
    for (const s of [...this.series].reverse()) {
      const tw = ctx.measureText(s.label).width;
      lx -= tw;
      ctx.fillStyle = '#4b5563';
      ctx.fillText(s.label, lx, 16);
      lx -= 16;
      ctx.fillStyle = s.color;
      ctx.fillRect(lx, 9, 12, s.style === 'bold' ? 4 : 2);
      lx -= 12;
    }

    ctx.strokeStyle = '#e5e7eb';
    ctx.lineWidth = 1;
    ctx.fillStyle = '#6b7280';
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (let i = 0; i <= 4; i++) {
      const v = y0 + ((y1 - y0) * i) / 4;
      const y = Math.round(py(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(pad.left, y);
      ctx.lineTo(pad.left + w, y);
      ctx.stroke();
      ctx.fillText(options.formatY(v), pad.left - 6, y);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    const xTicks = Math.max(1, Math.min(10, Math.ceil(xMax)));
    for (let i = 0; i <= xTicks; i++) {
      const v = (xMax * i) / xTicks;
      ctx.fillText(Number.isInteger(v) ? String(v) : v.toFixed(1), px(v), pad.top + h + 6);
    }

    ctx.save();
    ctx.beginPath();
    ctx.rect(pad.left, pad.top - 2, w, h + 4);
    ctx.clip();
    for (const s of this.series) {
      const pts = s.points.filter((p) => Number.isFinite(p.y));
      if (!pts.length) continue;
      ctx.strokeStyle = s.color;
      ctx.lineWidth = s.style === 'bold' ? 2.5 : 1.25;
      ctx.globalAlpha = s.style === 'bold' ? 1 : 0.75;
      ctx.beginPath();
      pts.forEach((p, i) => (i ? ctx.lineTo(px(p.x), py(p.y)) : ctx.moveTo(px(p.x), py(p.y))));
      ctx.stroke();
      if (s.style === 'bold') {
        ctx.fillStyle = s.color;
        for (const p of pts) {
          ctx.beginPath();
          ctx.arc(px(p.x), py(p.y), 3.5, 0, Math.PI * 2);
          ctx.fill();
        }
      }
      ctx.globalAlpha = 1;
    }
    ctx.restore();
  }
}

/** 1, 2, 2.5, 5 × 10^k at or above v, so the axis labels stay round. */
function niceCeil(v: number): number {
  const k = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * k >= v) return m * k;
  return 10 * k;
}
