declare module 'wgsl-preprocessor/wgsl-preprocessor.js' {
  /** Template tag that resolves `#if ${cond}` / `#elif` / `#else` / `#endif` blocks and returns WGSL source. */
  export function wgsl(strings: TemplateStringsArray, ...values: unknown[]): string;
}
