"""Chinese names for the sample city: people, roads, districts, enterprises, projects."""

from __future__ import annotations

import numpy as np

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红文斌宇浩凯鹏晨欣怡婷雪琳瑶思佳俊峰亮辉鑫倩颖")

# Districts of Changzhou with their administrative division codes (GB/T 2260).
DISTRICTS = {"天宁区": "320402", "钟楼区": "320404", "新北区": "320411", "武进区": "320412"}

# Real road names of central Changzhou first, then made-up ones from a pool of two-character words.
ROADS_EW = [
    "延陵西路",
    "延陵东路",
    "劳动西路",
    "劳动东路",
    "关河西路",
    "关河东路",
    "晋陵中路",
    "中吴大道",
    "长江路",
    "通江大道",
    "龙城大道",
    "太湖路",
    "黄河路",
    "怀德路",
    "兰陵路",
    "清潭路",
    "花园街",
    "新堂路",
    "飞龙路",
    "天宁路",
    "博爱路",
    "广化街",
    "青洋路",
    "竹林路",
    "衡山路",
    "常澄路",
]
ROADS_NS = [
    "和平北路",
    "和平南路",
    "晋陵北路",
    "晋陵南路",
    "北大街",
    "南大街",
    "局前街",
    "怀德北路",
    "怀德南路",
    "通江中路",
    "龙锦路",
    "星港路",
    "丽华北路",
    "丽华南路",
    "茶山路",
    "东经一二〇路",
    "凤凰路",
    "永宁路",
    "礼嘉路",
    "湖塘路",
    "武宜路",
    "常武路",
    "聚湖路",
    "玉龙路",
]
WORDS = list("龙锦新丰青枫玉塘春江鸣凰翠竹兴业华阳紫金梅林荷园朝阳东坡红梅金鸡九洲天目")
SUFFIX_EW = ("路", "大道", "西路", "东路")
SUFFIX_NS = ("街", "北路", "南路", "中路")

BRANDS = list("恒瑞鼎华泰宏盛安信达德润锦鑫嘉和远隆通联博弘昌宇正源永天成中兴建晟晨辰耀昊科豪茂")
ENTERPRISE_SUFFIX = {
    "builder": "建设工程有限公司",
    "municipal": "市政工程有限公司",
    "survey": "岩土工程勘察有限公司",
    "design": "建筑设计研究院有限公司",
    "supervision": "工程监理咨询有限公司",
    "developer": "房地产开发有限公司",
    "property": "物业管理有限公司",
    "review_agency": "施工图审查中心有限公司",
}
PROJECT_SUFFIX = {
    "residential": ("花园", "雅苑", "名邸", "新城", "华府"),
    "commercial": ("广场", "商业中心", "天地"),
    "office": ("大厦", "国际中心", "科技大楼"),
    "industrial": ("产业园厂房", "智能制造园", "标准厂房"),
    "public": ("学校", "社区服务中心", "文体中心", "医院门诊楼"),
}
PHASES = ("", "一期", "二期", "三期")


def person_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` full names: a surname and one or two given characters."""
    surname = np.array(SURNAMES)[rng.integers(0, len(SURNAMES), n)]
    given = np.array(GIVEN)
    first = given[rng.integers(0, len(GIVEN), n)]
    second = np.where(rng.random(n) < 0.7, given[rng.integers(0, len(GIVEN), n)], "")
    return np.char.add(np.char.add(surname, first), second)


def masked_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """Owners as shown outside the registry: the surname and one star per given character (``张**``)."""
    surname = np.array(SURNAMES)[rng.integers(0, len(SURNAMES), n)]
    return np.char.add(surname, np.where(rng.random(n) < 0.7, "**", "*"))


def road_names(rng: np.random.Generator, n: int, north_south: bool) -> list[str]:
    """``n`` distinct road names: the real ones first (shuffled), then made-up ones."""
    real = list(ROADS_NS if north_south else ROADS_EW)
    suffixes = SUFFIX_NS if north_south else SUFFIX_EW
    names = [real[i] for i in rng.permutation(len(real))]
    seen = set(ROADS_NS) | set(ROADS_EW)
    while len(names) < n:
        word = WORDS[rng.integers(len(WORDS))] + WORDS[rng.integers(len(WORDS))]
        name = word + suffixes[rng.integers(len(suffixes))]
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names[:n]


def brand_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """Two-character trade names (repeats are possible in a big city, as in a real one)."""
    brands = np.array(BRANDS)
    return np.char.add(brands[rng.integers(0, len(BRANDS), n)], brands[rng.integers(0, len(BRANDS), n)])
