"""Import, levels, column decisions, R-28 and destruction on both databases."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from pdzone.audit.events import Actor, os_actor
from pdzone.audit.models import AuditEvent
from pdzone.catalog import actions as cat
from pdzone.catalog.importing import read_source
from pdzone.catalog.models import Dataset, Decision
from pdzone.catalog.queries import dataset_json
from pdzone.crypto.suites import DecryptionError
from pdzone.dataplane import storage
from pdzone.errors import Conflict, Forbidden, Invalid
from tests import factories as f

ROWS = [("张三", "11010519900307123X", "13912345678", "12", "2024-01-02"),
        ("李四", "110105199003071000", "13912345679", "13.5", "2024-02-03")]
HEADER = "姓名,身份证号,手机号,金额,日期"


def write_csv(path, encoding="utf-8", rows=ROWS, header=HEADER):
    text = header + "\n" + "\n".join(",".join(r) for r in rows) + "\n"
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("encoding,expected", [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-bom"), ("gbk", "gb18030"),
                                               ("gb18030", "gb18030")])
def test_csv_in_the_encodings_departments_send(tmp_path, encoding, expected):
    src = read_source(write_csv(tmp_path / "d.csv", encoding))
    assert src.encoding == expected
    assert src.table.column_names == HEADER.split(",")
    assert src.table.column("姓名").to_pylist() == ["张三", "李四"]


def test_identifiers_stay_text_and_quantities_become_numbers(tmp_path):
    t = read_source(write_csv(tmp_path / "d.csv")).table
    assert t.schema.field("身份证号").type == pa.string()
    assert t.schema.field("手机号").type == pa.string()  # 11 digits would fit an int; codes never become numbers
    assert t.schema.field("金额").type == pa.float64()
    assert t.schema.field("日期").type == pa.date32()
    assert t.column("身份证号").to_pylist() == ["11010519900307123X", "110105199003071000"]


def test_leading_zero_codes_stay_text(tmp_path):
    t = read_source(write_csv(tmp_path / "d.csv", header="代码,数量", rows=[("0101", "3"), ("0202", "4")])).table
    assert t.column("代码").to_pylist() == ["0101", "0202"] and t.schema.field("数量").type == pa.int64()


def test_bad_files_name_the_line_or_column(tmp_path):
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(Invalid) as e:
        read_source(tmp_path / "ragged.csv")
    assert e.value.details["line"] == 3 and "第 3 行" in e.value.zh
    (tmp_path / "dup.csv").write_text("a,a\n1,2\n")
    with pytest.raises(Invalid) as e:
        read_source(tmp_path / "dup.csv")
    assert "a" in e.value.details["columns"]
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(Invalid) as e:
        read_source(tmp_path / "x.json")
    assert e.value.code == "unsupported_format"


def test_parquet_and_excel(tmp_path):
    pq.write_table(pa.table({"区县": ["东城区", "西城区"], "人数": [3, 4]}), tmp_path / "d.parquet")
    assert read_source(tmp_path / "d.parquet").table.column("人数").to_pylist() == [3, 4]
    wb = Workbook()
    ws = wb.active
    ws.append(["姓名", "身份证号", "金额"])
    ws.append(["张三", "11010519900307123X", 12])
    ws.append(["李四", "110105199003071000", 13.5])
    wb.save(tmp_path / "d.xlsx")
    t = read_source(tmp_path / "d.xlsx").table
    assert t.column("身份证号").to_pylist() == ["11010519900307123X", "110105199003071000"]
    assert t.schema.field("金额").type == pa.float64()


@pytest.fixture
def zone_setup(rt):
    with rt.store.transaction() as s:
        f.zone(s, "zone_a")
        prov = f.org(s, "市场监管局", kind="provider", zone_code="zone_a")
        f.org(s, "某运营公司", kind="operator", zone_code="zone_a")
        return prov.name


def _import(rt, path, name="people", **kw):
    return cat.import_dataset(rt.store, rt.keystore, rt.suite, rt.datasets, path, name=name, zone_code="zone_a",
                              provider=kw.pop("provider", "市场监管局"), actor=os_actor(), **kw)


def test_import_encrypts_catalogs_and_audits(rt, zone_setup, tmp_path):
    ds = _import(rt, write_csv(tmp_path / "d.csv", "gbk"), level=3, basis="含身份证号，三级", title="人员信息")
    sealed = rt.datasets.path(ds.id, 1).read_bytes()
    assert "张三".encode("gbk") not in sealed and "张三".encode() not in sealed
    with rt.store.sessions() as s:
        doc = dataset_json(s, cat.find_dataset(s, "people"))
        key = cat.data_key(s, rt.keystore, rt.suite, cat.find_dataset(s, "people"))
        actions = [e.action for e in s.scalars(select(AuditEvent).where(AuditEvent.target_id == "people"))]
    assert doc["rows"] == 2 and doc["level"] == 3 and doc["source_encoding"] == "gb18030"
    assert doc["encryption"] == {"suite": "gm", "destroyed": False}
    assert [d["kind"] for d in doc["decisions"]] == ["level"]
    assert actions == ["catalog.dataset.import", "catalog.dataset.set_level"]
    storage.CACHE.drop(ds.id)
    assert rt.datasets.read(ds.id, 1, key).column("姓名").to_pylist() == ["张三", "李四"]


def test_failed_import_leaves_nothing(rt, zone_setup, tmp_path):
    with pytest.raises(Invalid):
        _import(rt, write_csv(tmp_path / "d.csv"), privacy_unit="没有这列")
    with pytest.raises(Invalid):  # an operator is not a provider department
        _import(rt, write_csv(tmp_path / "d.csv"), provider="某运营公司")
    with pytest.raises(Invalid):
        _import(rt, write_csv(tmp_path / "d.csv"), level=7, basis="x")
    _import(rt, write_csv(tmp_path / "d.csv"))
    with pytest.raises(Conflict):
        _import(rt, write_csv(tmp_path / "d.csv"))
    with rt.store.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Dataset)) == 1
        events = s.scalar(select(func.count()).select_from(AuditEvent)
                          .where(AuditEvent.action == "catalog.dataset.import"))
    assert events == 1
    assert [p.name for p in (rt.settings.data_dir / "datasets").iterdir()] == ["1"]


def test_r28_flag_stops_operation(rt, zone_setup, tmp_path):
    _import(rt, write_csv(tmp_path / "d.csv"))
    with rt.store.transaction() as s:
        ds = cat.find_dataset(s, "people")
        cat.check_operable(ds)
        with pytest.raises(Invalid):
            cat.do_flag_r28(s, ds, reason="because", actor=os_actor())
        cat.do_flag_r28(s, ds, reason="agreement", note="采集协议约定不得开放", actor=os_actor())
    with rt.store.sessions() as s, pytest.raises(Forbidden) as e:
        cat.check_operable(cat.find_dataset(s, "people"))
    assert e.value.code == "r28_prohibited" and e.value.details["reason"] == "agreement"


def test_column_decisions_are_validated_and_recorded(rt, zone_setup, tmp_path):
    _import(rt, write_csv(tmp_path / "d.csv"))
    sec = Actor(name="user:secadmin", user_id=99)
    with rt.store.transaction() as s:
        ds = cat.find_dataset(s, "people")
        for bad in ({"role": "sum"}, {"bounds": (5.0, 1.0)}, {"bounds": (0.0, float("inf"))},
                    {"public_values": ["a", "a"]}, {}):
            with pytest.raises(Invalid):
                cat.do_set_column(s, ds, "金额", actor=sec, decides=True, **bad)
        cat.do_set_column(s, ds, "金额", actor=sec, role="measure", bounds=(0, 1000), basis="补贴政策上限",
                          decides=True)
    with rt.store.sessions() as s:
        doc = dataset_json(s, cat.find_dataset(s, "people"))
        decisions = s.scalars(select(Decision)).all()
    col = next(c for c in doc["columns"] if c["name"] == "金额")
    assert col["role"] == "measure" and col["bounds"] == [0.0, 1000.0]
    assert {(d.kind, d.decided_by) for d in decisions} == {("role", "user:secadmin"), ("bounds", "user:secadmin")}
    assert json.loads(decisions[1].value) == [0.0, 1000.0]


def test_destroying_the_key_shreds_every_copy(rt, zone_setup, tmp_path):
    ds = _import(rt, write_csv(tmp_path / "d.csv"))
    kept = rt.datasets.path(ds.id, 1).read_bytes()  # a copy someone kept (a backup)
    with rt.store.sessions() as s:
        key = cat.data_key(s, rt.keystore, rt.suite, cat.find_dataset(s, "people"))
    rt.datasets.read(ds.id, 1, key)  # cached in memory
    cache_key = (str(rt.settings.data_dir.resolve()), ds.id, 1)
    assert storage.CACHE.get(cache_key) is not None
    with rt.store.transaction() as s:
        cat.do_destroy(s, rt.datasets, cat.find_dataset(s, "people"), reason="协议到期，依 R-32 销毁",
                       actor=os_actor())
    assert not rt.datasets.path(ds.id, 1).exists() and storage.CACHE.get(cache_key) is None
    with rt.store.sessions() as s:
        with pytest.raises(Conflict):
            cat.data_key(s, rt.keystore, rt.suite, cat.find_dataset(s, "people"))
        assert dataset_json(s, cat.find_dataset(s, "people"))["encryption"]["destroyed"] is True
    from pdzone.dataplane.sealed import unseal

    with pytest.raises(DecryptionError):  # the kept copy cannot be opened with any key the platform still has
        unseal(rt.suite, rt.suite.new_data_key(), kept, context={"dataset": ds.id, "version": 1})


def test_import_a_table_of_a_departments_postgresql(rt, zone_setup, pg_server_url):
    from sqlalchemy import create_engine, text

    eng = create_engine(pg_server_url.replace("postgresql://", "postgresql+psycopg://"))
    with eng.begin() as c:
        c.execute(text("CREATE SCHEMA IF NOT EXISTS dept"))
        c.execute(text('DROP TABLE IF EXISTS dept."people"'))
        c.execute(text('CREATE TABLE dept.people ("姓名" text, "身份证号" text, "金额" numeric(10,2), "日期" date)'))
        c.execute(text("INSERT INTO dept.people VALUES ('张三', '11010519900307123X', 12.50, '2024-01-02'),"
                       " ('李四', '110105199003071000', 13.00, NULL)"))
    eng.dispose()
    ds = cat.import_dataset(rt.store, rt.keystore, rt.suite, rt.datasets, None, name="pg_people",
                            zone_code="zone_a", provider="市场监管局", actor=os_actor(),
                            postgres=(pg_server_url, "dept.people"))
    with rt.store.sessions() as s:
        doc = dataset_json(s, cat.find_dataset(s, "pg_people"))
        t = cat.load_table(s, rt.keystore, rt.suite, rt.datasets, cat.find_dataset(s, "pg_people"))
    assert doc["source_format"] == "postgresql" and doc["rows"] == 2 and ds.row_count == 2
    assert t.column("身份证号").to_pylist() == ["11010519900307123X", "110105199003071000"]
    with pytest.raises(Invalid):
        cat.import_dataset(rt.store, rt.keystore, rt.suite, rt.datasets, None, name="pg_none", zone_code="zone_a",
                           provider="市场监管局", actor=os_actor(), postgres=(pg_server_url, "dept.nope"))


def test_metadata_and_lineage(rt, zone_setup, tmp_path):
    _import(rt, write_csv(tmp_path / "a.csv"), name="raw_people")
    _import(rt, write_csv(tmp_path / "b.csv"), name="clean_people")
    with rt.store.transaction() as s:
        raw, clean = cat.find_dataset(s, "raw_people"), cat.find_dataset(s, "clean_people")
        cat.do_edit_metadata(s, clean, actor=os_actor(), title_en="People", sector="social_security",
                             update_frequency="monthly", columns={"金额": {"unit": "元", "description": "缴费额"}})
        with pytest.raises(Invalid):
            cat.do_edit_metadata(s, clean, actor=os_actor(), sector="gossip")
        cat.do_link(s, clean, raw, note="清洗去重", actor=os_actor())
        with pytest.raises(Invalid):
            cat.do_link(s, raw, clean, actor=os_actor())  # a cycle
    with rt.store.sessions() as s:
        doc = dataset_json(s, cat.find_dataset(s, "clean_people"))
        raw_doc = dataset_json(s, cat.find_dataset(s, "raw_people"))
    assert doc["sector"] == "social_security" and doc["title_en"] == "People"
    assert next(c for c in doc["columns"] if c["name"] == "金额")["unit"] == "元"
    assert doc["lineage"]["derived_from"] == ["raw_people"] and raw_doc["lineage"]["products"] == ["clean_people"]


def test_reserved_names_are_refused():
    for name in ("import", "pending"):
        with pytest.raises(Invalid):
            cat.check_name(name)


def test_masking_policy_is_editable_per_column_and_checked(rt, zone_setup, tmp_path):
    from pdzone.egress.gate import policies_for

    rows = [(n, f.id_number(), f.mobile(), "12", "2024-01-02") for n in ["张三", "李四", "王五", "赵六"] * 10]
    _import(rt, write_csv(tmp_path / "d.csv", rows=rows), level=1, basis="一级")
    with rt.store.transaction() as s:
        ds = cat.find_dataset(s, "people")
        cat.do_scan(s, rt.keystore, rt.suite, rt.datasets, ds, actor=os_actor())
    with rt.store.transaction() as s:
        ds = cat.find_dataset(s, "people")
        cat.do_set_column(s, ds, "姓名", actor=os_actor(), mask_policy={"op": "partial", "keep_first": 1},
                          basis="仅保留姓氏")
        with pytest.raises(Invalid):  # a detected identifier can never be kept raw
            cat.do_set_column(s, ds, "身份证号", actor=os_actor(), mask_policy={"op": "keep"})
    with rt.store.sessions() as s:
        _, policies = policies_for(s, cat.find_dataset(s, "people"))
    assert policies["姓名"].op == "partial" and policies["姓名"].keep_first == 1
