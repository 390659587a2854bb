/**
 * Float64 references of batch and layer normalization in training (Keras's formulas: biased
 * variance, ε inside the square root), forward and the exact backward through the statistics.
 * test/normalization.test.ts (which also checks them by central finite differences) and
 * test/property-families.test.ts check the kernels against them.
 */

/** BN training over the first n rows of [*, C, I]: y, mean, biased variance, and the backward. */
export function bnRef(x: ArrayLike<number>, C: number, I: number, n: number, gamma: ArrayLike<number>, beta: ArrayLike<number>, epsilon: number) {
  const ch = (e: number) => Math.floor(e / I) % C;
  const total = n * C * I;
  const count = n * I;
  const mean = new Float64Array(C);
  const variance = new Float64Array(C);
  for (let e = 0; e < total; e++) mean[ch(e)] += x[e]! / count;
  for (let e = 0; e < total; e++) variance[ch(e)] += (x[e]! - mean[ch(e)]!) ** 2 / count;
  const inv = variance.map((v) => 1 / Math.sqrt(v + epsilon));
  const xh = Float64Array.from({ length: total }, (_, e) => (x[e]! - mean[ch(e)]!) * inv[ch(e)]!);
  const y = xh.map((v, e) => v * gamma[ch(e)]! + beta[ch(e)]!);
  const backward = (dy: ArrayLike<number>) => {
    const dgamma = new Float64Array(C);
    const dbeta = new Float64Array(C);
    for (let e = 0; e < total; e++) {
      dbeta[ch(e)] += dy[e]!;
      dgamma[ch(e)] += dy[e]! * xh[e]!;
    }
    const dx = xh.map((v, e) => (gamma[ch(e)]! * inv[ch(e)]! * (count * dy[e]! - dbeta[ch(e)]! - v * dgamma[ch(e)]!)) / count);
    return { dx, dgamma, dbeta };
  };
  return { y, mean, variance, backward };
}

/**
 * LN of `[batch, ...sample]` over `axes` (resolved, counting the batch axis) for the first `samples`
 * samples: each element's group (batch and kept axes) and normalized index (the normalized axes,
 * row-major in axis order), then the forward and backward per group.
 */
export function lnRef(x: ArrayLike<number>, sample: number[], axes: number[], samples: number, gamma: ArrayLike<number>, beta: ArrayLike<number>, epsilon: number) {
  const size = sample.reduce((a, b) => a * b, 1);
  const total = samples * size;
  const norm = new Int32Array(total);
  const group = new Int32Array(total);
  let N = 1;
  for (let e = 0; e < total; e++) {
    let rest = e % size;
    let nIdx = 0;
    let nMul = 1;
    let kIdx = 0;
    let kMul = 1;
    for (let d = sample.length - 1; d >= 0; d--) {
      const i = rest % sample[d]!;
      rest = Math.floor(rest / sample[d]!);
      if (axes.includes(d + 1)) (nIdx += i * nMul), (nMul *= sample[d]!);
      else (kIdx += i * kMul), (kMul *= sample[d]!);
    }
    norm[e] = nIdx;
    group[e] = Math.floor(e / size) * kMul + kIdx;
    N = nMul;
  }
  const groups = total / N;
  const mean = new Float64Array(groups);
  const inv = new Float64Array(groups);
  for (let e = 0; e < total; e++) mean[group[e]!] += x[e]! / N;
  for (let e = 0; e < total; e++) inv[group[e]!] += (x[e]! - mean[group[e]!]!) ** 2 / N;
  inv.forEach((v, k) => (inv[k] = 1 / Math.sqrt(v + epsilon)));
  const xh = Float64Array.from({ length: total }, (_, e) => (x[e]! - mean[group[e]!]!) * inv[group[e]!]!);
  const y = xh.map((v, e) => v * gamma[norm[e]!]! + beta[norm[e]!]!);
  const backward = (dy: ArrayLike<number>) => {
    const dgamma = new Float64Array(N);
    const dbeta = new Float64Array(N);
    const mg = new Float64Array(groups);
    const mgx = new Float64Array(groups);
    for (let e = 0; e < total; e++) {
      const g = dy[e]! * gamma[norm[e]!]!;
      mg[group[e]!] += g / N;
      mgx[group[e]!] += (g * xh[e]!) / N;
      dgamma[norm[e]!] += dy[e]! * xh[e]!;
      dbeta[norm[e]!] += dy[e]!;
    }
    const dx = xh.map((v, e) => inv[group[e]!]! * (dy[e]! * gamma[norm[e]!]! - mg[group[e]!]! - v * mgx[group[e]!]!));
    return { dx, dgamma, dbeta };
  };
  return { y, N, backward };
}
