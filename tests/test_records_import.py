"""Records files in (CSV in GB18030 with Chinese headers, XLSX, JSON Lines): counts of inserted,
updated, unchanged and rejected rows against what the test expects from its own rows; re-imports
change nothing; bad rows are refused row by row with their reasons; a failed import leaves nothing;
personal data never reaches a table in plain."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date, datetime
from decimal import Decimal

import pytest

from records.importer import import_file
from tests.fixtures_records import USCC_CHARS, id_for
from tests.pii import id_hash, open_field

TYPES = {"施工总承包": "builder", "监理": "supervision", "设计": "design", "房地产开发": "developer"}
KINDS = {"执业": "registered", "从业": "employed", "工人": "worker"}
ENTERPRISE_HEADER = ["统一社会信用代码", "企业名称", "企业类型", "法定代表人", "注册日期", "信用等级"]


def _enterprise_rows(codes, n: int) -> list[list]:
    types = list(TYPES)
    return [
        [
            codes.uscc(),
            f"常州市测试建设工程{i}有限公司",
            types[i % len(types)],
            f"王{i}",
            f"2015/3/{i + 1}",
            "ABCD"[i % 4],
        ]
        for i in range(n)
    ]


def _versions(record_versions, kind: str, keys: list[str]) -> int:
    return sum(len(record_versions(kind, key)) for key in keys)


def test_gb18030_csv_with_chinese_headers_inserts_then_reimport_is_a_no_op_then_delta_updates(
    codes, write_csv, sql, record_versions
):
    rows = _enterprise_rows(codes, 6)
    path = write_csv("企业.csv", ENTERPRISE_HEADER, rows, encoding="gb18030")
    assert path.read_bytes().decode("gb18030") and not _is_utf8(path.read_bytes())

    first = import_file(path, "enterprises")
    assert (first["encoding"], first["rows"]) == ("gb18030", 6)
    assert (first["inserted"], first["updated"], first["unchanged"], first["rejected"]) == (6, 0, 0, 0)
    assert first["key_field_pass_rate"] == 1.0
    keys = [r[0] for r in rows]
    stored = {r["uscc"]: r for r in sql("SELECT * FROM enterprise WHERE uscc = ANY(:k)", k=keys)}
    for uscc, name, kind, boss, registered, grade in rows:
        y, m, d = (int(x) for x in registered.split("/"))
        got = stored[uscc]
        assert (got["name"], got["type"], got["legal_representative"]) == (name, TYPES[kind], boss)
        assert (got["registered_on"], got["credit_grade"]) == (date(y, m, d), grade)
    assert _versions(record_versions, "enterprises", keys) == 6
    # a first import writes only the rows: each is its record's current version
    assert sql("SELECT count(*) AS n FROM record_version WHERE key = ANY(:k)", k=keys)[0]["n"] == 0
    since = sql("SELECT uscc, version_from FROM enterprise WHERE uscc = ANY(:k) ORDER BY uscc", k=keys)

    again = import_file(path, "enterprises")
    assert (again["inserted"], again["updated"], again["unchanged"], again["rejected"]) == (0, 0, 6, 0)
    assert _versions(record_versions, "enterprises", keys) == 6
    assert sql("SELECT uscc, version_from FROM enterprise WHERE uscc = ANY(:k) ORDER BY uscc", k=keys) == since

    delta = [list(r) for r in rows]
    delta[1][1] += "（更名）"
    delta[4][3] = "赵新"
    delta.append(_enterprise_rows(codes, 1)[0])
    expected_updated = sum(old != new for old, new in zip(rows, delta, strict=False))
    result = import_file(write_csv("企业-增量.csv", ENTERPRISE_HEADER, delta, encoding="gb18030"), "enterprises")
    assert (result["inserted"], result["updated"], result["unchanged"]) == (1, expected_updated, 6 - expected_updated)
    assert sql("SELECT name FROM enterprise WHERE uscc = :u", u=delta[1][0])[0]["name"] == delta[1][1]
    history = record_versions("enterprises", delta[1][0])
    assert [h["data"]["name"] for h in history] == [rows[1][1], delta[1][1]]
    assert history[0]["valid_to"] is not None and history[1]["valid_to"] is None


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.fixture(scope="module")
def employers(codes, write_csv) -> list[str]:
    rows = _enterprise_rows(codes, 3)
    assert import_file(write_csv("雇主.csv", ENTERPRISE_HEADER, rows), "enterprises")["inserted"] == 3
    return [r[0] for r in rows]


def test_xlsx_people_are_stored_hashed_encrypted_and_masked_never_plain(codes, write_xlsx, employers, sql):
    header = ["身份证号", "姓名", "人员类别", "统一社会信用代码", "联系电话", "注册有效期", "实名认证"]
    people = [
        [codes.id_number(), "陈建国", "执业", employers[0], "13912345678", datetime(2027, 6, 30), "是"],
        [codes.id_number("19751231"), "刘芳", "从业", employers[1], "15800001111", datetime(2026, 1, 1), "否"],
        [codes.id_number("20000229"), "周强", "工人", employers[2], "18688889999", None, "是"],
    ]
    result = import_file(write_xlsx("人员.xlsx", header, people), "people")
    assert (result["format"], result["inserted"], result["rejected"]) == ("xlsx", 3, 0)
    hashes = [id_hash(p[0]) for p in people]
    stored = {r["id_card_hash"]: r for r in sql("SELECT * FROM person WHERE id_card_hash = ANY(:h)", h=hashes)}
    assert set(stored) == set(hashes)
    for number, name, kind, employer, phone, valid_to, verified in people:
        got = stored[id_hash(number)]
        assert got["id_card_masked"] == number[:6] + "********" + number[-4:]
        assert open_field(got["phone_enc"]) == phone and got["phone_enc"] != phone
        assert got["phone_masked"] == phone[:3] + "****" + phone[-4:]
        assert (got["name"], got["kind"], got["employer_uscc"]) == (name, KINDS[kind], employer)
        assert got["valid_to"] == (valid_to.date() if valid_to else None)
        assert got["real_name_verified"] is (verified == "是")
    ids = [r["id"] for r in stored.values()]
    everything = " ".join(
        r["t"]
        for r in sql("SELECT row_to_json(p)::text AS t FROM person p WHERE id = ANY(:i)", i=ids)
        + sql("SELECT data::text AS t FROM record_version WHERE kind = 'people' AND key = ANY(:i)", i=ids)
    )
    assert len(ids) == 3 and everything
    for number, _, _, _, phone, _, _ in people:
        assert number not in everything and phone not in everything
    again = import_file(write_xlsx("人员-重复.xlsx", header, people), "people")
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 3)


def test_jsonl_projects_and_permits_with_english_and_chinese_keys(codes, write_jsonl, employers, sql):
    projects = [
        {"code": codes.code("XM"), "name": f"测试项目{i}", "type": "房建", "stage": "施工",
         "contractor_uscc": employers[0], "investment_cny": "12,345,678.90", "hazardous_works": True,
         "planned_start": "2025年3月1日"}
        for i in range(2)
    ]  # fmt: skip
    result = import_file(write_jsonl("projects.jsonl", projects), "projects")
    assert (result["format"], result["inserted"], result["rejected"]) == ("jsonl", 2, 0)
    permits = [
        {"施工许可证编号": codes.code("SG"), "项目编号": p["code"], "发证日期": "2025-04-02", "合同价格（元）": 1000000}
        for p in projects
    ]
    result = import_file(write_jsonl("permits.jsonl", permits), "permits")
    assert (result["inserted"], result["rejected"]) == (2, 0)
    got = sql("SELECT * FROM project WHERE code = ANY(:c) ORDER BY code", c=[p["code"] for p in projects])
    assert [(g["type"], g["stage"], g["investment_cny"], g["planned_start"]) for g in got] == [
        ("building", "construction", Decimal("12345678.90"), date(2025, 3, 1))
    ] * 2
    got = sql("SELECT permit_no, project_code FROM construction_permit WHERE permit_no = ANY(:p) ORDER BY permit_no",
              p=[p["施工许可证编号"] for p in permits])  # fmt: skip
    assert [(g["permit_no"], g["project_code"]) for g in got] == sorted(
        (p["施工许可证编号"], p["项目编号"]) for p in permits
    )


def _wrong_uscc(code: str) -> tuple[str, str]:
    """The code with another check character, and the right one."""
    return code[:17] + next(c for c in USCC_CHARS if c != code[17]), code[17]


def _wrong_id(number: str) -> tuple[str, str]:
    return number[:17] + next(c for c in "0123456789X" if c != number[17]), number[17]


@pytest.fixture(scope="module")
def bad_people(codes, employers) -> tuple[list[str], list[list], dict[int, tuple[str, str, str]]]:
    """A people file's rows: good, bad USCC, bad ID check digit, a duplicate, good; and the expected
    rejections by file row (header is row 1): column, a piece of the English reason, of the Chinese."""
    header = ["身份证号", "姓名", "人员类别", "统一社会信用代码"]
    good1, good2 = codes.id_number(), codes.id_number()
    bad_uscc, right_uscc = _wrong_uscc(employers[0])
    bad_id, right_id = _wrong_id(codes.id_number())
    rows = [
        [good1, "甲", "执业", employers[0]],
        [codes.id_number(), "乙", "执业", bad_uscc],
        [bad_id, "丙", "从业", employers[1]],
        [good1, "丁", "工人", employers[2]],
        [good2, "戊", "工人", employers[2]],
    ]
    expected = {
        3: ("统一社会信用代码", f"GB 32100-2015 gives {right_uscc!r}", "统一社会信用代码无效"),
        4: ("身份证号", f"GB 11643-1999 gives {right_id!r}", "公民身份号码无效"),
        5: ("身份证号", "duplicate key in the file (first at row 2)", "文件内主键重复"),
    }
    return header, rows, expected


def test_bad_rows_are_refused_with_reasons_and_the_good_rows_land(write_csv, bad_people, sql):
    header, rows, expected = bad_people
    result = import_file(write_csv("人员-错误.csv", header, rows, encoding="gb18030"), "people")
    assert (result["inserted"], result["rejected"]) == (2, 3)
    got = {r["row"]: r for r in result["rejections"]}
    assert set(got) == set(expected)
    for row, (column, english, chinese) in expected.items():
        assert got[row]["column"] == column and english in got[row]["reason_en"] and chinese in got[row]["reason_zh"]
    assert got[4]["value"] == rows[2][0][:6] + "********" + rows[2][0][-4:], "ID numbers are masked in the report"
    assert result["key_field_pass_rate"] == pytest.approx(2 / 5)
    names = {r["name"] for r in sql("SELECT name FROM person WHERE id_card_hash = ANY(:h)",
                                    h=[id_hash(r[0]) for r in rows])}  # fmt: skip
    assert names == {"甲", "戊"}


def test_unknown_project_and_person_and_duplicates_in_project_people(codes, write_csv, employers, sql):
    project = codes.code("XM")
    assert import_file(write_csv("p.csv", ["项目编号", "项目名称", "项目类别", "项目阶段"],
                                 [[project, "人员测试项目", "房建", "施工"]]), "projects")["inserted"] == 1  # fmt: skip
    person = codes.id_number()
    assert (
        import_file(write_csv("r.csv", ["身份证号", "姓名", "人员类别"], [[person, "己", "执业"]]), "people")[
            "inserted"
        ]
        == 1
    )
    unknown = codes.code("XM")
    stranger = codes.id_number()
    rows = [
        [project, person, "项目经理"],
        [unknown, person, "项目经理"],
        [project, stranger, "安全员"],
        [project, person, "项目经理"],
        [project, person, "技术负责人"],
    ]
    result = import_file(write_csv("pp.csv", ["项目编号", "身份证号", "岗位"], rows), "project_people")
    got = {r["row"]: (r["column"], r["reason_en"]) for r in result["rejections"]}
    assert got == {
        3: ("项目编号", f"no project {unknown} (reference project.code)"),
        4: ("身份证号", "no person with this ID number"),
        5: ("项目编号", "duplicate key in the file (first at row 2)"),  # reported at the key's first column
    }
    stored = sql("SELECT role FROM project_person WHERE project_code = :p ORDER BY role", p=project)
    assert [r["role"] for r in stored] == ["project_manager", "technical_lead"]


def test_all_or_nothing_writes_nothing_when_a_row_is_refused(write_csv, codes, employers, sql):
    rows = _enterprise_rows(codes, 3)
    rows[2][0] = _wrong_uscc(rows[2][0])[0]
    result = import_file(write_csv("企业-全部.csv", ENTERPRISE_HEADER, rows), "enterprises", all_or_nothing=True)
    assert (result["written"], result["inserted"], result["rejected"]) == (False, 0, 1)
    assert sql("SELECT count(*) AS n FROM enterprise WHERE uscc = ANY(:k)", k=[r[0] for r in rows])[0]["n"] == 0


def test_all_or_nothing_undoes_chunks_written_before_a_late_refusal(write_csv, codes, employers, sql, monkeypatch):
    """Chunks are written as they come: a refusal in the last chunk rolls back the earlier ones (savepoint)."""
    from records import importer

    monkeypatch.setattr(importer, "CHUNK_ROWS", 2)
    rows = _enterprise_rows(codes, 5)
    rows[4][0] = _wrong_uscc(rows[4][0])[0]
    result = import_file(write_csv("企业-分块.csv", ENTERPRISE_HEADER, rows), "enterprises", all_or_nothing=True)
    assert (result["written"], result["inserted"], result["rejected"]) == (False, 0, 1)
    assert sql("SELECT count(*) AS n FROM enterprise WHERE uscc = ANY(:k)", k=[r[0] for r in rows])[0]["n"] == 0
    keys = [r[0] for r in rows[:4]]
    assert sql("SELECT count(*) AS n FROM record_version WHERE key = ANY(:k)", k=keys)[0]["n"] == 0


def test_a_failing_import_leaves_nothing(codes, write_csv, sql, owner_database, record_versions):
    """The database refuses the last new row (a trigger standing in for a rule the spec does not know):
    the updates and inserts before it are rolled back with it, versions included."""
    header = ["项目编号", "项目名称", "项目类别", "项目阶段"]
    existing = codes.code("XM")
    import_file(write_csv("before.csv", header, [[existing, "原名", "市政", "施工"]]), "projects")
    fresh = [codes.code("XM") for _ in range(2)]
    rows = [
        [existing, "新名", "市政", "施工"],
        [fresh[0], "新项目", "房建", "施工"],
        [fresh[1], "FAIL", "房建", "施工"],
    ]
    with owner_database.begin() as conn:
        conn.exec_driver_sql(
            """CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN IF NEW.name = 'FAIL' THEN RAISE EXCEPTION 'refused by test'; END IF; RETURN NEW; END $$;
               CREATE TRIGGER test_refuse BEFORE INSERT ON project FOR EACH ROW EXECUTE FUNCTION test_refuse();"""
        )
    try:
        with pytest.raises(Exception, match="refused by test"):
            import_file(write_csv("fails.csv", header, rows), "projects")
    finally:
        with owner_database.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER test_refuse ON project; DROP FUNCTION test_refuse();")
    assert sql("SELECT name FROM project WHERE code = :c", c=existing)[0]["name"] == "原名"
    assert sql("SELECT count(*) AS n FROM project WHERE code = ANY(:c)", c=fresh)[0]["n"] == 0
    assert _versions(record_versions, "projects", [existing, *fresh]) == 1


def test_a_reference_deleted_between_check_and_write_fails_the_import_whole(codes, write_csv, database, sql):
    """The checks read what is committed and lock nothing: an enterprise deleted by a transaction still
    open when they run passes them; the write's reference trigger then waits for that transaction and
    refuses the chunk, and the import fails whole with a message (no row of the file written)."""
    from concurrent.futures import ThreadPoolExecutor

    from core.errors import UserError

    going, staying = (r[0] for r in _enterprise_rows(codes, 2))
    rows = [[going, "将删除", "监理", "x", "2015-01-01", "A"], [staying, "保留", "监理", "x", "2015-01-01", "A"]]
    assert import_file(write_csv("企业-将删.csv", ENTERPRISE_HEADER, rows), "enterprises")["inserted"] == 2
    projects = [codes.code("XM"), codes.code("XM")]
    header = ["项目编号", "项目名称", "项目类别", "项目阶段", "施工单位统一社会信用代码"]
    path = write_csv("项目-竞争.csv", header, [[projects[0], "甲", "房建", "施工", staying],
                                                [projects[1], "乙", "房建", "施工", going]])  # fmt: skip
    with database.connect() as deleter, ThreadPoolExecutor(1) as pool:
        deleter.exec_driver_sql("DELETE FROM enterprise WHERE uscc = %s", (going,))
        pid = deleter.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        importing = pool.submit(import_file, path, "projects")
        deadline = time.monotonic() + 60
        waiting = "SELECT count(*) AS n FROM pg_stat_activity WHERE :p = ANY(pg_blocking_pids(pid))"
        while not sql(waiting, p=pid)[0]["n"]:
            assert not importing.done(), importing.result()  # the import must wait for the deleter
            assert time.monotonic() < deadline, "the import never waited for the deleting transaction"
            time.sleep(0.02)
        deleter.commit()
        with pytest.raises(UserError, match="was deleted while it was imported; nothing was written"):
            importing.result(timeout=60)
    assert sql("SELECT count(*) AS n FROM project WHERE code = ANY(:c)", c=projects)[0]["n"] == 0
    assert sql("SELECT count(*) AS n FROM enterprise WHERE uscc = :u", u=going)[0]["n"] == 0


def test_cli_import_prints_the_summary_and_fails_when_all_or_nothing_refuses(write_csv, codes, database, sql):
    rows = _enterprise_rows(codes, 2)
    bad = [list(rows[0]), [codes.uscc()[:17] + "I", "错", "监理", "x", "2015-01-01", "A"]]
    env = {"DATABASE_URL": database.url.render_as_string(hide_password=False), "PYTHONPATH": "."}
    command = [sys.executable, "-m", "spatial_api.cli", "records", "import", "--kind", "enterprises", "--json"]
    refused = subprocess.run([*command, "--all-or-nothing", str(write_csv("cli-bad.csv", ENTERPRISE_HEADER, bad))],
                             capture_output=True, text=True, env=env)  # fmt: skip
    assert refused.returncode == 1, refused.stderr
    summary = json.loads(refused.stdout.strip().splitlines()[-1])
    assert (summary["written"], summary["rejected"]) == (False, 1)
    ok = subprocess.run([*command, str(write_csv("cli.csv", ENTERPRISE_HEADER, rows))], capture_output=True,
                        text=True, env=env)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout.strip().splitlines()[-1])["inserted"] == 2
    assert sql("SELECT count(*) AS n FROM enterprise WHERE uscc = ANY(:k)", k=[r[0] for r in rows])[0]["n"] == 2


def test_id_check_digits_follow_gb11643(codes):
    """The test's own check digits agree with a published example (GB 11643-1999 annex)."""
    assert id_for("11010519491231002") == "11010519491231002X"


def test_small_chunks_give_the_same_answer(write_csv, codes, employers, monkeypatch, sql):
    """A file streamed two rows at a time: a duplicate three rows after its first still refused."""
    from records import importer

    monkeypatch.setattr(importer, "CHUNK_ROWS", 2)
    header = ["身份证号", "姓名", "人员类别", "统一社会信用代码"]
    numbers = [codes.id_number() for _ in range(4)]
    rows = [[n, f"分块{i}", "执业", employers[0]] for i, n in enumerate(numbers)] + [[numbers[0], "重复", "工人", ""]]
    result = import_file(write_csv("分块.csv", header, rows), "people")
    assert (result["rows"], result["inserted"], result["rejected"]) == (5, 4, 1)
    assert result["rejections"][0]["row"] == 6 and "first at row 2" in result["rejections"][0]["reason_en"]
    assert sql("SELECT name FROM person WHERE id_card_hash = :h", h=id_hash(numbers[0]))[0]["name"] == "分块0"


def test_inspections_name_the_inspected_enterprise_and_its_project(codes, write_csv, employers, sql):
    """An inspection row names its enterprise (required) and, on a site, the project; labels become codes."""
    project = codes.code("XM")
    projects = write_csv("检查项目.csv", ["项目编号", "项目名称", "项目类别", "项目阶段", "施工单位统一社会信用代码"],
                         [[project, "检查测试项目", "房建", "施工", employers[0]]])  # fmt: skip
    assert import_file(projects, "projects")["inserted"] == 1
    header = ["检查编号", "受检单位统一社会信用代码", "项目编号", "检查日期", "检查类型", "检查结果", "责令整改",
              "整改期限", "检查人员"]  # fmt: skip
    numbers = [codes.code("JC") for _ in range(4)]
    unknown = codes.code("XM")
    rows = [
        [numbers[0], employers[0], project, "2026-03-02", "双随机抽查", "不合格", "是", "2026-04-01", "张工"],
        [numbers[1], employers[1], "", "2026-03-05", "日常检查", "合格", "否", "", "李工"],
        [numbers[2], "", project, "2026-03-06", "专项检查", "合格", "否", "", ""],
        [numbers[3], employers[0], unknown, "2026-03-07", "日常检查", "合格", "否", "", ""],
    ]
    result = import_file(write_csv("检查.csv", header, rows), "inspections")
    assert (result["inserted"], result["rejected"]) == (2, 2)
    got = {r["row"]: (r["column"], r["reason_en"]) for r in result["rejections"]}
    assert got == {
        4: ("受检单位统一社会信用代码", "enterprise_uscc is required"),
        5: ("项目编号", f"no project {unknown} (reference project.code)"),
    }
    stored = sql("SELECT * FROM inspection WHERE inspection_no = ANY(:n) ORDER BY inspection_no", n=numbers)
    assert [
        (r["inspection_no"], r["enterprise_uscc"], r["project_code"], r["inspected_on"], r["kind"], r["result"],
         r["rectify_order"], r["rectify_deadline"], r["closed"], r["inspector"])
        for r in stored
    ] == sorted([
        (numbers[0], employers[0], project, date(2026, 3, 2), "spot_check", "fail", True, date(2026, 4, 1), False,
         "张工"),
        (numbers[1], employers[1], None, date(2026, 3, 5), "routine", "pass", False, None, False, "李工"),
    ])  # fmt: skip
