// Labels in Chinese (default) and English; elements carry data-i18n="key". The page's own words are
// here; the names of layers, their properties and the vocabularies' codes come from the layer
// registry (GET /api/v1/layers) through addLabels.

const LABELS = {
  zh: {
    beneath: '周边地下设施',
    distance_m: '距离（米）',
    safety: '房屋安全',
    grade: '等级',
    house_units: '房屋单元',
    units: '套数',
    residents: '居住人数',
    area_m2: '面积（平方米）',
    code: '编号',
    name: '名称',
    type: '类型',
    stage: '阶段',
    filings: '竣工验收备案',
    parties: '参建单位',
    build_unit: '建设单位',
    supervisor: '监理单位',
    designer: '设计单位',
    surveyor: '勘察单位',
    credit_score: '信用分',
    latest_credit: '最新信用记录',
    phone: '电话',
    status: '状态',
    id: '编号',
    properties: '属性',
    quantities: '工程量',
    materials: '材料',
    app_title: 'CIM 城市信息模型平台',
    layers: '图层',
    layer: '图层',
    feature: '要素',
    element: '构件',
    theme: '专题',
    theme_none: '无',
    underground: '地下模式',
    ground_alpha: '地表透明度',
    excavate: '开挖分析',
    tools: '工具',
    draw_polygon: '画面统计',
    incident: '应急事件',
    profile: '断面分析',
    clear: '清除',
    review: 'BIM 审查',
    upload: '上传 IFC',
    project_code: '项目编号',
    login: '登录',
    logout: '退出',
    username: '用户名',
    password: '密码',
    cancel: '取消',
    identify: '查询结果',
    close: '关闭',
    loading: '正在加载…',
    tiles_loaded: '瓦片已全部加载',
    slow: '服务器响应较慢，正在等待：',
    error: '错误',
    gas_leak: '燃气泄漏',
    pipe_burst: '爆管',
    flood: '内涝',
    fire: '火灾',
    radius_m: '半径（米）',
    water_level_m: '水位（米）',
    pipe_id: '管线编号',
    pick_point: '在地图上点击事件位置',
    click_polygon: '单击添加顶点，双击结束',
    click_line: '单击添加点，双击结束',
    run: '执行',
    affected: '受影响要素',
    valves_to_close: '需关闭阀门',
    statistics: '统计',
    project: '项目',
    permits: '施工许可',
    enterprises: '企业',
    people: '人员',
    pipes_beneath: '下方管线',
    contractor: '施工单位',
    progress: '进度',
    report: '审查报告',
    issues: '问题',
    fly_to_failing: '定位不合格构件',
    role: '角色',
    guest: '访客',
    nothing_here: '此处无要素',
    legend: '图例',
  },
  en: {
    beneath: 'Beneath',
    distance_m: 'Distance (m)',
    safety: 'Building safety',
    grade: 'Grade',
    house_units: 'House units',
    units: 'Units',
    residents: 'Residents',
    area_m2: 'Area (m²)',
    code: 'Code',
    name: 'Name',
    type: 'Type',
    stage: 'Stage',
    filings: 'Completion filings',
    parties: 'Parties',
    build_unit: 'Build unit',
    supervisor: 'Supervisor',
    designer: 'Designer',
    surveyor: 'Surveyor',
    credit_score: 'Credit score',
    latest_credit: 'Latest credit records',
    phone: 'Phone',
    status: 'Status',
    id: 'ID',
    properties: 'Properties',
    quantities: 'Quantities',
    materials: 'Materials',
    app_title: 'CIM city information model',
    layers: 'Layers',
    layer: 'Layer',
    feature: 'Feature',
    element: 'Element',
    theme: 'Theme',
    theme_none: 'None',
    underground: 'Underground mode',
    ground_alpha: 'Ground opacity',
    excavate: 'Excavation box',
    tools: 'Tools',
    draw_polygon: 'Area statistics',
    incident: 'Incident',
    profile: 'Profile',
    clear: 'Clear',
    review: 'BIM review',
    upload: 'Upload IFC',
    project_code: 'Project code',
    login: 'Log in',
    logout: 'Log out',
    username: 'User name',
    password: 'Password',
    cancel: 'Cancel',
    identify: 'Identify',
    close: 'Close',
    loading: 'Loading…',
    tiles_loaded: 'All tiles loaded',
    slow: 'The server is slow; still waiting for: ',
    error: 'Error',
    gas_leak: 'Gas leak',
    pipe_burst: 'Pipe burst',
    flood: 'Flood',
    fire: 'Fire',
    radius_m: 'Radius (m)',
    water_level_m: 'Water level (m)',
    pipe_id: 'Pipe id',
    pick_point: 'Click the incident location on the map',
    click_polygon: 'Click to add vertices, double-click to finish',
    click_line: 'Click to add points, double-click to finish',
    run: 'Run',
    affected: 'Affected features',
    valves_to_close: 'Valves to close',
    statistics: 'Statistics',
    project: 'Project',
    permits: 'Construction permits',
    enterprises: 'Enterprises',
    people: 'People',
    pipes_beneath: 'Pipes beneath',
    contractor: 'Contractor',
    progress: 'Progress',
    report: 'Review report',
    issues: 'Issues',
    fly_to_failing: 'Fly to failing elements',
    role: 'Role',
    guest: 'Guest',
    nothing_here: 'Nothing here',
    legend: 'Legend',
  },
};

const REGISTERED = {}; // key -> {zh, en}, from the layer registry
const VOCAB_OF = {}; // property name -> the vocabulary its values come from
let lang = localStorage.getItem('cim.lang') || 'zh';

/** Labels from the registry ({key: {zh, en}}; the page's own words keep their key) and which
 * vocabulary each property's values come from ({property: vocabulary}). */
export function addLabels(labels, vocabOf = {}) {
  for (const [key, label] of Object.entries(labels)) REGISTERED[key] ??= label;
  for (const [name, vocab] of Object.entries(vocabOf)) VOCAB_OF[name] ??= vocab;
}

/** A property value's label from its vocabulary (`public` as a building use: 公共服务), or undefined. */
export function valueLabel(property, value) {
  const label = VOCAB_OF[property] && REGISTERED[`${VOCAB_OF[property]}.${value}`];
  return label ? label[lang] ?? label.zh : undefined;
}

export const language = () => lang;

/** The label for a key in the current language (the key itself when unknown). */
export function t(key) {
  return LABELS[lang][key] ?? REGISTERED[key]?.[lang] ?? LABELS.zh[key] ?? REGISTERED[key]?.zh ?? key;
}

/** Fill every [data-i18n] element (text) and [data-i18n-title] (tooltip). */
export function apply(root = document) {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  document.title = t('app_title');
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
}

export function setLanguage(next) {
  lang = next;
  localStorage.setItem('cim.lang', lang);
  apply();
}
