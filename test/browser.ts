/**
 * End-to-end test machinery: a Vite dev server over the repository (the demo pages and the MNIST
 * middleware from vite.config.ts) and headless Chromium with WebGPU on, both closed by `close()`.
 * Chromium is the system's (Puppeteer cannot download its own here): CHROMIUM_PATH overrides it.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer';
import { createServer, type ViteDevServer } from 'vite';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ARTIFACTS = path.join(ROOT, 'test-artifacts');

export const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
/** Without a GPU this gives WebGPU's SwiftShader fallback adapter (compute runs on the CPU). */
export const WEBGPU_FLAGS = ['--enable-unsafe-webgpu'];

export interface BrowserSession {
  server: ViteDevServer;
  browser: Browser;
  /** http://127.0.0.1:<port> */
  origin: string;
  /** A page whose console errors and page errors are collected into `errors`. */
  newPage(): Promise<Page>;
  errors: string[];
  close(): Promise<void>;
}

export async function startServer(): Promise<{ server: ViteDevServer; origin: string }> {
  const server = await createServer({
    configFile: path.join(ROOT, 'vite.config.ts'),
    root: ROOT,
    logLevel: 'warn',
    clearScreen: false,
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false, watch: null },
  });
  await server.listen();
  const address = server.httpServer?.address();
  if (!address || typeof address === 'string') throw new Error('the Vite server has no TCP address');
  return { server, origin: `http://127.0.0.1:${address.port}` };
}

export async function launchChromium(flags: string[] = WEBGPU_FLAGS): Promise<Browser> {
  return puppeteer.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [...CHROMIUM_FLAGS, ...flags],
    // Training steps take seconds on SwiftShader; protocol calls wait on the page meanwhile.
    protocolTimeout: 600_000,
  });
}

export async function startSession(flags: string[] = WEBGPU_FLAGS): Promise<BrowserSession> {
  const { server, origin } = await startServer();
  let browser: Browser;
  try {
    browser = await launchChromium(flags);
  } catch (err) {
    await server.close();
    throw err;
  }
  const errors: string[] = [];
  return {
    server,
    browser,
    origin,
    errors,
    async newPage() {
      const page = await browser.newPage();
      page.on('pageerror', (err) => errors.push(`pageerror: ${(err as Error).message}`));
      page.on('console', (msg) => {
        if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
      });
      return page;
    },
    async close() {
      await browser.close().catch(() => {});
      await server.close();
    },
  };
}

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, name);
}

/** Polls `read` in the page until `done` accepts its value; fails with the last value seen. */
export async function waitForValue<T>(page: Page, read: () => T, done: (value: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value: T;
  for (;;) {
    value = (await page.evaluate(read)) as T;
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(value)?.slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
