// Stop strings over streamed text. Text that could still be the beginning of a stop string
// is held back, so a client never receives characters that a later token turns into a stop
// (the output ends just before the stop string, as in vLLM).

export class StopStrings {
  private text = '';
  private emitted = 0;
  private readonly hold: number;
  stopped = false;

  constructor(private readonly stops: readonly string[]) {
    this.hold = Math.max(0, ...stops.map((s) => s.length - 1));
  }

  /** Adds new text; returns what may be emitted now. Sets `stopped` when a stop string appears. */
  push(delta: string): string {
    if (this.stopped) return '';
    const searchFrom = Math.max(0, this.text.length - this.hold);
    this.text += delta;
    let cut = -1;
    for (const s of this.stops) {
      if (!s) continue;
      const i = this.text.indexOf(s, searchFrom);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      this.stopped = true;
      this.text = this.text.slice(0, cut);
      return this.take(this.text.length);
    }
    return this.take(Math.max(this.emitted, this.text.length - this.hold));
  }

  /** Emits whatever is held back (at the end of generation). */
  flush(): string {
    return this.take(this.text.length);
  }

  /** The output text so far (without any stop string). */
  get output(): string {
    return this.text;
  }

  private take(upTo: number): string {
    const out = this.text.slice(this.emitted, upTo);
    this.emitted = Math.max(this.emitted, upTo);
    return out;
  }
}
