import { advanceSgr, DEFAULT_SGR, ISgrState, renderAnsiLine } from './ansi';

/** Height of one log line, px (set as a CSS variable on the view). */
const LINE_HEIGHT = 17;
/** Lines rendered above and below the visible ones. */
const OVERSCAN = 30;

/**
 * A virtualized, append-only log: any number of lines, with ANSI colours,
 * in a scroll container that only ever holds the visible lines (plus a
 * margin) in the DOM.
 *
 * Appending stores strings and schedules one paint per animation frame, so
 * a 100,000-line replay costs an array push per line; while the view is
 * scrolled to the bottom it follows new lines.
 */
export class LogLines {
  /**
   * Create an empty log.
   *
   * @param label - accessible name of the log region
   */
  constructor(label: string) {
    const node = document.createElement('div');
    node.className = 'jp-r2d-log';
    node.tabIndex = 0; // arrows, Page Up/Down, Home/End scroll it
    node.setAttribute('role', 'log');
    node.setAttribute('aria-label', label);
    // The phase bar announces progress; announcing every line would drown it.
    node.setAttribute('aria-live', 'off');
    node.style.setProperty('--jp-r2d-log-line-height', `${LINE_HEIGHT}px`);
    this._sizer = document.createElement('div');
    this._sizer.className = 'jp-r2d-log-sizer';
    const themed = document.createElement('div');
    // jp-RenderedText: JupyterLab's ansi-* colour classes apply inside.
    themed.className = 'jp-RenderedText jp-r2d-log-window';
    this._rows = document.createElement('pre');
    this._rows.className = 'jp-r2d-log-rows';
    themed.appendChild(this._rows);
    this._window = themed;
    this._sizer.appendChild(themed);
    node.appendChild(this._sizer);
    node.addEventListener('scroll', this._onScroll, { passive: true });
    this.node = node;
  }

  /** The scroll container. */
  readonly node: HTMLDivElement;

  /** The raw lines (with escape sequences). */
  get lines(): readonly string[] {
    return this._lines;
  }

  /** The index of the marked line, or -1. */
  get marked(): number {
    return this._marked;
  }

  /** Whether a line is a notice of the server (shown apart from output). */
  isNotice(index: number): boolean {
    return this._notices.has(index);
  }

  /**
   * Append lines; they are painted at the next animation frame.
   *
   * @param lines - raw lines, without newlines
   * @param notices - indexes (in `lines`) of the server's notices among them
   */
  append(lines: readonly string[], notices: readonly number[] = []): void {
    let state = this._state;
    const all = this._lines;
    for (const index of notices) {
      this._notices.add(all.length + index);
    }
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (state !== DEFAULT_SGR) {
        // Colours that run over a line end: remember where a line starts.
        this._starts.set(all.length, state);
      }
      all.push(line);
      state = advanceSgr(line, state);
    }
    this._state = state;
    this._dirty = true;
    this._schedule();
  }

  /**
   * Scroll a line into view (a third from the top) and mark it.
   *
   * @param index - line index
   */
  scrollToLine(index: number): void {
    if (index < 0 || index >= this._lines.length) {
      return;
    }
    this._marked = index;
    this._follow = false;
    this._updateHeight();
    const top = Math.max(
      0,
      index * LINE_HEIGHT - Math.floor(this.node.clientHeight / 3)
    );
    this.node.scrollTop = top;
    this._dirty = true;
    this._paint();
  }

  /** Scroll to the end and follow new lines again. */
  scrollToEnd(): void {
    this._follow = true;
    this._dirty = true;
    this._paint();
  }

  /** Paint now (e.g. after the view was resized or shown). */
  refresh(): void {
    this._dirty = true;
    this._paint();
  }

  /** Stop painting. */
  dispose(): void {
    cancelAnimationFrame(this._frame);
    this._frame = 0;
    this.node.removeEventListener('scroll', this._onScroll);
  }

  private _onScroll = (): void => {
    const node = this.node;
    // At the bottom (within a line): follow new lines; above: stay put.
    this._follow =
      node.scrollTop + node.clientHeight >= node.scrollHeight - LINE_HEIGHT;
    this._schedule();
  };

  private _schedule(): void {
    if (!this._frame) {
      this._frame = requestAnimationFrame(() => {
        this._frame = 0;
        this._paint();
      });
    }
  }

  private _updateHeight(): void {
    const height = this._lines.length * LINE_HEIGHT;
    if (height !== this._height) {
      this._height = height;
      this._sizer.style.height = `${height}px`;
    }
  }

  /** Render the lines in and around the viewport, and nothing else. */
  private _paint(): void {
    const node = this.node;
    this._updateHeight();
    const viewport = node.clientHeight;
    if (this._follow) {
      const bottom = Math.max(0, this._height - viewport);
      if (Math.abs(node.scrollTop - bottom) >= 1) {
        node.scrollTop = bottom;
      }
    }
    const top = node.scrollTop;
    const count = this._lines.length;
    const first = Math.max(0, Math.floor(top / LINE_HEIGHT) - OVERSCAN);
    const last = Math.min(
      count,
      Math.ceil((top + Math.max(viewport, LINE_HEIGHT)) / LINE_HEIGHT) +
        OVERSCAN
    );
    if (!this._dirty && first === this._first && last === this._last) {
      return;
    }
    this._dirty = false;
    this._first = first;
    this._last = last;
    const fragment = document.createDocumentFragment();
    let state = this._stateAt(first);
    for (let i = first; i < last; i++) {
      const line = this._lines[i];
      const row = document.createElement('div');
      row.className =
        i === this._marked
          ? 'jp-r2d-log-line jp-mod-marked'
          : 'jp-r2d-log-line';
      row.dataset.line = String(i + 1);
      if (this._notices.has(i)) {
        // The server's words, not the build's: plain text, set apart.
        row.classList.add('jp-r2d-log-notice');
        row.setAttribute('role', 'note');
        row.textContent = line;
      } else {
        renderAnsiLine(line, state, row);
      }
      fragment.appendChild(row);
      state = advanceSgr(line, state);
    }
    this._rows.replaceChildren(fragment);
    this._window.style.transform = `translateY(${first * LINE_HEIGHT}px)`;
  }

  /** The graphic state at the start of a line. */
  private _stateAt(index: number): ISgrState {
    return this._starts.get(index) ?? DEFAULT_SGR;
  }

  private _lines: string[] = [];
  private _starts = new Map<number, ISgrState>();
  private _notices = new Set<number>();
  private _state: ISgrState = DEFAULT_SGR;
  private _sizer: HTMLDivElement;
  private _window: HTMLDivElement;
  private _rows: HTMLPreElement;
  private _frame = 0;
  private _height = -1;
  private _first = -1;
  private _last = -1;
  private _dirty = false;
  private _follow = true;
  private _marked = -1;
}
