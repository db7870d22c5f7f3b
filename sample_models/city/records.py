"""The four databases of the sample city: enterprises, personnel, projects, credit.

Unified social credit codes carry a valid GB 32100-2015 check character (and a valid GB 11714 organisation
code inside); ID card numbers a valid GB 11643 check digit. ID card numbers never leave this module in plain:
the tables hold their salted SHA-256 and the masked form only.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import shapely

from core.privacy import hash_id_number, mask_id_card
from core.uscc import CHARSET, check_character
from sample_models.city import names
from sample_models.city.dates import TODAY, random_dates

ENTERPRISE_MIX = {
    "builder": 0.30,
    "municipal": 0.08,
    "survey": 0.06,
    "design": 0.10,
    "supervision": 0.12,
    "developer": 0.18,
    "property": 0.12,
    "review_agency": 0.04,
}
QUALIFICATIONS = {
    "builder": ("建筑工程施工总承包", ("特级", "一级", "二级", "三级")),
    "municipal": ("市政公用工程施工总承包", ("一级", "二级", "三级")),
    "survey": ("工程勘察专业类（岩土工程）", ("甲级", "乙级")),
    "design": ("建筑行业（建筑工程）设计", ("甲级", "乙级")),
    "supervision": ("房屋建筑工程监理", ("甲级", "乙级")),
    "developer": ("房地产开发企业", ("一级", "二级")),
    "review_agency": ("施工图审查机构", ("一类", "二类")),
}
# Registered people per enterprise type (min, max) and their specialties.
REGISTERED = {
    "builder": ((2, 8), ("一级建造师（建筑工程）", "二级建造师（建筑工程）")),
    "municipal": ((2, 6), ("一级建造师（市政公用工程）", "二级建造师（市政公用工程）")),
    "survey": ((1, 4), ("注册土木工程师（岩土）",)),
    "design": ((2, 6), ("一级注册建筑师", "一级注册结构工程师")),
    "supervision": ((2, 8), ("注册监理工程师",)),
    "developer": ((0, 2), ("注册造价工程师",)),
    "property": ((0, 1), ("注册安全工程师",)),
    "review_agency": ((2, 5), ("一级注册结构工程师", "一级注册建筑师")),
}
EMPLOYED = ("施工员", "质量员", "安全员", "资料员", "材料员", "造价员")
SKILLED = ("电工", "焊工", "架子工", "塔式起重机司机", "信号司索工", "起重机械安装拆卸工")
WORKERS = ("钢筋工", "木工", "混凝土工", "砌筑工", "抹灰工", "防水工")
ID_REGIONS = np.array(["320402", "320404", "320411", "320412", "320481", "321002", "320102", "341204", "410102"])
ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
ID_CHECK = np.array(list("10X98765432"))
BUREAU = "常州市住房和城乡建设局"
INDICATORS = (("基础信用", 30), ("合规经营", 30), ("监管记录", 20), ("投诉处理", 10), ("信用修复", 5), ("风险趋势", 5))
GOOD_DEEDS = (
    "获评江苏省优质工程“扬子杯”",
    "获评常州市文明工地",
    "获评省级建筑施工标准化星级工地",
    "按时足额支付农民工工资",
)
BAD_DEEDS = (
    "施工现场扬尘治理不到位",
    "未按规定办理质量安全监督手续",
    "拖欠农民工工资",
    "违反工程建设强制性标准施工",
    "危大工程未按专项方案施工",
    "发生一般生产安全事故",
)
COMPLAINT_TYPES = ("施工噪音扰民", "房屋质量", "物业服务", "拖欠工资", "扬尘污染", "违规施工")


def grade_of(score: np.ndarray) -> np.ndarray:
    """A at 90 and above, B at 75, C at 60, D below."""
    return np.select([score >= 90, score >= 75, score >= 60], ["A", "B", "C"], "D")


def _org_check(body: str) -> str:
    """GB 11714 check character of an 8-character organisation code body."""
    values = [int(ch) if ch.isdigit() else ord(ch) - 55 for ch in body]
    c9 = 11 - sum(v * w for v, w in zip(values, (3, 7, 9, 10, 5, 8, 4, 2), strict=True)) % 11
    return "X" if c9 == 10 else "0" if c9 == 11 else str(c9)


def uscc_codes(rng: np.random.Generator, regions: np.ndarray) -> list[str]:
    """Distinct codes ``91`` + region + organisation code (digits, or ``MA`` + six characters) + check."""
    n = len(regions)
    keys = rng.choice(10**8, n, replace=False)
    newer = rng.random(n) < 0.5
    letters = np.array(list(CHARSET))
    codes = []
    for region, key, new in zip(regions, keys, newer, strict=True):
        if new:
            digits = [int(key // 31**p % 31) for p in range(5, -1, -1)]
            body = "MA" + "".join(letters[digits])
        else:
            body = f"{key:08d}"
        first17 = "91" + region + body + _org_check(body)
        codes.append(first17 + check_character(first17))
    return codes


def id_card_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """Distinct 18-character resident ID numbers: region, birth date 1962-2002, sequence, check digit."""
    days = (date(2002, 12, 31) - date(1962, 1, 1)).days
    key = rng.choice(len(ID_REGIONS) * days * 1000, n, replace=False)
    region, rest = key // (days * 1000), key % (days * 1000)
    birth = (np.datetime64("1962-01-01") + (rest // 1000).astype("timedelta64[D]")).astype(str)
    first17 = np.char.add(
        np.char.add(ID_REGIONS[region], np.char.replace(birth, "-", "")), np.char.zfill((rest % 1000).astype(str), 3)
    )
    digits = np.frombuffer("".join(first17).encode(), dtype=np.uint8).reshape(n, 17) - ord("0")
    return np.char.add(first17, ID_CHECK[(digits @ ID_WEIGHTS) % 11])


def make_enterprises(rng: np.random.Generator, n: int, bounds: tuple[float, float, float, float]) -> pd.DataFrame:
    """``n`` enterprises, at least two of each type, with credit grades."""
    types = np.array(list(ENTERPRISE_MIX))
    kind = np.concatenate([np.repeat(types, 2), rng.choice(types, n - 2 * len(types), p=list(ENTERPRISE_MIX.values()))])
    district = np.array(list(names.DISTRICTS))[rng.integers(0, len(names.DISTRICTS), n)]
    region = np.array([names.DISTRICTS[d] for d in district])
    brand = names.brand_names(rng, n)
    score = np.round(np.clip(rng.normal(82, 9, n), 35, 100), 1)
    x = rng.uniform(bounds[0], bounds[2], n)
    y = rng.uniform(bounds[1], bounds[3], n)
    roads = names.ROADS_EW + names.ROADS_NS
    return pd.DataFrame(
        {
            "uscc": uscc_codes(rng, region),
            "name": [f"常州{b}{names.ENTERPRISE_SUFFIX[k]}" for b, k in zip(brand, kind, strict=True)],
            "type": kind,
            "legal_representative": names.person_names(rng, n),
            "address": [
                f"常州市{d}{roads[i]}{no}号"
                for d, i, no in zip(district, rng.integers(0, len(roads), n), rng.integers(1, 400, n), strict=True)
            ],
            "district": district,
            "status": np.where(rng.random(n) < 0.96, "active", "revoked"),
            "registered_on": random_dates(rng, date(1995, 1, 1), date(2022, 12, 31), n),
            "credit_grade": grade_of(score),
            "credit_score": score,
            "grade_date": np.datetime64("2025-06-30"),
            "location": shapely.points(np.round(x, 2), np.round(y, 2)),
        }
    )


def make_qualifications(rng: np.random.Generator, enterprises: pd.DataFrame) -> pd.DataFrame:
    held = enterprises["type"].isin(list(QUALIFICATIONS)).to_numpy()
    kinds = enterprises["type"].to_numpy()[held]
    n = len(kinds)
    grade = [
        QUALIFICATIONS[k][1][i % len(QUALIFICATIONS[k][1])] for k, i in zip(kinds, rng.integers(0, 4, n), strict=True)
    ]
    issued = random_dates(rng, date(2020, 7, 1), date(2024, 12, 31), n)
    expires = issued + np.timedelta64(5 * 365, "D")
    return pd.DataFrame(
        {
            "certificate_no": [
                f"D{232 + (g in ('特级', '一级', '甲级', '一类'))}{i:07d}" for i, g in enumerate(grade, 1)
            ],
            "enterprise_uscc": enterprises["uscc"].to_numpy()[held],
            "category": [QUALIFICATIONS[k][0] for k in kinds],
            "grade": grade,
            "issued_on": issued,
            "expires_on": expires,
            "issuer": [
                "中华人民共和国住房和城乡建设部" if g in ("特级", "一级", "甲级") else "江苏省住房和城乡建设厅"
                for g in grade
            ],
            "status": np.where(expires > np.datetime64(TODAY), "valid", "expired"),
        }
    )


def make_grade_history(rng: np.random.Generator, enterprises: pd.DataFrame) -> pd.DataFrame:
    """Three half-yearly grades per enterprise, the last one its current grade, each with its explanation."""
    n = len(enterprises)
    when = np.array(["2024-06-30", "2024-12-31", "2025-06-30"], dtype="datetime64[D]")
    current = enterprises["credit_score"].to_numpy()
    scores = np.stack([current + rng.normal(0, 4, n), current + rng.normal(0, 2, n), current], 1)
    scores = np.round(np.clip(scores, 35, 100), 1).ravel()
    grades = grade_of(scores)
    explanation = []
    for score, grade in zip(scores, grades, strict=True):
        parts = [round(weight * score / 100, 1) for _, weight in INDICATORS[:-1]]
        parts.append(round(score - sum(parts), 1))
        terms = "；".join(f"{label}{p:.1f}/{w}" for (label, w), p in zip(INDICATORS, parts, strict=True))
        explanation.append(f"{terms}；合计{score:.1f}分，评为{grade}级")
    return pd.DataFrame(
        {
            "enterprise_uscc": np.repeat(enterprises["uscc"].to_numpy(), 3),
            "grade": grades,
            "score": scores,
            "graded_on": np.tile(when, n),
            "rules_version": np.tile(["v2024.1", "v2024.2", "v2025.1"], n),
            "explanation": explanation,
        }
    )


def make_persons(rng: np.random.Generator, enterprises: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Registered, employed, skilled people and workers of every enterprise; registered ones come first
    within each enterprise. Returns the table and the plain ID numbers (for tests)."""
    kinds_e = enterprises["type"].to_numpy()
    ne = len(kinds_e)
    lo = np.array([REGISTERED[k][0][0] for k in kinds_e])
    hi = np.array([REGISTERED[k][0][1] for k in kinds_e])
    registered = rng.integers(lo, hi + 1)
    employed = rng.integers(2, 8, ne)
    builds = np.isin(kinds_e, ["builder", "municipal"])
    skilled = np.where(builds, rng.integers(2, 8, ne), 0)
    workers = np.where(builds, rng.integers(3, 15, ne), 0)
    per = np.stack([registered, employed, skilled, workers], 1)
    total = per.sum(1)
    employer = np.repeat(np.arange(ne), total)
    k = np.arange(len(employer)) - np.repeat(np.cumsum(total) - total, total)
    bounds = np.cumsum(per, 1)[employer]
    kind_index = (k[:, None] >= bounds).sum(1)
    kind = np.array(["registered", "employed", "skilled", "worker"])[kind_index]
    n = len(employer)
    pick = rng.integers(0, 1000, n)
    specialty = np.empty(n, dtype=object)
    for i, (k_i, e) in enumerate(zip(kind_index, employer, strict=True)):
        pool = (REGISTERED[kinds_e[e]][1], EMPLOYED, SKILLED, WORKERS)[k_i]
        specialty[i] = pool[pick[i] % len(pool)]
    certificate = np.where(
        kind == "registered",
        [f"苏1{32 + (s.startswith('一级'))}{i:09d}" for i, s in enumerate(specialty)],
        np.where(kind == "skilled", [f"JS{i:010d}" for i in range(n)], None),
    )
    id_cards = id_card_numbers(rng, n)
    phone = np.char.add(
        np.array(["139", "138", "137", "150", "151", "152", "158", "159", "180", "187", "189"])[rng.integers(0, 11, n)],
        np.char.zfill(rng.integers(0, 10**8, n).astype(str), 8),
    )
    frame = pd.DataFrame(
        {
            "id": [f"RY{i:08d}" for i in range(1, n + 1)],
            "name": names.person_names(rng, n),
            "id_card_hash": [hash_id_number(c) for c in id_cards],
            "id_card_masked": [mask_id_card(c) for c in id_cards],
            "phone": phone,
            "kind": kind,
            "certificate_no": certificate,
            "specialty": specialty,
            "employer_uscc": enterprises["uscc"].to_numpy()[employer],
            "valid_to": np.where(
                kind == "worker", np.datetime64("NaT"), random_dates(rng, date(2025, 1, 1), date(2029, 12, 31), n)
            ),
            "real_name_verified": rng.random(n) < 0.93,
        }
    )
    return frame, id_cards
