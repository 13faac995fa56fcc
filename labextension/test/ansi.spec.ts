/**
 * @jest-environment jsdom
 */
import {
  advanceSgr,
  DEFAULT_SGR,
  renderAnsiLine,
  stripAnsi
} from '../src/ansi';

describe('stripAnsi', () => {
  it('drops escape sequences and keeps the text', () => {
    expect(stripAnsi('\u001b[1;31merror\u001b[0m: no such file')).toBe(
      'error: no such file'
    );
  });

  it('shows what a terminal shows after a carriage return', () => {
    expect(stripAnsi('10%\r50%\r100%')).toBe('100%');
  });
});

describe('advanceSgr', () => {
  it('returns the default state after a final reset', () => {
    expect(advanceSgr('\u001b[32mgreen\u001b[0m', DEFAULT_SGR)).toBe(
      DEFAULT_SGR
    );
  });

  it('carries a colour left open over the line end', () => {
    const state = advanceSgr('\u001b[1;34mstill blue', DEFAULT_SGR);
    expect(state.fg).toBe(4);
    expect(state.bold).toBe(true);
  });
});

describe('renderAnsiLine', () => {
  it('paints colours with JupyterLab ansi classes, intense when bold', () => {
    const parent = document.createElement('pre');
    renderAnsiLine('plain \u001b[1;31mred\u001b[0m end', DEFAULT_SGR, parent);
    expect(parent.textContent).toBe('plain red end');
    const span = parent.querySelector('span');
    expect(span?.textContent).toBe('red');
    expect(span?.className).toContain('ansi-red-intense-fg');
    expect(span?.className).toContain('ansi-bold');
  });

  it('renders true colour as an inline style', () => {
    const parent = document.createElement('pre');
    renderAnsiLine('\u001b[38;2;10;20;30mrgb\u001b[0m', DEFAULT_SGR, parent);
    expect(parent.querySelector('span')?.style.color).toBe('rgb(10, 20, 30)');
  });
});
