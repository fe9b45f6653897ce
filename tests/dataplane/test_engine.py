"""The in-memory engine cannot reach files or change its own settings."""

import duckdb
import pyarrow as pa
import pytest

from pdzone.dataplane.engine import quote_ident, with_tables


def test_engine_reads_registered_tables_only():
    con = with_tables({"people": pa.table({"姓名": ["张三"], "金额": [3]})})
    assert con.sql(f"select {quote_ident('金额')} from people").fetchall() == [(3,)]
    for sql in ("select * from read_csv('/etc/passwd')", "copy people to '/tmp/leak.csv'",
                "install httpfs", "attach '/tmp/x.db' as x"):
        with pytest.raises(duckdb.Error):
            con.execute(sql)
    with pytest.raises(duckdb.Error):
        con.execute("SET enable_external_access = true")
    assert con.execute("select current_setting('temp_directory')").fetchone() == ("",)


def test_quote_ident_escapes_quotes():
    odd = 'a"b'
    con = with_tables({"t": pa.table({odd: [1]})})
    assert quote_ident(odd) == '"a""b"'
    assert con.execute(f"select {quote_ident(odd)} from t").fetchone() == (1,)
