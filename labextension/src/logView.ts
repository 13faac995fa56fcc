import { Clipboard, MainAreaWidget, Notification } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import {
  APIError,
  cancelBuild,
  getBuild,
  IJob,
  IJobEvent,
  isFinished,
  TERMINAL_PHASES
} from './api';
import { stripAnsi } from './ansi';
import { containerIcon } from './icons';
import { formatSize } from './images';
import { LogLines } from './logLines';
import { followEvents } from './sse';

const ERROR_PATTERN = /(^|\b)(error|failed|fatal)\b/i;
const PHASES = [
  'waiting',
  'fetching',
  'building',
  'built',
  'pushing',
  'launching',
  'ready'
];

/**
 * What the phase bar shows of an event's progress: the step, or the bytes
 * moved of a transfer ("1.2 MB / 4.0 MB"). A finished transfer shows
 * nothing: nothing is left in flight.
 *
 * @param progress - the event's progress
 * @param trans - translation bundle
 */
export function progressText(
  progress: NonNullable<IJobEvent['progress']>,
  trans: TranslationBundle
): string {
  const { kind, current, total } = progress;
  if (kind === 'step') {
    return trans.__('step %1/%2', current, total);
  }
  // Bytes (and the "layer" records of older servers, also bytes).
  if (total === undefined) {
    return formatSize(current);
  }
  if (current >= total) {
    return '';
  }
  return trans.__('%1 / %2', formatSize(current), formatSize(total));
}

/**
 * The body of a job's log tab: a phase bar, a toolbar and the log (ANSI
 * colours, virtualized: smooth with 100,000 lines and more).
 */
export class JobLogContent extends Widget {
  /**
   * Create the log view of a job.
   *
   * @param jobId - the job to follow
   * @param trans - translation bundle
   */
  constructor(
    readonly jobId: string,
    private _trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-r2d-LogView');
    this.node.dataset.job = jobId;
    this._bar = document.createElement('div');
    this._bar.className = 'jp-r2d-phasebar';
    this._bar.setAttribute('role', 'status');
    this._bar.setAttribute('aria-live', 'polite');
    this._tools = document.createElement('div');
    this._tools.className = 'jp-r2d-logtools';
    this._log = new LogLines(this._trans.__('Build log of job %1', jobId));
    this.node.append(this._bar, this._tools, this._log.node);
    this._phaseEl = this._span('jp-r2d-phase', '');
    this._progressEl = this._span('jp-r2d-progress', '');
    this._elapsedEl = this._span('jp-r2d-elapsed', '');
    this._steps = document.createElement('ol');
    this._steps.className = 'jp-r2d-steps';
    for (const phase of PHASES) {
      const li = document.createElement('li');
      li.dataset.phase = phase;
      li.textContent = this._phaseLabel(phase);
      this._steps.append(li);
    }
    this._bar.append(
      this._steps,
      this._phaseEl,
      this._progressEl,
      this._elapsedEl
    );
    this._cancelBtn = this._button(this._trans.__('Cancel'), 'cancel', () =>
      this.cancel()
    );
    this._button(this._trans.__('Copy log'), 'copy', () => this.copy());
    this._button(this._trans.__('Download log'), 'download', () =>
      this.download()
    );
    this._errorBtn = this._button(
      this._trans.__('Jump to first error'),
      'jump-error',
      () => this.jumpToError()
    );
    this._errorBtn.disabled = true;
    this._urlBtn = this._button(this._trans.__('Open URL'), 'open-url', () => {
      if (this._url) {
        window.open(this._url, '_blank', 'noopener');
      }
    });
    this._urlBtn.hidden = true;
  }

  /** All log lines received so far (raw, with escape sequences). */
  get lines(): readonly string[] {
    return this._log.lines;
  }

  /** The latest phase. */
  get phase(): string {
    return this._phase;
  }

  /** The URL of the running container, once ready. */
  get url(): string | null {
    return this._url;
  }

  /** Start (or resume) following the job. */
  async start(): Promise<void> {
    if (this._abort) {
      return;
    }
    this._abort = new AbortController();
    // The record (for intents and times) and the stream, side by side.
    const record = getBuild(this.jobId).then(
      job => {
        this._job = job;
        this._scheduleRender();
      },
      error => {
        // A tab restored after its job was forgotten (or the history
        // pruned): say so rather than show an empty log.
        if (error instanceof APIError && error.status === 404) {
          this._showUnknown();
        } // otherwise the stream tells the rest
      }
    );
    this._timer = window.setInterval(() => this._renderElapsed(), 1000);
    await followEvents({
      jobId: this.jobId,
      after: this._seq,
      signal: this._abort.signal,
      onEvents: events => this._onEvents(events)
    });
    await record;
    window.clearInterval(this._timer);
    this._renderElapsed();
  }

  /** Cancel the job. */
  async cancel(): Promise<void> {
    try {
      await cancelBuild(this.jobId);
    } catch (error) {
      Notification.error(String((error as Error).message ?? error), {
        autoClose: 5000
      });
    }
  }

  /** The whole log as plain text (escape sequences removed). */
  text(): string {
    return this._log.lines.map(stripAnsi).join('\n');
  }

  /** Copy the whole log to the clipboard. */
  copy(): void {
    Clipboard.copyToSystem(this.text());
  }

  /** Download the log as a text file. */
  download(): void {
    const blob = new Blob([this.text() + '\n'], {
      type: 'text/plain'
    });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `r2d-${this.jobId}.log`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }

  /** Scroll to the first line that looks like an error, and mark it. */
  jumpToError(): void {
    if (this._firstError >= 0) {
      this._log.scrollToLine(this._firstError);
      this._log.node.focus();
    }
  }

  protected onAfterAttach(): void {
    this._log.refresh();
    void this.start();
  }

  protected onResize(): void {
    this._log.refresh();
  }

  protected onAfterShow(): void {
    this._log.refresh();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._abort?.abort();
    window.clearInterval(this._timer);
    cancelAnimationFrame(this._frame);
    this._log.dispose();
    super.dispose();
  }

  private _onEvents(events: IJobEvent[]): void {
    const lines: string[] = [];
    let count = this._log.lines.length;
    const notices: number[] = [];
    for (const event of events) {
      this._seq = event.seq;
      if (event.phase !== this._phase) {
        this._progress = ''; // a phase's progress ends with it
      }
      this._phase = event.phase;
      this._reached = Math.max(this._reached, PHASES.indexOf(event.phase));
      if (event.progress) {
        this._progress = progressText(event.progress, this._trans);
      }
      const message = String(event.message ?? '');
      const split = message.indexOf('\n') < 0 ? [message] : message.split('\n');
      for (const line of split) {
        if (event.notice) {
          notices.push(lines.length);
        } else if (
          this._firstError < 0 &&
          (event.phase === 'failed' || ERROR_PATTERN.test(line))
        ) {
          this._firstError = count;
        }
        lines.push(line);
        count++;
      }
      if (event.phase === 'ready' && event.url) {
        this._url = String(event.url);
      }
      if (TERMINAL_PHASES.includes(event.phase)) {
        this._terminalEvent = event;
        if (!this._finishedAt) {
          this._finishedAt = Date.parse(event.time) || Date.now();
        }
      }
    }
    // The log paints once per animation frame, whatever the batch size.
    this._log.append(lines, notices);
    if (this._terminalEvent) {
      this._render(); // the final state at once
    } else {
      this._scheduleRender();
    }
    if (this._terminalEvent && !this._announced) {
      this._announced = true;
      this._onFinished(this._terminalEvent);
    }
  }

  /** Replace the view with a notice that the server forgot the job. */
  private _showUnknown(): void {
    const trans = this._trans;
    const notice = document.createElement('div');
    notice.className = 'jp-r2d-banner jp-r2d-log-unknown';
    notice.setAttribute('role', 'alert');
    const text = document.createElement('p');
    text.textContent = trans.__(
      'This job is no longer known to the server: it was forgotten or dropped from the history, and its log with it.'
    );
    const close = document.createElement('button');
    close.className = 'jp-Button jp-mod-styled jp-mod-accept';
    close.textContent = trans.__('Close this tab');
    close.addEventListener('click', () => (this.parent ?? this).close());
    notice.append(text, close);
    this._bar.hidden = true;
    this._tools.hidden = true;
    this._log.node.hidden = true;
    this.node.prepend(notice);
  }

  private _onFinished(event: IJobEvent): void {
    this._finishedCallbacks.forEach(cb => cb(event));
  }

  /** Register a callback for the job's terminal event. */
  onFinished(callback: (event: IJobEvent) => void): void {
    this._finishedCallbacks.push(callback);
  }

  private _scheduleRender(): void {
    if (!this._frame) {
      this._frame = requestAnimationFrame(() => {
        this._frame = 0;
        this._render();
      });
    }
  }

  private _render(): void {
    const phase = this._phase || this._job?.phase || 'waiting';
    this.node.dataset.phase = phase;
    this._phaseEl.textContent = this._phaseLabel(phase);
    this._progressEl.textContent = this._progress;
    let idx = PHASES.indexOf(phase);
    // failed/cancelled: the step it stopped in is marked, those before done.
    const stopped = idx < 0 && phase !== 'waiting';
    if (stopped) {
      idx = this._reached;
    }
    const job = this._job;
    this._steps.querySelectorAll('li').forEach((li, i) => {
      // Only the phases this job goes through.
      const step = li.dataset.phase;
      li.hidden =
        !!job &&
        ((step === 'pushing' && !job.push) ||
          (step === 'launching' && !job.run) ||
          (!job.source &&
            (step === 'fetching' || step === 'building' || step === 'built')));
      li.classList.toggle('jp-mod-done', idx >= 0 && i < idx);
      li.classList.toggle('jp-mod-current', !stopped && i === idx);
      li.classList.toggle('jp-mod-stopped', stopped && i === idx);
    });
    const finished =
      !!this._terminalEvent ||
      (this._job ? isFinished(this._job.status) : false);
    this._cancelBtn.disabled = finished;
    this._errorBtn.disabled = this._firstError < 0;
    this._urlBtn.hidden = !this._url;
    this._renderElapsed();
  }

  private _renderElapsed(): void {
    const start = this._job?.started || this._job?.created;
    if (!start) {
      return;
    }
    const end =
      this._finishedAt ||
      (this._job?.finished ? Date.parse(this._job.finished) : Date.now());
    const seconds = Math.max(0, Math.round((end - Date.parse(start)) / 1000));
    const m = Math.floor(seconds / 60);
    const s = seconds % 60;
    this._elapsedEl.textContent = `${m}:${String(s).padStart(2, '0')}`;
  }

  /** The translated name of a phase. */
  private _phaseLabel(phase: string): string {
    const trans = this._trans;
    const labels: { [phase: string]: string } = {
      waiting: trans.__('waiting'),
      fetching: trans.__('fetching'),
      building: trans.__('building'),
      built: trans.__('built'),
      pushing: trans.__('pushing'),
      launching: trans.__('launching'),
      ready: trans.__('ready'),
      failed: trans.__('failed'),
      cancelled: trans.__('cancelled')
    };
    return labels[phase] ?? phase;
  }

  private _span(className: string, text: string): HTMLSpanElement {
    const span = document.createElement('span');
    span.className = className;
    span.textContent = text;
    return span;
  }

  private _button(
    label: string,
    action: string,
    onClick: () => void
  ): HTMLButtonElement {
    const button = document.createElement('button');
    button.className = 'jp-Button jp-mod-styled jp-mod-reject';
    button.textContent = label;
    button.dataset.action = action;
    button.setAttribute('aria-label', label);
    button.addEventListener('click', onClick);
    this._tools.append(button);
    return button;
  }

  private _bar: HTMLDivElement;
  private _tools: HTMLDivElement;
  private _log: LogLines;
  private _frame = 0;
  private _steps: HTMLOListElement;
  private _phaseEl: HTMLSpanElement;
  private _progressEl: HTMLSpanElement;
  private _elapsedEl: HTMLSpanElement;
  private _cancelBtn: HTMLButtonElement;
  private _errorBtn: HTMLButtonElement;
  private _urlBtn: HTMLButtonElement;
  private _abort: AbortController | null = null;
  private _timer = 0;
  private _job: IJob | null = null;
  private _seq = 0;
  private _phase = '';
  private _progress = '';
  private _firstError = -1;
  private _reached = -1;
  private _url: string | null = null;
  private _terminalEvent: IJobEvent | null = null;
  private _finishedAt = 0;
  private _announced = false;
  private _finishedCallbacks: ((event: IJobEvent) => void)[] = [];
}

/**
 * A main-area tab with a job's log.
 */
export class JobLogWidget extends MainAreaWidget<JobLogContent> {
  /**
   * Create the tab.
   *
   * @param jobId - the job
   * @param trans - translation bundle
   * @param label - tab label (image name)
   */
  constructor(jobId: string, trans: TranslationBundle, label?: string) {
    super({ content: new JobLogContent(jobId, trans) });
    this.id = `jupyter-r2d-log-${jobId}`;
    this.title.icon = containerIcon;
    this.title.label = label
      ? trans.__('Build: %1', label)
      : trans.__('Build %1', jobId);
    this.title.caption = trans.__('Build log of job %1', jobId);
    this.title.closable = true;
    this.addClass('jp-r2d-LogWidget');
  }
}
