/**
 * The 2-D convolution's three products as implicit GEMMs on the configurable tiled product
 * (shaders/tiled-matmul.ts): for each, the matrix geometry and the loaders that gather its
 * operands from the NHWC activations and the HWIO kernel (OperandLoaders), so no im2col matrix
 * is ever stored.
 *
 *   forward        y[m = n·oh·ow, co]      = act(Σ_k im2col(x)[m, k = tap·inC + ci] · w[k, co] + b)
 *   input gradient dx[m = n·ih·iw, ci]     = Σ_k gather(dy)[m, k = tap·outC + co] · w[tap, ci, co]
 *   kernel grad.   dW[m = tap·inC + ci, co] = Σ_k im2col(x)[k = n·oh·ow, m] · dy[k, co]
 *
 * and two variations: the forward with its 2×2 max pool as the epilogue (its rows laid out by
 * pooling windows), and the transposed convolution's forward, the input gradient with a bias and
 * ReLU on its columns (the transposed output's channels).
 *
 * Strides, dilation and 'same'/'valid'/'causal' padding are the geometry's (shaders/conv2d-geometry.ts);
 * taps in the padding, and input pixels off the stride grid in the input gradient, gather zeros.
 */
import { type Conv2DGeometry, dilationConstants, geometryKey, tapOffset } from './conv2d-geometry.ts';
import type { MatmulGeometry, OperandLoaders, TileConfig } from './tiled-matmul-config.ts';
import { poolRows, validateMatmulGeometry } from './tiled-matmul-config.ts';
import { constants } from './wgsl.ts';

/** A product of the convolution as the tiled matmul runs it: its geometry and gathers. */
export interface ConvGemm {
  geometry: MatmulGeometry;
  loaders: OperandLoaders;
}

/** One batch (the convolution's batch is folded into m or k), packed strides, no masks or accumulation. */
function product(m: number, n: number, k: number, options: Partial<MatmulGeometry>, who: string): MatmulGeometry {
  return validateMatmulGeometry(
    {
      batch: 1,
      m,
      n,
      k,
      transposeA: false,
      transposeB: false,
      strideA: m * k,
      strideB: k * n,
      strideC: m * n,
      bias: false,
      relu: false,
      accumulate: false,
      maskA: false,
      maskB: false,
      ...options,
    },
    who,
  );
}

/** The geometry's sizes as named constants (dilation only where taps are spread apart). */
function geometryConstants(g: Conv2DGeometry): string {
  return `${constants({ IN_H: g.inH, IN_W: g.inW, IN_C: g.inC, OUT_H: g.outH, OUT_W: g.outW, OUT_C: g.outC, K_W: g.kW, STRIDE_H: g.strideH, STRIDE_W: g.strideW })}${dilationConstants(g)}
${constants({ PAD_TOP: g.padTop, PAD_LEFT: g.padLeft }, 'abstract')}`;
}

/**
 * `fn im2col(pixel, tap, ci) -> f32`: the input (binding a) under tap `tap` of output pixel
 * `pixel` (image-major), channel ci; zero in the padding. Width 4: channels ci..ci+3 as a vec4f
 * (ci a multiple of 4, binding a read as vec4f).
 */
function im2col(g: Conv2DGeometry, width: 1 | 4 = 1): string {
  const [type, zero, channels, index] = width === 4 ? ['vec4f', 'vec4f(0.0)', 'channels ci..ci + 3', ' / 4u'] : ['f32', '0.0', 'channel ci', ''];
  const address = `((pixel / (OUT_H * OUT_W) * IN_H + u32(iy)) * IN_W + u32(ix)) * IN_C + ci`;
  return `/** x at tap \`tap\` of output pixel \`pixel\`, ${channels}: zero in the padding. */
fn im2col(pixel: u32, tap: u32, ci: u32) -> ${type} {
  let iy = i32((pixel / OUT_W) % OUT_H * STRIDE_H + ${tapOffset('tap / K_W', g.dilationH, 'DILATION_H')}) - PAD_TOP;
  let ix = i32(pixel % OUT_W * STRIDE_W + ${tapOffset('tap % K_W', g.dilationW, 'DILATION_W')}) - PAD_LEFT;
  if ((u32(iy) >= IN_H) | (u32(ix) >= IN_W)) { return ${zero}; }
  return a[${width === 4 ? `(${address})${index}` : address}];
}`;
}

/**
 * The loaders' code at width 1, and at width 4 where `vec4` (OperandLoaders.vec4Code): `code(1)`
 * and `code(4)` differ only in the gathers' types and the element read.
 */
function widths(code: (width: 1 | 4) => string, vec4: boolean): Pick<OperandLoaders, 'code' | 'vec4Code'> {
  return vec4 ? { code: code(1), vec4Code: code(4) } : { code: code(1) };
}

/** Floats of g's input, kernel and output. */
function floats(g: Conv2DGeometry): { x: number; w: number; y: number } {
  return { x: g.batch * g.inH * g.inW * g.inC, w: g.kH * g.kW * g.inC * g.outC, y: g.batch * g.outH * g.outW * g.outC };
}

/**
 * The forward: C = y [pixels, outC] = act(A·B + b), A = im2col(x) [pixels, taps·inC] gathered
 * from binding a (x), B = w [taps·inC, outC] read as a matrix (binding b). Bindings as
 * matmulBindings: x, w, (bias), y.
 */
export function conv2dGemmForward(g: Conv2DGeometry): ConvGemm {
  const geometry = product(g.batch * g.outH * g.outW, g.outC, g.kH * g.kW * g.inC, { bias: g.bias, relu: g.relu }, 'conv2d gemm forward');
  return {
    geometry,
    loaders: {
      key: `conv2d-forward:${geometryKey(g)}`,
      a: { floats: floats(g).x },
      ...widths(
        (width) => `${geometryConstants(g)}

${im2col(g, width)}

/** A[r, c${width === 4 ? '..c+3' : ''}]: im2col(x) at output pixel r, column c = tap · IN_C + ci. */
fn gatherA(base: u32, r: u32, c: u32) -> ${width === 4 ? 'vec4f' : 'f32'} { return im2col(r, c / IN_C, c % IN_C); }`,
        g.inC % 4 === 0,
      ),
    },
  };
}

/**
 * The forward with its 2×2 max pool (stride 2, 'valid': a last odd output row or column lies
 * under no window) as the product's epilogue (MatmulGeometry.pool): A's rows are gathered in the
 * tiles' window layout for `tiles` (PoolEpilogue), C = the pooled y [windows, outC], and with
 * `argmax` the first-max positions (binding argmax) for maxPoolBackwardFromArgmax. Bindings: x,
 * w, (bias), y, (argmax).
 */
export function conv2dGemmPooledForward(g: Conv2DGeometry, tiles: TileConfig, argmax: boolean): ConvGemm {
  const [pooledH, pooledW] = [Math.floor(g.outH / 2), Math.floor(g.outW / 2)];
  const windows = g.batch * pooledH * pooledW;
  const pool = { windows, argmax };
  const geometry = product(poolRows(windows, tiles), g.outC, g.kH * g.kW * g.inC, { bias: g.bias, relu: g.relu, pool }, 'conv2d gemm pooled forward');
  return {
    geometry,
    loaders: {
      key: `conv2d-pooled-forward:${geometryKey(g)}`,
      a: { floats: floats(g).x },
      ...widths(
        (width) => `${geometryConstants(g)}
${constants({ POOLED_H: pooledH, POOLED_W: pooledW })}

${im2col(g, width)}

/**
 * A[r, c${width === 4 ? '..c+3' : ''}]: im2col(x) at the output pixel of row r, column c = tap · IN_C + ci. Row r is member
 * q = r % TILE_M / WG_Y (2·dy + dx) of window r / TILE_M · WG_Y + r % TILE_M % WG_Y (the tiles'
 * pooled layout); windows past the last gather zeros.
 */
fn gatherA(base: u32, r: u32, c: u32) -> ${width === 4 ? 'vec4f' : 'f32'} {
  let window = r / TILE_M * WG_Y + r % TILE_M % WG_Y;
  if (window >= WINDOWS) { return ${width === 4 ? 'vec4f(0.0)' : '0.0'}; }
  let q = r % TILE_M / WG_Y;
  let oy = window / POOLED_W % POOLED_H * 2u + q / 2u;
  let ox = window % POOLED_W * 2u + q % 2u;
  return im2col((window / (POOLED_H * POOLED_W) * OUT_H + oy) * OUT_W + ox, c / IN_C, c % IN_C);
}`,
        g.inC % 4 === 0,
      ),
    },
  };
}

/**
 * The input gradient: C = dx [input pixels, inC] = A·B, A [input pixels, taps·outC] the dy
 * (binding a) at the output pixel each input pixel feeds through each tap (zero where none: off
 * the stride grid, or past the output), B stored transposed [inC, taps·outC] gathered from w
 * (binding b) as w[tap, ci, co]. Bindings: dy, w, dx.
 */
export function conv2dGemmInputGrad(g: Conv2DGeometry): ConvGemm {
  const geometry = product(g.batch * g.inH * g.inW, g.inC, g.kH * g.kW * g.outC, { transposeB: true }, 'conv2d gemm input gradient');
  return {
    geometry,
    loaders: {
      key: `conv2d-input-grad:${geometryKey(g)}`,
      a: { floats: floats(g).y },
      b: { floats: floats(g).w },
      ...widths((width) => {
        const [type, zero, columns, index] = width === 4 ? ['vec4f', 'vec4f(0.0)', '..c+3', ' / 4u'] : ['f32', '0.0', '', ''];
        const read = (binding: string, address: string) => (width === 4 ? `${binding}[(${address})${index}]` : `${binding}[${address}]`);
        return `${geometryConstants(g)}

/** A[r, c${columns}]: dy at the output pixel input pixel r feeds through tap c / OUT_C, channel c % OUT_C (zero if none). */
fn gatherA(base: u32, r: u32, c: u32) -> ${type} {
  let tap = c / OUT_C;
  let sy = u32(i32((r / IN_W) % IN_H + PAD_TOP) - ${tapOffset('tap / K_W', g.dilationH, 'DILATION_H', true)});
  let sx = u32(i32(r % IN_W + PAD_LEFT) - ${tapOffset('tap % K_W', g.dilationW, 'DILATION_W', true)});
  if ((sy >= OUT_H * STRIDE_H) | (sx >= OUT_W * STRIDE_W) | (sy % STRIDE_H != 0u) | (sx % STRIDE_W != 0u)) { return ${zero}; }
  let pixel = (r / (IN_H * IN_W) * OUT_H + sy / STRIDE_H) * OUT_W + sx / STRIDE_W;
  return ${read('a', 'pixel * OUT_C + c % OUT_C')};
}

/** B stored [ci, tap · OUT_C + co${width === 4 ? '..co+3' : ''}]: w[tap, ci, co]. */
fn gatherB(base: u32, r: u32, c: u32) -> ${type} { return ${read('b', '(c / OUT_C * IN_C + r) * OUT_C + c % OUT_C')}; }`;
      }, g.outC % 4 === 0),
    },
  };
}

/**
 * The kernel gradient: C = dW [taps·inC, outC] = A·B, A stored transposed [pixels, taps·inC]:
 * im2col(x) gathered from binding a (x), B = dy [pixels, outC] read as a matrix (binding b).
 * Bindings: x, dy, dW (or split-K's partial sums). The bias gradient is no product.
 */
export function conv2dGemmKernelGrad(g: Conv2DGeometry): ConvGemm {
  const geometry = product(g.kH * g.kW * g.inC, g.outC, g.batch * g.outH * g.outW, { transposeA: true }, 'conv2d gemm kernel gradient');
  return {
    geometry,
    loaders: {
      key: `conv2d-kernel-grad:${geometryKey(g)}`,
      a: { floats: floats(g).x },
      ...widths(
        (width) => `${geometryConstants(g)}

${im2col(g, width)}

/** A stored [pixel r, c${width === 4 ? '..c+3' : ''} = tap · IN_C + ci]: im2col(x). */
fn gatherA(base: u32, r: u32, c: u32) -> ${width === 4 ? 'vec4f' : 'f32'} { return im2col(r, c / IN_C, c % IN_C); }`,
        g.inC % 4 === 0,
      ),
    },
  };
}

/**
 * The transposed convolution's forward (src/ops/conv2d-transpose.ts): g's input gradient of its
 * input x (binding a, g's output side) with g's bias and ReLU applied to C's columns, the
 * transposed output's channels (g.inC of them). Bindings: x, w, (bias), y.
 */
export function conv2dGemmTransposeForward(g: Conv2DGeometry): ConvGemm {
  const { geometry, loaders } = conv2dGemmInputGrad(g);
  return { geometry: validateMatmulGeometry({ ...geometry, bias: g.bias, relu: g.relu }, 'conv2d gemm transposed forward'), loaders };
}
