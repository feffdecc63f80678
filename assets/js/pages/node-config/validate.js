// Client-side checks before anything is sent: a JSON Schema subset (the one drivers publish in
// GET /device-types, product.md §6) plus the rules the schema cannot express — ids, socket
// addresses, ports, URL schemes, RIST's even ports. Problems are [{path, message}] with JSON
// pointer paths relative to the entity ("/local_addr"), the same shape the server's 422 uses.

export const ID_RE = /^[A-Za-z0-9._-]{1,64}$/;
export const SECRET = '{{secret}}';

const typeOf = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v);

function typeMatches(value, type) {
  const t = typeOf(value);
  if (type === 'number') return t === 'number' || t === 'integer';
  return t === type;
}

/** Validate `value` against `schema`; returns problems [{path, message}]. */
export function validateSchema(value, schema, path = '') {
  const out = [];
  if (!schema || typeof schema !== 'object') return out;
  const msg = (m) => out.push({ path, message: schema['x-message'] || m });
  if ('const' in schema && value !== schema.const) msg(`must be ${JSON.stringify(schema.const)}`);
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) msg(`must be one of ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}`);
  if (schema.type && !typeMatches(value, schema.type)) {
    msg(`must be ${schema.type === 'integer' ? 'a whole number' : `of type ${schema.type}`}`);
    return out;
  }
  if (typeof value === 'string') {
    if (Number.isFinite(schema.minLength) && [...value].length < schema.minLength) {
      msg(schema.minLength === 1 ? 'is required' : `must be at least ${schema.minLength} characters`);
    }
    if (Number.isFinite(schema.maxLength) && [...value].length > schema.maxLength) msg(`must be at most ${schema.maxLength} characters`);
    if (schema.pattern) {
      try {
        if (!new RegExp(schema.pattern, 'u').test(value)) msg(`has the wrong format (${schema.pattern})`);
      } catch {
        // A pattern this browser cannot compile is left to the server.
      }
    }
  }
  if (typeof value === 'number') {
    if (Number.isFinite(schema.minimum) && value < schema.minimum) msg(`must be at least ${schema.minimum}`);
    if (Number.isFinite(schema.maximum) && value > schema.maximum) msg(`must be at most ${schema.maximum}`);
    if (Number.isFinite(schema.exclusiveMinimum) && value <= schema.exclusiveMinimum) msg(`must be more than ${schema.exclusiveMinimum}`);
    if (Number.isFinite(schema.exclusiveMaximum) && value >= schema.exclusiveMaximum) msg(`must be less than ${schema.exclusiveMaximum}`);
  }
  if (Array.isArray(value)) {
    if (Number.isFinite(schema.minItems) && value.length < schema.minItems) msg(`needs at least ${schema.minItems} entries`);
    if (Number.isFinite(schema.maxItems) && value.length > schema.maxItems) msg(`takes at most ${schema.maxItems} entries`);
    if (schema.items) value.forEach((item, i) => out.push(...validateSchema(item, schema.items, `${path}/${i}`)));
  }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const props = schema.properties || {};
    for (const key of schema.required || []) {
      if (value[key] === undefined) out.push({ path: `${path}/${key}`, message: 'is required' });
    }
    for (const [key, v] of Object.entries(value)) {
      if (props[key]) out.push(...validateSchema(v, props[key], `${path}/${key}`));
      else if (schema.additionalProperties === false) out.push({ path: `${path}/${key}`, message: 'is not a known field' });
      else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
        out.push(...validateSchema(v, schema.additionalProperties, `${path}/${key}`));
      }
    }
    if (Array.isArray(schema.oneOf)) {
      const variant = pickVariant(schema.oneOf, value);
      if (variant) out.push(...validateSchema(value, variant, path));
    }
  }
  return dedupe(out);
}

/** The oneOf branch whose `type` const matches the object's type field. */
export function pickVariant(oneOf, value) {
  return (oneOf || []).find((v) => v?.properties?.type && 'const' in v.properties.type && v.properties.type.const === value?.type) || null;
}

/** Merge an entity schema's shared part with the branch for one type. */
export function entitySchemaFor(schema, type) {
  if (!schema) return null;
  const variant = pickVariant(schema.oneOf, { type }) || {};
  return {
    type: 'object',
    properties: { ...(schema.properties || {}), ...(variant.properties || {}) },
    required: [...new Set([...(schema.required || []), ...(variant.required || [])])],
  };
}

function dedupe(list) {
  const seen = new Set();
  return list.filter((p) => {
    const key = `${p.path}|${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------
// Rules beyond the schema.

/** "host:port" with a port 1–65535; IPv6 in brackets. Returns an error message or null. */
export function checkSocketAddress(value, { even = false, allowZero = false } = {}) {
  if (typeof value !== 'string' || value === '') return null;
  const m = value.match(/^(\[[0-9A-Fa-f:.]+\]|[^\s:/[\]]+):(\d{1,5})$/);
  if (!m) return 'must be host:port, for example 0.0.0.0:9000';
  const port = Number(m[2]);
  if (port > 65535 || (port < 1 && !allowZero)) return 'port must be 1–65535';
  if (even && port % 2 !== 0) return 'RIST needs an even port (RTCP uses port + 1)';
  return null;
}

/** An IP address (v4 dotted quad or v6). */
export function checkIp(value) {
  if (typeof value !== 'string' || value === '') return null;
  if (/^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/.test(value)) return null;
  if (/^[0-9A-Fa-f:.]+$/.test(value) && value.includes(':')) return null;
  return 'must be an IP address';
}

/** URL with one of the schemes. */
export function checkUrl(value, schemes) {
  if (typeof value !== 'string' || value === '') return null;
  const ok = schemes.some((s) => value.toLowerCase().startsWith(`${s}://`) && value.length > s.length + 3);
  return ok ? null : `must be a ${schemes.map((s) => `${s}://`).join(' or ')} URL`;
}

export function checkId(value) {
  if (typeof value !== 'string' || value === '') return 'is required';
  return ID_RE.test(value) ? null : 'must be 1–64 characters of A–Z, a–z, 0–9, ".", "_" or "-"';
}

/** Turn a server 422 field path into an entity-relative path: "/input/local_addr" → "/local_addr". */
export function relativePath(path, bodyKey) {
  if (typeof path !== 'string') return '';
  const prefix = `/${bodyKey}`;
  return path.startsWith(`${prefix}/`) ? path.slice(prefix.length) : path === prefix ? '' : path;
}

/** Slug for ids: "Main Program 2" → "main-program-2". */
export function slugify(text) {
  return String(text || '').toLowerCase().normalize('NFKD').replace(/[\u0300-\u036f]/g, '')
    .replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64);
}
