// A one-line progress bar on stderr for weight loading: tensors, bytes, rate and ETA.
// Silent when stderr is not a terminal, except for a final summary line.

export class Progress {
  private done = 0;
  private bytes = 0;
  private readonly start = Date.now();
  private lastDraw = 0;
  constructor(
    private readonly label: string,
    private readonly totalItems: number,
    private readonly totalBytes: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly quiet = false,
  ) {}

  tick(bytes: number): void {
    this.done++;
    this.bytes += bytes;
    const now = Date.now();
    if (this.stream.isTTY && !this.quiet && (now - this.lastDraw > 100 || this.done === this.totalItems)) {
      this.lastDraw = now;
      this.stream.write(`\r${this.line()}\x1b[K`);
    }
  }

  /** The final line, with `note` after it (e.g. at-load quantization's time). */
  finish(note?: string): void {
    if (this.quiet) return;
    this.stream.write(`${this.stream.isTTY ? '\r' : ''}${this.line()}${note ? `; ${note}` : ''}\x1b[K\n`.replace(/\x1b\[K/g, this.stream.isTTY ? '\x1b[K' : ''));
  }

  private line(): string {
    const secs = (Date.now() - this.start) / 1000;
    const frac = this.totalBytes ? this.bytes / this.totalBytes : this.done / Math.max(this.totalItems, 1);
    const width = 24;
    const filled = Math.round(frac * width);
    const rate = secs > 0 ? this.bytes / secs : 0;
    const eta = rate > 0 ? (this.totalBytes - this.bytes) / rate : 0;
    return `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done}/${this.totalItems} tensors, ${mib(this.bytes)}/${mib(this.totalBytes)} MiB, ${mib(rate)} MiB/s, ETA ${eta.toFixed(0)}s`;
  }
}

function mib(b: number): string {
  return (b / 2 ** 20).toFixed(1);
}
