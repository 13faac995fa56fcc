/**
 * ANSI escape sequences in log lines: SGR colours and styles become spans
 * with JupyterLab's own `ansi-*` classes (the ones notebook outputs use, so
 * every theme colours them), everything else (cursor moves, erases, OSC) is
 * dropped. A carriage return keeps what a terminal would show: the text
 * after the last one.
 */

/** Graphic rendition state carried from one line to the next. */
export interface ISgrState {
  /** Foreground: palette index (0-255), `rgb(...)`, or null for default. */
  fg: number | string | null;
  /** Background: palette index (0-255), `rgb(...)`, or null for default. */
  bg: number | string | null;
  /** Bold. */
  bold: boolean;
  /** Faint. */
  dim: boolean;
  /** Italic. */
  italic: boolean;
  /** Underline. */
  underline: boolean;
  /** Reverse video. */
  inverse: boolean;
  /** Crossed out. */
  strike: boolean;
}

/** The state at the start of a log. */
export const DEFAULT_SGR: Readonly<ISgrState> = Object.freeze({
  fg: null,
  bg: null,
  bold: false,
  dim: false,
  italic: false,
  underline: false,
  inverse: false,
  strike: false
});

const ESC = '\u001b';
/** CSI (ESC [ params final), OSC (ESC ] ... BEL|ST) and two-byte escapes. */
const ESCAPE_RE =
  // eslint-disable-next-line no-control-regex -- escapes are what this parses
  /\u001b\[([0-9;:?]*)[ -/]*([@-~])|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b[@-Z\\-_]/g;
const NAMES = [
  'black',
  'red',
  'green',
  'yellow',
  'blue',
  'magenta',
  'cyan',
  'white'
];

/** Whether a state is the default one. */
export function isDefaultSgr(state: ISgrState): boolean {
  return (
    state.fg === null &&
    state.bg === null &&
    !state.bold &&
    !state.dim &&
    !state.italic &&
    !state.underline &&
    !state.inverse &&
    !state.strike
  );
}

/** What a terminal shows of a line with carriage returns. */
function afterCarriageReturn(line: string): string {
  let text = line;
  while (text.endsWith('\r')) {
    text = text.slice(0, -1);
  }
  const cr = text.lastIndexOf('\r');
  return cr >= 0 ? text.slice(cr + 1) : text;
}

/** The 256-colour palette entry as CSS (16-255; 0-15 use classes). */
function paletteColor(index: number): string {
  if (index < 232) {
    const i = index - 16;
    const level = (v: number) => (v === 0 ? 0 : 55 + v * 40);
    return `rgb(${level(Math.floor(i / 36))}, ${level(Math.floor(i / 6) % 6)}, ${level(i % 6)})`;
  }
  const gray = 8 + (index - 232) * 10;
  return `rgb(${gray}, ${gray}, ${gray})`;
}

/** Apply the parameters of one SGR sequence to a state (in place). */
function applySgr(state: ISgrState, params: string): void {
  const codes = params === '' ? [0] : params.split(/[;:]/).map(Number);
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i] || 0;
    if (code === 0) {
      Object.assign(state, DEFAULT_SGR);
    } else if (code === 1) {
      state.bold = true;
    } else if (code === 2) {
      state.dim = true;
    } else if (code === 3) {
      state.italic = true;
    } else if (code === 4) {
      state.underline = true;
    } else if (code === 7) {
      state.inverse = true;
    } else if (code === 9) {
      state.strike = true;
    } else if (code === 21 || code === 22) {
      state.bold = false;
      state.dim = false;
    } else if (code === 23) {
      state.italic = false;
    } else if (code === 24) {
      state.underline = false;
    } else if (code === 27) {
      state.inverse = false;
    } else if (code === 29) {
      state.strike = false;
    } else if (code >= 30 && code <= 37) {
      state.fg = code - 30;
    } else if (code === 39) {
      state.fg = null;
    } else if (code >= 40 && code <= 47) {
      state.bg = code - 40;
    } else if (code === 49) {
      state.bg = null;
    } else if (code >= 90 && code <= 97) {
      state.fg = code - 90 + 8;
    } else if (code >= 100 && code <= 107) {
      state.bg = code - 100 + 8;
    } else if (code === 38 || code === 48) {
      let color: number | string | null = null;
      if (codes[i + 1] === 5 && i + 2 < codes.length) {
        const index = codes[i + 2];
        color = index < 16 ? index : paletteColor(index);
        i += 2;
      } else if (codes[i + 1] === 2 && i + 4 < codes.length) {
        color = `rgb(${codes[i + 2]}, ${codes[i + 3]}, ${codes[i + 4]})`;
        i += 4;
      } else {
        i = codes.length; // malformed: ignore the rest
      }
      if (code === 38) {
        state.fg = color;
      } else {
        state.bg = color;
      }
    }
  }
}

/**
 * The state after a line (only SGR sequences change it).
 *
 * @param line - a log line
 * @param state - the state at its start (not modified)
 */
export function advanceSgr(line: string, state: ISgrState): ISgrState {
  const lastEsc = line.lastIndexOf(ESC);
  if (lastEsc < 0) {
    return state;
  }
  if (
    line.startsWith('\u001b[0m', lastEsc) ||
    line.startsWith('\u001b[m', lastEsc)
  ) {
    return DEFAULT_SGR; // the usual case: the last escape is a full reset
  }
  const next = { ...state };
  ESCAPE_RE.lastIndex = 0;
  let match: RegExpExecArray | null;
  while ((match = ESCAPE_RE.exec(line)) !== null) {
    if (match[2] === 'm') {
      applySgr(next, match[1]);
    }
  }
  return isDefaultSgr(next) ? DEFAULT_SGR : next;
}

/** A line without escape sequences, as a terminal would show its text. */
export function stripAnsi(line: string): string {
  const text = line.includes(ESC) ? line.replace(ESCAPE_RE, '') : line;
  return text.includes('\r') ? afterCarriageReturn(text) : text;
}

/** Append one styled run of text to a parent element. */
function appendRun(parent: HTMLElement, text: string, state: ISgrState): void {
  if (text === '') {
    return;
  }
  if (isDefaultSgr(state)) {
    parent.appendChild(document.createTextNode(text));
    return;
  }
  const span = document.createElement('span');
  span.textContent = text;
  let fg = state.fg;
  let bg = state.bg;
  if (state.bold && typeof fg === 'number' && fg < 8) {
    fg += 8; // bold shows the intense colour, as terminals do
  }
  const classes: string[] = [];
  if (state.inverse) {
    [fg, bg] = [bg, fg];
    if (fg === null) {
      classes.push('ansi-default-inverse-fg');
    }
    if (bg === null) {
      classes.push('ansi-default-inverse-bg');
    }
  }
  const paint = (color: number | string | null, kind: 'fg' | 'bg') => {
    if (typeof color === 'number') {
      const name = NAMES[color % 8] + (color >= 8 ? '-intense' : '');
      classes.push(`ansi-${name}-${kind}`);
    } else if (typeof color === 'string') {
      span.style.setProperty(
        kind === 'fg' ? 'color' : 'background-color',
        color
      );
    }
  };
  paint(fg, 'fg');
  paint(bg, 'bg');
  if (state.bold) {
    classes.push('ansi-bold');
  }
  if (state.underline) {
    classes.push('ansi-underline');
  }
  if (classes.length > 0) {
    span.className = classes.join(' ');
  }
  if (state.dim) {
    span.style.opacity = '0.7';
  }
  if (state.italic) {
    span.style.fontStyle = 'italic';
  }
  if (state.strike) {
    span.style.textDecoration = 'line-through';
  }
  parent.appendChild(span);
}

/**
 * Render a line with ANSI escapes into a parent element.
 *
 * @param line - the raw log line
 * @param start - the state at the line's start
 * @param parent - where the text and spans go
 */
export function renderAnsiLine(
  line: string,
  start: ISgrState,
  parent: HTMLElement
): void {
  let text = line.includes('\r') ? afterCarriageReturn(line) : line;
  if (!text.includes(ESC)) {
    appendRun(parent, text, start);
    return;
  }
  const state = { ...start };
  let last = 0;
  ESCAPE_RE.lastIndex = 0;
  let match: RegExpExecArray | null;
  while ((match = ESCAPE_RE.exec(text)) !== null) {
    appendRun(parent, text.slice(last, match.index), state);
    if (match[2] === 'm') {
      applySgr(state, match[1]);
    }
    last = ESCAPE_RE.lastIndex;
  }
  text = text.slice(last);
  appendRun(parent, text, state);
}
