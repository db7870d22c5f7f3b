// The viewer's UI kit: Vue 3 + Element Plus (zh-CN locale, English on the page's #lang switch)
// mounted into the page the CesiumJS scene already draws. main.js imports this bundle after the first
// full view and hands it the host: the viewer's api, words (i18n), layers and scene.
import { createApp, h, ref, shallowRef } from 'vue';
import { ElConfigProvider, ElDialog } from 'element-plus';
import en from 'element-plus/es/locale/lang/en.mjs';
import zhCn from 'element-plus/es/locale/lang/zh-cn.mjs';
import 'element-plus/es/components/config-provider/style/css';
import 'element-plus/es/components/dialog/style/css';
import 'element-plus/theme-chalk/dark/css-vars.css';
import AttributeTable from './AttributeTable.vue';
import ModelTree from './ModelTree.vue';
import RecordCard from './RecordCard.vue';
import { lang } from './state.js';
import './kit.css';

const mounted = new WeakMap(); // element -> its app

/** Mount a component into an element (replacing its content and what the kit mounted there) inside
 * the locale provider. The app gets a container of its own: the page may empty ``el`` meanwhile. */
function mountIn(el, component, props) {
  mounted.get(el)?.unmount();
  const container = document.createElement('div');
  el.replaceChildren(container);
  const inner = shallowRef(null);
  const app = createApp({ render: () => h(ElConfigProvider, { locale: lang.value === 'zh' ? zhCn : en }, () => h(component, { ...props, ref: inner })) });
  app.mount(container);
  mounted.set(el, app);
  return inner.value; // the component's exposed API
}

/** The kit, bound to the host page. */
export function mountKit(host) {
  lang.value = host.words.language();
  document.documentElement.classList.add('dark'); // Element Plus's dark variables, as the viewer is dark
  const words = { ...host.words };
  const dialogRoot = document.createElement('div');
  dialogRoot.id = 'cim-dialogs';
  document.body.append(dialogRoot);
  const table = ref(null); // {title, layer} of the open attribute table

  const vocabularies = () => host.layers.registry?.vocabularies ?? {};
  const registryColumns = (entry) => () =>
    entry.properties.map((p) => ({
      key: p.name,
      label: p.label?.[lang.value] ?? p.label?.zh ?? words.fieldLabel(p.name),
      options: p.vocab ? vocabularies()[p.vocab]?.entries.map((e) => ({ value: e.code, label: e.label[lang.value] ?? e.label.zh })) : undefined,
    }));
  /** The descriptor AttributeTable reads a registry layer through. */
  const layerSource = (name) => {
    const entry = host.layers.byName[name];
    if (!entry) throw new Error(`${name}: no such layer`);
    return { name, idKey: entry.id_column, columns: registryColumns(entry), api: host.api, exportXlsx: (filters) => host.exportXlsx(name, filters) };
  };
  mountIn(dialogRoot, {
    render: () =>
      h(
        ElDialog,
        { modelValue: Boolean(table.value), 'onUpdate:modelValue': (open) => !open && (table.value = null), title: table.value?.title, width: '80%', draggable: true, appendToBody: true, class: 'cim-table-dialog' },
        () => (table.value ? h(AttributeTable, { key: table.value.key, words, ...table.value.props }) : null),
      ),
  });

  return {
    /** Show an answer as a record card of tabs in ``el``. */
    card(el, answer) {
      return mountIn(el, RecordCard, { answer, words });
    },
    /** Open the attribute table of a registry layer, or of records ({title, records}) in a dialog. */
    openTable(what) {
      const key = `${Date.now()}`;
      if (typeof what === 'string') table.value = { key, title: `${words.t('attribute_table')} · ${words.t(what)}`, props: { layer: layerSource(what) } };
      else table.value = { key, title: what.title ?? words.t('attribute_table'), props: { records: what.records, columns: what.columns ?? null } };
    },
    /** The BIM model tree in ``el``; returns its API (pick, idsOf, selected, isolate, hide, paint, reset). */
    tree(el) {
      return mountIn(el, ModelTree, { host, words });
    },
    setLanguage(next) {
      lang.value = next;
    },
  };
}
