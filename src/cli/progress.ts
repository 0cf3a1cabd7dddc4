// A tiny progress bar on stderr. On a terminal it redraws one line in place (at most every 100 ms); anywhere
// else (a pipe, a log file, CI) it writes one plain line each time another tenth of the work is done, so logs
// stay short.

export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export class Progress {
  private done = 0;
  private lastDraw = 0;
  private lastTenth = 0;
  private finished = false;
  private readonly tty: boolean;

  /** `label` names the work ("classmodel class 3"), `unit` what is counted ("steps"). */
  constructor(private readonly label: string, private readonly total: number, private readonly unit: string,
              private readonly stream: ProgressStream = process.stderr) {
    this.tty = stream.isTTY === true;
    if (this.tty && total > 0) this.draw();
  }

  /** Records `n` more units of finished work. */
  tick(n = 1, note?: string): void {
    if (this.finished || this.total <= 0) return;
    this.done = Math.min(this.total, this.done + n);
    if (this.tty) {
      const now = Date.now();
      if (this.done === this.total || now - this.lastDraw >= 100) this.draw(note);
      if (this.done === this.total) this.end();
      return;
    }
    const tenth = Math.floor((this.done * 10) / this.total);
    if (tenth > this.lastTenth) {
      this.lastTenth = tenth;
      const pct = Math.floor((this.done * 100) / this.total);
      this.stream.write(`${this.label}: ${this.done}/${this.total} ${this.unit} (${pct}%)${note ? ` ${note}` : ''}\n`);
    }
    if (this.done === this.total) this.finished = true;
  }

  /** Ends the bar's line (a terminal bar stopped before the end, e.g. by an error, keeps what it drew). */
  end(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.tty) this.stream.write('\n');
  }

  private draw(note?: string): void {
    this.lastDraw = Date.now();
    const frac = this.total > 0 ? this.done / this.total : 1;
    const width = Math.max(10, Math.min(30, (this.stream.columns ?? 80) - this.label.length - 40));
    const full = Math.round(frac * width);
    const bar = '#'.repeat(full) + '-'.repeat(width - full);
    const text = `${this.label} [${bar}] ${Math.floor(frac * 100)}% ${this.done}/${this.total} ${this.unit}${note ? ` ${note}` : ''}`;
    this.stream.write(`\r${text}\x1b[K`);
  }
}
