/**
 * What the single-purpose pages checked by Puppeteer (embed.html, io.html) share: their state on
 * `window[name]`, where the tests poll it, and a status line whose colour follows the state.
 */
export function publishState<S extends { status: string }>(name: string, state: S): (status: S['status'], text: string) => void {
  (window as unknown as Record<string, S>)[name] = state;
  const statusLine = document.getElementById('status')!;
  return (status, text) => {
    state.status = status;
    document.body.dataset.status = status;
    statusLine.textContent = text;
  };
}
