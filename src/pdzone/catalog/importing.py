"""Reading what departments send: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030), Parquet, Excel (.xlsx).

Every value is read as text first and a column becomes numeric or a date only when every value
parses as one without losing anything: identifiers such as ID numbers, USCCs and phone numbers
(long digit strings, leading zeros, a trailing X) always stay text.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pdzone.errors import Invalid

_INT = r"^-?(0|[1-9][0-9]{0,14})$"          # at most 15 digits, no leading zero: a quantity, not a code
_FLOAT = r"^-?(0|[1-9][0-9]{0,14})(\.[0-9]+)?$"
_DATE = r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
_NAME = re.compile(r"^[^\x00-\x1f\"]{1,200}$")


@dataclass
class Source:
    table: pa.Table
    format: str
    encoding: str | None


def _bad(zh: str, en: str, **details) -> Invalid:
    return Invalid(zh, en, code="bad_import_file", details=details)


@dataclass(frozen=True)
class Limits:
    """What one import may read (PDZONE_IMPORT_*): checked before parsing where the file says it (zip members,
    Parquet metadata, file size), and again while reading (rows, cells, working memory)."""

    max_rows: int = 10_000_000
    max_columns: int = 1_000
    max_cells: int = 200_000_000
    max_uncompressed: int = 512 * 1024 * 1024
    max_ratio: float = 100.0
    memory: int = 2 * 10**9

    @classmethod
    def from_settings(cls, settings) -> Limits:
        from pdzone.config import memory_bytes

        return cls(max_rows=settings.import_max_rows, max_columns=settings.import_max_columns,
                   max_cells=settings.import_max_cells,
                   max_uncompressed=settings.import_max_uncompressed_bytes, max_ratio=settings.import_max_ratio,
                   memory=memory_bytes(settings.import_memory_limit))

    def check_columns(self, columns: int) -> None:
        """Checked from the header (CSV, xlsx), the metadata (Parquet) or the catalog (PostgreSQL) before any
        data row is read: a wide file costs per column in every later step (typing, sealing, the PII scan)."""
        if columns > self.max_columns:
            raise Invalid(f"文件的列数（{columns}）超过上限 {self.max_columns} 列", f"the file has {columns} "
                          f"columns, more than the limit of {self.max_columns}", code="import_too_many_columns",
                          status=413, details={"limit": self.max_columns, "columns": columns})

    def check_rows(self, rows: int, columns: int) -> None:
        if rows > self.max_rows:
            raise Invalid(f"文件的数据行超过上限 {self.max_rows} 行", f"the file has more than {self.max_rows} data "
                          "rows, the limit", code="import_too_many_rows", status=413,
                          details={"limit": self.max_rows})
        if rows * columns > self.max_cells:
            raise Invalid(f"文件的单元格数（行数×列数）超过上限 {self.max_cells}",
                          f"the file has more than {self.max_cells} cells (rows × columns), the limit",
                          code="import_too_many_cells", status=413, details={"limit": self.max_cells})

    def check_size(self, size: int, what: str) -> None:
        """`size` bytes of `what` (uncompressed content, or estimated working memory) against their limit."""
        limit = self.memory if what == "memory" else self.max_uncompressed
        if size > limit:
            zh = "导入所需内存" if what == "memory" else "文件解压后的内容"
            raise Invalid(f"{zh}（约 {size} 字节）超过上限 {limit} 字节；请拆分文件",
                          f"the file's {'working memory' if what == 'memory' else 'uncompressed content'} "
                          f"(about {size} bytes) exceeds the limit of {limit} bytes: split the file",
                          code="import_too_large", status=413, details={"limit": limit, "size": size, "what": what})


DEFAULT_LIMITS = Limits()
#: Working memory of a CSV import per byte of file: the text, its offsets, and the typed copies.
_CSV_MEMORY_FACTOR = 3
#: Working memory per column of any import, beyond its values: Arrow arrays and buffers per batch, the typing
#: pass's intermediate arrays, the catalog's column rows and the PII scan's per-column expressions.
_COLUMN_MEMORY = 256 * 1024
#: Working memory of an xlsx cell read as text: a Python string and its list slot, beyond the text itself.
_CELL_OVERHEAD = 64


def detect_encoding(head: bytes) -> str:
    """utf-8-sig (BOM), utf-8, or gb18030 (a superset of GBK), decided on the first megabytes."""
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as e:
        if len(head) - e.start < 4 and e.reason == "unexpected end of data":
            return "utf-8"  # a character cut at the end of the sample
    try:
        head.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError:
        # the sample may end inside a two-byte character
        try:
            head[:-1].decode("gb18030")
            return "gb18030"
        except UnicodeDecodeError as e:
            raise _bad("无法识别文件编码（支持 UTF-8 与 GBK/GB18030）",
                       "cannot tell the file's encoding (UTF-8 and GBK/GB18030 are supported)",
                       byte_offset=e.start) from e


def _check_names(names: list[str]) -> list[str]:
    clean = [n.strip() for n in names]
    for i, n in enumerate(clean):
        if not n or not _NAME.match(n):
            raise _bad(f"第 {i + 1} 列的列名为空或含非法字符", f"column {i + 1} has an empty or invalid name",
                       column=i + 1)
    dup = sorted(n for n, c in Counter(clean).items() if c > 1)[:20]
    if dup:
        raise _bad(f"列名重复：{', '.join(dup)}", f"duplicate column names: {', '.join(dup)}", columns=dup)
    return clean


def infer_types(table: pa.Table) -> pa.Table:
    """Turn all-text columns into int64 / float64 / date32 where every non-empty value allows it.

    Digit strings that all have one width of six or more (phone, postal and account numbers) are
    codes and stay text.
    """
    cols = []
    for name in table.column_names:
        col = table[name]
        if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
            cols.append(col)
            continue
        col = pc.if_else(pc.equal(pc.utf8_trim_whitespace(col), ""), pa.scalar(None, col.type), col)
        present = pc.drop_null(col)
        if len(present) == 0:
            cols.append(col)
            continue
        width = pc.min_max(pc.utf8_length(present)).as_py()
        digits = pc.all(pc.match_substring_regex(present, r"^[0-9]+$")).as_py()
        if digits and width["min"] == width["max"] >= 6:
            cols.append(col)  # digit strings all of one width (phone, postal, account numbers) are codes
            continue
        for pattern, target in ((_INT, pa.int64()), (_FLOAT, pa.float64()), (_DATE, pa.date32())):
            if pc.all(pc.match_substring_regex(present, pattern)).as_py():
                try:
                    col = pc.cast(col, target)
                except pa.ArrowInvalid:  # e.g. 2023-02-30
                    continue
                break
        cols.append(col)
    return pa.table(cols, names=table.column_names)


_CSV_HEAD = 4 * 1024 * 1024


def _csv_header(path: Path, limits: Limits) -> tuple[str, list[str]]:
    """The encoding and the header's fields, from the file's first megabytes: the column cap and the working
    memory (which grows with the columns) are checked here, before any row is parsed."""
    size = path.stat().st_size
    limits.check_size(size * _CSV_MEMORY_FACTOR, "memory")
    with path.open("rb") as f:
        head = f.read(_CSV_HEAD)
    enc = detect_encoding(head)
    line, newline, _ = head.partition(b"\n")
    first = line.decode(enc, errors="replace" if not newline else "strict").rstrip("\r")
    fields = next(csv.reader([first]), [])
    limits.check_columns(len(fields))
    if not newline and size > len(head):
        raise _bad(f"CSV 表头行超过 {_CSV_HEAD} 字节", f"the CSV header line is longer than {_CSV_HEAD} bytes")
    limits.check_size(size * _CSV_MEMORY_FACTOR + len(fields) * _COLUMN_MEMORY, "memory")
    return enc, fields


def check_structure(path: Path, limits: Limits = DEFAULT_LIMITS, *, suffix: str | None = None) -> None:
    """What can be refused from a file's structure alone, at once when it is uploaded (the import checks
    again): a workbook that would expand too far, a CSV header or Parquet schema with too many columns."""
    suffix = (suffix or path.suffix).lower()
    if suffix == ".xlsx":
        check_xlsx(path, limits)
    elif suffix in (".csv", ".txt"):
        _csv_header(path, limits)
    elif suffix == ".parquet":
        try:
            meta = pq.ParquetFile(path).metadata
        except (pa.ArrowInvalid, OSError) as e:
            raise _bad("无法读取 Parquet 文件", f"cannot read the Parquet file: {str(e)[:200]}") from e
        limits.check_columns(meta.num_columns)
        limits.check_rows(meta.num_rows, meta.num_columns)


def read_csv(path: Path, limits: Limits = DEFAULT_LIMITS) -> Source:
    enc, fields = _csv_header(path, limits)
    names = _check_names(fields)
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(encoding="utf-8" if enc == "utf-8-sig" else enc, skip_rows=1,
                                           column_names=names, block_size=8 << 20),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
        batches, rows = [], 0
        for batch in reader:  # the caps are checked as the rows arrive, not after all are in memory
            rows += batch.num_rows
            limits.check_rows(rows, len(names))
            batches.append(batch)
        table = pa.Table.from_batches(batches, schema=reader.schema)
    except (pa.ArrowInvalid, UnicodeDecodeError) as e:
        msg = str(e).splitlines()[0][:300]
        line = _first_bad_line(path, enc, len(names))
        raise _bad(f"CSV 文件格式错误{f'（第 {line} 行）' if line else ''}：{msg}",
                   f"malformed CSV{f' (line {line})' if line else ''}: {msg}", line=line) from e
    return Source(infer_types(table), "csv", enc.replace("-sig", "-bom"))


def _first_bad_line(path: Path, enc: str, ncols: int) -> int | None:
    """Only on the error path: the first line whose field count differs from the header's."""
    try:
        with path.open(encoding=enc, newline="") as f:
            for i, row in enumerate(csv.reader(f), start=1):
                if row and len(row) != ncols:
                    return i
    except (UnicodeDecodeError, csv.Error):
        return None
    return None


def read_parquet(path: Path, limits: Limits = DEFAULT_LIMITS) -> Source:
    try:
        meta = pq.ParquetFile(path).metadata  # what the file says it holds, checked before any row is read
    except (pa.ArrowInvalid, OSError) as e:
        raise _bad("无法读取 Parquet 文件", f"cannot read the Parquet file: {str(e)[:200]}") from e
    limits.check_columns(meta.num_columns)
    limits.check_rows(meta.num_rows, meta.num_columns)
    uncompressed = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    limits.check_size(uncompressed, "uncompressed")
    # the decoded columns and their typed copies, and the per-column overhead
    limits.check_size(uncompressed * 2 + meta.num_columns * _COLUMN_MEMORY, "memory")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise _bad("无法读取 Parquet 文件", f"cannot read the Parquet file: {str(e)[:200]}") from e
    _check_names(table.column_names)
    return Source(infer_types(table), "parquet", None)


def check_xlsx(path: Path, limits: Limits = DEFAULT_LIMITS) -> None:
    """Refuse a workbook whose members would expand too far (a zip bomb) from the archive's directory alone,
    before any of it is decompressed. The sizes the directory states are binding: Python's zipfile stops a
    member at its stated size and fails its checksum if it holds more."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            members = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise _bad("无法读取 Excel 文件（须为 .xlsx）", f"cannot read the Excel workbook: {str(e)[:200]}") from e
    total = 0
    for m in members:
        total += m.file_size
        ratio = m.file_size / max(m.compress_size, 1)
        if m.file_size > 1024 * 1024 and ratio > limits.max_ratio:
            raise Invalid(f"Excel 文件的压缩比异常（{ratio:.0f} 倍，上限 {limits.max_ratio:.0f} 倍），疑为压缩炸弹，"
                          "已拒绝", f"the workbook's member {m.filename[:100]} expands {ratio:.0f} times (the "
                          f"limit is {limits.max_ratio:.0f}): refused as a possible zip bomb",
                          code="import_compression_ratio", status=422,
                          details={"member": m.filename[:100], "ratio": round(ratio), "limit": limits.max_ratio})
    limits.check_size(total, "uncompressed")


def read_xlsx(path: Path, limits: Limits = DEFAULT_LIMITS) -> Source:
    from openpyxl import load_workbook

    check_xlsx(path, limits)
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many kinds for a broken workbook
        raise _bad("无法读取 Excel 文件（须为 .xlsx）", f"cannot read the Excel workbook: {str(e)[:200]}") from e
    try:
        ws = wb.worksheets[0]
        # read-only mode trusts the sheet's stored <dimension>, which other programs often leave stale (it
        # would cut rows and columns silently): read the sheet's real extent instead
        ws.reset_dimensions()
        rows = ws.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise _bad("Excel 工作表为空", "the worksheet is empty")
        limits.check_columns(len(header))
        names = _check_names(["" if h is None else str(h) for h in header])
        data: list[list[str | None]] = [[] for _ in names]
        memory = len(names) * _COLUMN_MEMORY
        for r, row in enumerate(rows, start=2):
            if len(row) > len(names) and any(v is not None for v in row[len(names):]):
                raise _bad(f"第 {r} 行的列数多于表头", f"row {r} has more cells than the header", line=r)
            for i in range(len(names)):
                v = row[i] if i < len(row) else None
                text = None if v is None else _cell_text(v)
                memory += _CELL_OVERHEAD + (len(text) if text else 0)
                data[i].append(text)
            if r % 4096 == 0:
                limits.check_rows(r - 1, len(names))
                limits.check_size(memory, "memory")
        limits.check_rows(len(data[0]) if data else 0, len(names))
        limits.check_size(memory, "memory")
    finally:
        wb.close()
    table = pa.table({n: pa.array(col, pa.string()) for n, col in zip(names, data, strict=True)})
    return Source(infer_types(table), "xlsx", None)


def _cell_text(v) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    if hasattr(v, "date") and callable(v.date) and getattr(v, "hour", 0) == 0 and getattr(v, "minute", 0) == 0:
        return v.date().isoformat()
    return str(v)


READERS = {".csv": read_csv, ".txt": read_csv, ".parquet": read_parquet, ".xlsx": read_xlsx}


def read_source(path: Path, limits: Limits | None = None) -> Source:
    """Read a department's file by its extension; a bad file gets a clear error naming row or column, and one
    beyond the `limits` (by default the PDZONE_IMPORT_* settings) a 413 (`import_too_large`,
    `import_too_many_rows`, …) before it fills the memory."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise Invalid(f"不支持的文件类型：{path.suffix}（支持 .csv .parquet .xlsx）",
                      f"unsupported file type {path.suffix} (use .csv, .parquet or .xlsx)", code="unsupported_format")
    if not path.is_file():
        raise Invalid(f"找不到文件：{path}", f"no such file: {path}", code="file_not_found")
    if limits is None:
        from pdzone.config import get_settings

        limits = Limits.from_settings(get_settings())
    src = reader(path, limits)
    if src.table.num_rows == 0:
        raise _bad("文件没有数据行", "the file has no data rows")
    return src


def read_postgres(url: str, table: str, *, batch: int = 50_000, limits: Limits | None = None) -> Source:
    """A table of a department's PostgreSQL database (`schema.table` or `table`), read in batches."""
    from sqlalchemy import MetaData, Table, create_engine, select
    from sqlalchemy.exc import NoSuchTableError, SQLAlchemyError

    schema, _, name = table.rpartition(".")
    if not name or not _NAME.match(name) or (schema and not _NAME.match(schema)):
        raise Invalid("表名无效", f"invalid table name {table!r}", code="bad_import_file")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if not url.startswith("postgresql+psycopg://"):
        raise Invalid("只支持 PostgreSQL 数据库地址", "only PostgreSQL URLs are supported", code="unsupported_format")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            t = Table(name, MetaData(), schema=schema or None, autoload_with=conn)
            if limits is None:
                from pdzone.config import get_settings

                limits = Limits.from_settings(get_settings())
            limits.check_columns(len(t.columns))  # from the catalog, before any row is read
            names = _check_names([c.name for c in t.columns])
            cols: list[list] = [[] for _ in names]
            result = conn.execution_options(stream_results=True, yield_per=batch).execute(select(t))
            for row in result:
                for i, v in enumerate(row):
                    cols[i].append(v)
    except NoSuchTableError as e:
        raise Invalid(f"找不到表：{table}", f"no table {table}", code="bad_import_file") from e
    except SQLAlchemyError as e:
        raise Invalid("无法读取 PostgreSQL 表", f"cannot read the PostgreSQL table: {str(e).splitlines()[0][:200]}",
                      code="bad_import_file") from e
    finally:
        engine.dispose()
    arrays = []
    for values in cols:
        try:
            arrays.append(pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays.append(pa.array([None if v is None else str(v) for v in values], pa.string()))
    return Source(infer_types(pa.table(arrays, names=names)), "postgresql", None)
