// A record (an identify answer, a profile, an OGC feature) as a card of tabs: the record's own
// fields first, then one tab per linked section. Words and formats come from the host (the viewer's
// i18n: the layer registry, the profiles' labels and the vocabularies), never raw keys.

// Keys that say nothing to a reader (the geometry is on the map; links are for machines).
const HIDDEN = new Set(['geometry', 'links', 'footprint', 'location']);
const isScalar = (v) => v === null || typeof v !== 'object';

/** The scalar fields of an object as {key, label, value} (labels and values formatted). */
function fieldsOf(object, words) {
  return Object.entries(object)
    .filter(([k, v]) => v !== undefined && !HIDDEN.has(k) && isScalar(v))
    .map(([key, v]) => ({ key, label: words.fieldLabel(key), value: String(words.formatValue(key, v)) }));
}

/** Columns and rows of a list of records: raw values (for sorting) and their formatted text. */
export function tableOf(records, words) {
  const keys = [...new Set(records.flatMap((r) => Object.keys(r).filter((k) => !HIDDEN.has(k) && isScalar(r[k]))))];
  return {
    columns: keys.map((key) => ({ key, label: words.fieldLabel(key) })),
    rows: records.map((r) => Object.fromEntries(keys.map((k) => [k, r[k] ?? null]))),
  };
}

/** A nested value as a block: {fields, table, list, groups: [{key, label, block}]}. */
export function blockOf(value, words) {
  if (isScalar(value)) return { list: [String(words.formatValue('', value))] };
  if (Array.isArray(value)) {
    if (value.length === 0) return { empty: true };
    if (value.every(isScalar)) return { list: value.map((v) => String(words.formatValue('', v))) };
    const records = value.filter((v) => !isScalar(v) && !Array.isArray(v));
    return { table: tableOf(records.map((r) => (r.type === 'Feature' ? r.properties : r)), words) };
  }
  if (value.type === 'Feature' && value.properties) return blockOf(value.properties, words);
  const nested = Object.entries(value).filter(([k, v]) => v !== undefined && !HIDDEN.has(k) && !isScalar(v));
  return {
    fields: fieldsOf(value, words),
    groups: nested.map(([key, v]) => ({ key, label: words.fieldLabel(key), block: blockOf(v, words) })),
  };
}

/** The card of an answer: tabs [{name, label, count, block}], the record's own fields first. */
export function cardOf(answer, words) {
  const value = answer?.type === 'Feature' ? answer.properties : answer;
  if (!value || isScalar(value) || Array.isArray(value)) return { tabs: [{ name: 'record', label: words.t('record_tab'), block: blockOf(value ?? [], words) }] };
  // an identify answer: the feature's properties, then what is linked to it; a profile: its
  // record, then its sections; anything else: its own fields, then its nested values
  const identified = value.feature?.type === 'Feature';
  const own = identified ? value.feature.properties : value.record && !isScalar(value.record) ? value.record : value;
  const skip = new Set(identified ? ['feature', 'layer', 'id'] : ['record']);
  const sections = Object.entries(value).filter(([k, v]) => !skip.has(k) && v !== undefined && v !== null && !HIDDEN.has(k) && !isScalar(v));
  const tabs = [];
  const fields = fieldsOf(own, words);
  if (fields.length || !sections.length) tabs.push({ name: 'record', label: words.t('record_tab'), block: { fields, groups: [] } });
  for (const [key, v] of sections) {
    tabs.push({ name: key, label: words.fieldLabel(key), count: Array.isArray(v) ? v.length : undefined, block: blockOf(v, words) });
  }
  return { tabs };
}
