import * as React from 'react';

// Shared formatters: creating one per call, as `toLocaleString` does, is slow
// in long lists.
const DATE_TIME = new Intl.DateTimeFormat(undefined, {
  dateStyle: 'medium',
  timeStyle: 'short'
});
const EXACT = new Intl.DateTimeFormat(undefined, {
  dateStyle: 'full',
  timeStyle: 'long'
});

/**
 * A date with its time of day, as the user's locale writes it ('' when the
 * time is missing or invalid).
 *
 * @param iso - an ISO time, or null
 * @param exact - the long form (weekday, seconds, time zone), for a tooltip
 */
export function formatDate(iso: string | null, exact = false): string {
  const time = iso ? Date.parse(iso) : NaN;
  if (Number.isNaN(time)) {
    return '';
  }
  return (exact ? EXACT : DATE_TIME).format(time);
}

/**
 * A `<time>` element: the date with its time of day, the exact time on hover.
 */
export function DateTime(props: { iso: string | null }): JSX.Element | null {
  const text = formatDate(props.iso);
  if (!text) {
    return null;
  }
  return (
    <time dateTime={props.iso!} title={formatDate(props.iso, true)}>
      {text}
    </time>
  );
}
