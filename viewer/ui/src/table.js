// Rows for the attribute table: a registry layer read page by page from OGC API Features (sorted
// with `sortby`, filtered by property equality on the server), or a result set in memory (sorted and
// filtered here alike). CSV is written here; XLSX comes from the server's export jobs.

const compare = (a, b) => {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1; // empty values last, either way
  if (b === null || b === undefined) return -1;
  return typeof a === 'number' && typeof b === 'number' ? a - b : String(a).localeCompare(String(b), 'zh-CN');
};

/** The filter when it names a column and a value, else null. */
export const activeFilter = (filter) => (filter?.key && filter.value !== '' && filter.value != null ? filter : null);

/** Sort and filter records in memory: {sort: {key, order: 'ascending'|'descending'}, filter: {key, value}}. */
export function arrange(records, { sort, filter } = {}) {
  let rows = records;
  if (activeFilter(filter)) rows = rows.filter((r) => String(r[filter.key] ?? '') === String(filter.value));
  if (sort?.key && sort.order) {
    const sign = sort.order === 'descending' ? -1 : 1;
    rows = [...rows].sort((a, b) => {
      const c = compare(a[sort.key], b[sort.key]);
      const empty = a[sort.key] == null || b[sort.key] == null;
      return empty ? c : sign * c;
    });
  }
  return rows;
}

/** The OGC API Features query of a table's state: sortby (ties broken by the id), the filter, a page. */
export function layerQuery(idKey, { sort, filter } = {}, page = {}) {
  const params = { ...page };
  if (sort?.key && sort.order) params.sortby = `${sort.order === 'descending' ? '-' : '+'}${sort.key},+${idKey}`;
  else params.sortby = `+${idKey}`;
  if (activeFilter(filter)) params[filter.key] = filter.value;
  return params;
}

/** A feature's row: its properties with the id under the layer's id property. */
export const rowOf = (idKey) => (f) => ({ [idKey]: f.id, ...f.properties });

const cell = (v) => {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** CSV text (UTF-8 with a byte-order mark, as Excel opens it): a header of labels, then the rows. */
export function csvText(columns, rows, valueOf) {
  const lines = [columns.map((c) => cell(c.label)).join(',')];
  for (const r of rows) lines.push(columns.map((c) => cell(valueOf(c.key, r[c.key]))).join(','));
  return `\ufeff${lines.join('\r\n')}\r\n`;
}

/** Offer a blob as a download named ``name``. */
export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
