// Timezone selector shared by the events and audit pages (product.md §4.1): browser time, UTC or
// any IANA zone, remembered in the `events_timezone` preference. Also converts the From/To
// <input type="datetime-local"> wall times of the chosen zone to UTC instants and back.

import { h } from '../dom.js';
import { browserTimeZone } from '../format.js';

const PREF_KEY = 'events_timezone';
const COMMON_ZONES = ['UTC', 'Europe/London', 'Europe/Berlin', 'America/New_York', 'America/Los_Angeles', 'Asia/Tokyo',
  'Asia/Singapore', 'Australia/Sydney', 'Australia/Perth', 'Pacific/Auckland'];

/** Every IANA zone the browser knows (falls back to a short list). */
function allZones() {
  try {
    if (typeof Intl.supportedValuesOf === 'function') return Intl.supportedValuesOf('timeZone');
  } catch {
    // Older engines: fall through.
  }
  return COMMON_ZONES;
}

function validZone(name) {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** The stored preference: "browser" (default) or an IANA name. */
export async function loadTimezonePref(api) {
  try {
    const body = await api.get(`/api/v1/preferences/${PREF_KEY}`);
    const value = body?.value;
    if (value === 'browser' || (typeof value === 'string' && validZone(value))) return value;
  } catch {
    // 404 when never set: the browser's zone.
  }
  return 'browser';
}

export function saveTimezonePref(api, value) {
  return api.put(`/api/v1/preferences/${PREF_KEY}`, { value }).catch(() => {});
}

/** The Intl timeZone option for a preference value (undefined = the browser's zone). */
export function zoneOf(pref) {
  return !pref || pref === 'browser' ? undefined : pref;
}

/** "GMT+10, Australia/Sydney" for a column header. */
export function zoneLabel(pref) {
  const zone = zoneOf(pref) || browserTimeZone();
  let offset = '';
  try {
    const parts = new Intl.DateTimeFormat('en-GB', { timeZone: zone, timeZoneName: 'shortOffset' }).formatToParts(new Date());
    offset = parts.find((p) => p.type === 'timeZoneName')?.value || '';
  } catch {
    offset = '';
  }
  return offset && offset !== zone ? `${offset}, ${zone}` : zone;
}

/**
 * timezoneSelect({value, onChange}) → <select> with "Auto (browser: X)", UTC and every IANA zone.
 */
export function timezoneSelect({ value = 'browser', onChange, id = null }) {
  const select = h('select', { class: 'input w-auto max-w-64 py-1.5', 'aria-label': 'Time zone', id });
  select.append(h('option', { value: 'browser' }, `Auto (browser: ${browserTimeZone()})`));
  select.append(h('option', { value: 'UTC' }, 'UTC'));
  const group = h('optgroup', { label: 'Time zones' });
  for (const zone of allZones()) {
    if (zone !== 'UTC') group.append(h('option', { value: zone }, zone));
  }
  select.append(group);
  if (value !== 'browser' && ![...select.options].some((o) => o.value === value)) {
    select.append(h('option', { value }, value));
  }
  select.value = value;
  select.addEventListener('change', () => onChange?.(select.value));
  return select;
}

/** Milliseconds that `zone` is ahead of UTC at instant `ms`. */
function zoneOffsetMs(ms, zone) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(new Date(ms));
  const p = Object.fromEntries(parts.map((x) => [x.type, Number(x.value)]));
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour % 24, p.minute, p.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/** "2026-05-18T10:30" as wall time in the preference's zone → RFC 3339 UTC; null when empty/invalid. */
export function wallTimeToIso(value, pref) {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value || '');
  if (!match) return null;
  const [, y, mo, d, hh, mm, ss] = match.map(Number);
  const guess = Date.UTC(y, mo - 1, d, hh, mm, ss || 0);
  const zone = zoneOf(pref);
  if (!zone) {
    const local = new Date(y, mo - 1, d, hh, mm, ss || 0);
    return Number.isNaN(local.getTime()) ? null : local.toISOString();
  }
  try {
    let ms = guess - zoneOffsetMs(guess, zone);
    ms = guess - zoneOffsetMs(ms, zone); // second pass settles DST edges
    return new Date(ms).toISOString();
  } catch {
    return null;
  }
}

/** RFC 3339 instant → "YYYY-MM-DDTHH:MM" wall time in the preference's zone (for the inputs). */
export function isoToWallTime(iso, pref) {
  const date = iso ? new Date(iso) : null;
  if (!date || Number.isNaN(date.getTime())) return '';
  const zone = zoneOf(pref);
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
  }).formatToParts(date);
  const p = Object.fromEntries(parts.map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day}T${p.hour === '24' ? '00' : p.hour}:${p.minute}`;
}
