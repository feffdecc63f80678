// Number, duration and time formatting shared by every page (product.md §4.1).

const UNKNOWN = '--';
const BIT_UNITS = ['bps', 'kbps', 'Mbps', 'Gbps', 'Tbps'];

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

/** Bits per second, two decimals, adaptive unit: 4.38 Mbps, 812.50 kbps, 1.20 Gbps; -- when unknown. */
export function formatBitrate(bps) {
  if (!isNum(bps) || bps < 0) return UNKNOWN;
  let value = bps;
  let unit = 0;
  // Step up while the *rounded* value would reach 1000, so 999 999 bps is "1.00 Mbps", not "1000.00 kbps".
  while (unit < BIT_UNITS.length - 1 && Math.round(value * 100) / 100 >= 1000) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(2)} ${BIT_UNITS[unit]}`;
}

/** Compact duration from seconds: 45s, 3m, 2h 14m, 5d 3h; -- when unknown. */
export function formatDuration(seconds) {
  if (!isNum(seconds) || seconds < 0) return UNKNOWN;
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const hours = Math.floor(m / 60);
  if (hours < 24) return m % 60 ? `${hours}h ${m % 60}m` : `${hours}h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days}d ${hours % 24}h` : `${days}d`;
}

/** Parse an RFC 3339 string, epoch milliseconds or Date; null when missing or invalid. */
export function parseTime(value) {
  if (value === null || value === undefined || value === '') return null;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** Relative time: "just now", "36s ago", "4m ago", "2h 14m ago", "5d ago"; "in 5m" for the future. */
export function formatRelative(value, now = Date.now()) {
  const date = parseTime(value);
  if (!date) return UNKNOWN;
  const diff = Math.round((now - date.getTime()) / 1000);
  const abs = Math.abs(diff);
  if (abs < 2) return 'just now';
  let text;
  if (abs < 60) text = `${abs}s`;
  else if (abs < 3600) text = `${Math.floor(abs / 60)}m`;
  else if (abs < 86400) text = formatDuration(abs);
  else text = `${Math.floor(abs / 86400)}d`;
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

/**
 * Absolute time for tooltips and tables: "2026-05-18 00:36:15 UTC".
 * timeZone: undefined for the browser's zone, "UTC", or an IANA name.
 */
export function formatAbsolute(value, timeZone) {
  const date = parseTime(value);
  if (!date) return UNKNOWN;
  let parts;
  try {
    parts = new Intl.DateTimeFormat('en-GB', {
      timeZone, year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZoneName: 'short',
    }).formatToParts(date);
  } catch {
    return date.toISOString();
  }
  const p = Object.fromEntries(parts.map((part) => [part.type, part.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} ${p.timeZoneName || ''}`.trim();
}

/** The browser's IANA time zone, e.g. "Australia/Sydney". */
export function browserTimeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

/** Percentage with no decimals: "20%"; -- when unknown. */
export function formatPercent(value) {
  return isNum(value) ? `${Math.round(value)}%` : UNKNOWN;
}

/** Whole numbers with thousands separators; -- when unknown. */
export function formatCount(value) {
  return isNum(value) ? Math.round(value).toLocaleString('en-US') : UNKNOWN;
}

/** Badge count capped at 99+. */
export function formatBadgeCount(value) {
  if (!isNum(value) || value <= 0) return '';
  return value > 99 ? '99+' : String(Math.floor(value));
}

/** First 8 characters of a UUID: "95dcbe6e". */
export function shortId(id) {
  return typeof id === 'string' ? id.slice(0, 8) : '';
}

/** Initials for the avatar: "Field Engineer" → "FE", "fieldeng" → "FI". */
export function initials(name) {
  const words = String(name || '').trim().split(/[\s._-]+/).filter(Boolean);
  if (words.length === 0) return '?';
  if (words.length === 1) return words[0].slice(0, 2).toUpperCase();
  return (words[0][0] + words[words.length - 1][0]).toUpperCase();
}

const ROLE_LABELS = { viewer: 'Viewer', operator: 'Operator', admin: 'Admin', super_admin: 'Super admin' };

/** "super_admin" → "Super admin". */
export function roleLabel(role) {
  return ROLE_LABELS[role] || String(role || '');
}

/** Pluralise: plural(3, 'node') → "3 nodes". */
export function plural(count, word, pluralWord = `${word}s`) {
  return `${formatCount(count)} ${count === 1 ? word : pluralWord}`;
}
