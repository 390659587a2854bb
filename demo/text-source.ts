/**
 * Where the text tab's training text comes from: the corpus that ships with the project (served
 * by vite.config.ts under /corpus/, fetched once), or the user's own text, pasted into the
 * textarea or dropped on it as a file.
 */
import type { TextSource } from './text-protocol.ts';

export const CORPUS_URL = `${import.meta.env.BASE_URL}corpus/devils-dictionary.txt`;
/** A dropped file larger than this is refused rather than frozen into a textarea. */
const MAX_FILE_BYTES = 8 * 1024 * 1024;

/** The corpus and the user's text behind the source radio buttons and the textarea. */
export class TextSourcePicker {
  private corpus: Promise<string> | undefined;
  /** The dropped file's name while the textarea still holds its text. */
  private droppedName: string | undefined;

  /** `onChange` runs when the source or the user's text changes (the page updates its hints). */
  constructor(
    private readonly radios: HTMLInputElement[],
    private readonly textarea: HTMLTextAreaElement,
    private readonly dropZone: HTMLElement,
    private readonly onChange: (message?: string) => void,
  ) {
    textarea.addEventListener('input', () => {
      this.droppedName = undefined;
      if (textarea.value) this.select('pasted');
      onChange();
    });
    for (const radio of radios) radio.addEventListener('change', () => onChange());
    dropZone.addEventListener('dragover', (event) => {
      if (!event.dataTransfer?.types.includes('Files')) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = 'copy';
      dropZone.classList.add('dragging');
    });
    dropZone.addEventListener('dragleave', () => dropZone.classList.remove('dragging'));
    dropZone.addEventListener('drop', (event) => {
      dropZone.classList.remove('dragging');
      const file = event.dataTransfer?.files[0];
      if (!file) return;
      event.preventDefault();
      void this.useFile(file);
    });
  }

  get source(): TextSource {
    return (this.radios.find((r) => r.checked)?.value as TextSource | undefined) ?? 'corpus';
  }

  select(source: TextSource): void {
    for (const r of this.radios) r.checked = r.value === source;
  }

  /** A dropped (or chosen) file: its text goes into the textarea as the user's text. */
  async useFile(file: File): Promise<void> {
    const textLike = file.type === '' || file.type.startsWith('text/') || /\.(txt|md|csv|json|tsv|html?)$/i.test(file.name);
    if (!textLike) return this.onChange(`${file.name} is not a text file (type ${file.type}); drop a .txt file`);
    if (file.size > MAX_FILE_BYTES) return this.onChange(`${file.name} is ${(file.size / 1e6).toFixed(1)} MB; the demo takes text files up to ${MAX_FILE_BYTES / 1024 / 1024} MB`);
    this.textarea.value = await file.text();
    this.droppedName = file.name;
    this.select('pasted');
    this.onChange();
  }

  /** A one-line description of the chosen text for the hint under the controls. */
  describe(): string {
    if (this.source === 'corpus') return "The Devil's Dictionary by Ambrose Bierce (public domain, 383,157 characters), shipped with the project.";
    const n = [...this.textarea.value].length;
    if (n === 0) return 'Paste text into the box, or drop a .txt file on it.';
    return `${this.droppedName ? `${this.droppedName}: ` : 'Your text: '}${n.toLocaleString('en-US')} characters, ${new Set(this.textarea.value).size} distinct.`;
  }

  /** The text to train on: the corpus (fetched the first time) or the textarea's. */
  async text(): Promise<string> {
    if (this.source === 'pasted') return this.textarea.value;
    this.corpus ??= fetch(CORPUS_URL).then(async (response) => {
      if (!response.ok) throw new Error(`cannot load ${CORPUS_URL}: HTTP ${response.status}`);
      return response.text();
    });
    try {
      return await this.corpus;
    } catch (err) {
      this.corpus = undefined;
      throw err;
    }
  }
}
