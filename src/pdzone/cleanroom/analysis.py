"""Analysis: parse a partner's SQL, resolve it against the granted datasets only, check it by level.

The result is a `Plan`: which datasets and columns are read, what each output column is (a group
key, or an aggregate over a source column), the filter and the joins, all as checked sqlglot trees
from which the rewriter regenerates the SQL that actually runs. Nothing here touches data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from pdzone.cleanroom import allow
from pdzone.cleanroom.allow import refuse
from pdzone.errors import BadRequest
from pdzone.protect.detect.pii import DIRECT_IDENTIFIERS, PiiType

MAX_SQL = 20_000
# detected types that name a person on their own (GB/T 37964 直接标识符), and the address, which the
# detector files as a quasi-identifier but which is as good as a name for filtering one household
DIRECT_IDENTIFIER_TYPES = frozenset({*(str(t) for t in DIRECT_IDENTIFIERS), str(PiiType.address)})
MAX_GROUP_COLUMNS = 5
MAX_OUTPUTS = 50


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str
    role: str | None
    bounds: tuple[float, float] | None
    public_values: tuple | None
    pii_type: str | None


@dataclass
class TableInfo:
    """A granted dataset as the analysis sees it (metadata only)."""

    name: str
    dataset_id: int
    version: int
    level: int
    privacy_unit: str | None
    max_contributions: int
    columns: dict[str, ColumnInfo]


@dataclass
class Output:
    name: str
    kind: str                       # group | column | count | count_distinct | sum | avg | quantile
    expr: exp.Expression            # group key / row column: the checked expression; aggregate: its argument
    group_index: int | None = None
    column: tuple[str, str] | None = None   # (alias, column) when the argument is a bare column
    bounds: tuple[float, float] | None = None
    q: float | None = None


@dataclass
class Plan:
    kind: str                       # rows | aggregate
    level: int
    tables: dict[str, TableInfo]    # alias -> dataset
    outputs: list[Output]
    group_by: list[exp.Expression]
    group_public: list[tuple | None]
    where: exp.Expression | None
    joins: list[tuple[str, exp.Expression]]  # (alias, ON condition)
    order: list[tuple[int, bool]]   # (output index, descending)
    limit: int | None
    normalized: str = ""
    sources: dict[str, list[str]] = field(default_factory=dict)  # output -> source columns reaching it
    # the SQL date/time type of each group key (None: not a date), and of each row output by index:
    # the rewriter makes those NULL outside years 1-9999, so converting them to Python cannot fail
    group_time: list[str | None] = field(default_factory=list)
    output_time: dict[int, str] = field(default_factory=dict)

    @property
    def datasets(self) -> list[TableInfo]:
        return list(self.tables.values())

    @property
    def single(self) -> bool:
        return len(self.tables) == 1

    def key(self) -> str:
        return hashlib.sha256(self.normalized.encode()).hexdigest()


def parse(sql: str) -> exp.Select:
    if not sql or not sql.strip():
        raise BadRequest("请输入 SQL 查询", "write a SQL query", code="sql_empty")
    if len(sql) > MAX_SQL:
        raise BadRequest(f"SQL 不能超过 {MAX_SQL} 个字符", f"SQL is at most {MAX_SQL} characters", code="sql_too_long")
    try:
        _check_nesting(_DUCKDB.tokenize(sql))
        trees = [t for t in sqlglot.parse(sql, read="duckdb") if t is not None]
    except (ParseError, TokenError) as e:
        raise BadRequest("SQL 语法错误", f"SQL syntax error: {str(e).splitlines()[0][:300]}", code="sql_syntax") from e
    except RecursionError:  # belt and braces: the token check keeps the parser far from Python's limit
        raise too_complex() from None
    if len(trees) != 1:
        raise BadRequest("一次只能提交一条 SELECT 语句",
                         "submit exactly one SELECT statement", code="sql_one_statement")
    tree = trees[0]
    if not isinstance(tree, exp.Select):
        raise refuse("只允许 SELECT 查询", "only a SELECT query is allowed", "sql_not_allowed",
                     construct=tree.key.upper())
    for node in tree.walk():  # comments never reach the engine, nor tell two equal queries apart
        node.comments = None
    if _depth(tree) > MAX_TREE_DEPTH:
        raise too_complex()
    return tree


# Nesting is bounded before the parser runs: sqlglot's parser (and everything after it that walks the
# tree) recurses once per level, and 3,000 nested NOTs overflowed Python's stack (a 500 and a traceback
# thousands of lines long). Measured on tokens: open parentheses and CASEs, plus a run of prefix
# operators (NOT NOT ..., - - ...); then, on the tree, its depth (a long AND chain is a deep tree).
MAX_NESTING = 32
MAX_TREE_DEPTH = 80
_DUCKDB = sqlglot.Dialect.get_or_raise("duckdb")
_T_OPEN = {TokenType.L_PAREN, TokenType.CASE}
_T_CLOSE = {TokenType.R_PAREN, TokenType.END}
_T_PREFIX = {TokenType.NOT, TokenType.DASH, TokenType.PLUS, TokenType.TILDE}


def too_complex() -> BadRequest:
    return BadRequest(f"查询嵌套过深（括号、CASE、NOT 等不超过 {MAX_NESTING} 层，语法树不超过 {MAX_TREE_DEPTH} 层）",
                      f"the query is nested too deeply (at most {MAX_NESTING} levels of parentheses, CASE, NOT ..., "
                      f"and a syntax tree at most {MAX_TREE_DEPTH} deep)", code="query_too_complex",
                      details={"max_nesting": MAX_NESTING, "max_depth": MAX_TREE_DEPTH})


def _check_nesting(tokens) -> None:
    depth = run = 0
    for tok in tokens:
        t = tok.token_type
        if t in _T_PREFIX:
            run += 1
        else:
            run = 0
            if t in _T_OPEN:
                depth += 1
            elif t in _T_CLOSE:
                depth = max(0, depth - 1)
        if depth + run > MAX_NESTING:
            raise too_complex()


def _depth(tree: exp.Expression) -> int:
    """The tree's depth, without recursion (stops counting past the limit)."""
    best, stack = 0, [(tree, 1)]
    while stack:
        node, d = stack.pop()
        best = max(best, d)
        if best > MAX_TREE_DEPTH:
            break
        stack.extend((c, d + 1) for c in node.iter_expressions())
    return best


def _ident(node: exp.Expression | None) -> str | None:
    return node.name if node is not None else None


class _Resolver:
    def __init__(self, tables: dict[str, TableInfo]) -> None:
        self.tables = tables

    def column(self, col: exp.Column) -> tuple[str, ColumnInfo]:
        name, qual = col.name, col.table
        if qual:
            t = self.tables.get(qual)
            if t is None:
                raise refuse(f"未知的表或别名：{qual}", f"unknown table or alias: {qual}", "unknown_table", table=qual)
            c = t.columns.get(name)
            if c is None:
                raise refuse(f"{t.name} 没有列 {name}", f"{t.name} has no column {name}", "unknown_column", column=name)
            return qual, c
        hits = [(a, t.columns[name]) for a, t in self.tables.items() if name in t.columns]
        if not hits:
            raise refuse(f"找不到列：{name}",
                         f"no column {name} in the granted datasets", "unknown_column", column=name)
        if len(hits) > 1:
            raise refuse(f"列 {name} 有歧义，请加表名", f"column {name} is ambiguous: qualify it", "ambiguous_column",
                         column=name)
        return hits[0]


def _columns_in(e: exp.Expression) -> list[exp.Column]:
    return list(e.find_all(exp.Column))


def _is_aggregate(e: exp.Expression) -> bool:
    return any(isinstance(n, tuple(allow.AGGREGATES)) and not isinstance(n, exp.Star | exp.Distinct)
               for n in e.walk())


def _rewrite_safe(tree: exp.Expression) -> exp.Expression:
    """Expressions that cannot fail on data: every cast a TRY_CAST, every division by NULLIF(d, 0).

    Innermost first, every node: sqlglot's `transform` does not descend into what it has just
    replaced, which left the inner cast of CAST(CAST(x AS INTEGER) AS SMALLINT) a plain CAST."""
    for node in reversed(list(tree.find_all(exp.Cast, exp.Div))):   # breadth-first, reversed
        if isinstance(node, exp.Div):
            node.set("expression", exp.Nullif(this=node.expression, expression=exp.Literal.number(0)))
        elif not isinstance(node, exp.TryCast):
            node.replace(exp.TryCast(this=node.this, to=node.args["to"]))
    return tree


# Any error the engine raises while a query runs is an oracle: in `WHERE <a filter that singles out
# one person> AND <an expression that fails on any row>` the engine evaluates the second conjunct only
# on rows that pass the first, so the query fails exactly when that person exists. So whether a
# query can fail is decided here, from the query and the schema alone, by construction:
#
# - every operand has a kind known from the schema (text, number, boolean, date/time); an operator or
#   function that would have the engine convert or interpret a value at run time (text compared with a
#   number, a date or a boolean; a condition that is text; arithmetic on anything but numbers; a
#   string function on a number; a date function on text) is refused;
# - every argument that an engine parses or interprets when the query runs is a literal checked here:
#   LIKE patterns (no escape character), date-truncation units, the ranges of SUBSTRING and ROUND, a
#   string literal meeting a date, a number or a boolean (it must be one), numeric literals (bounded);
# - arithmetic and sums run in DOUBLE (PostgreSQL: NUMERIC, see engine_postgres: its DOUBLE raises on
#   overflow and underflow), divisions by NULLIF(d, 0);
# - a cast is allowed only where its success does not depend on the value, or where it is made total:
#   to text from anything; between numbers (PostgreSQL: to an integer type through a clamp that turns
#   what does not fit into NULL); text to a number as TRY_CAST (PostgreSQL: a regular-expression guard);
#   between date types; anything else (text to a date or a boolean, a boolean or a date to a number ...)
#   is refused;
# - a date released as a group key or a row value is NULL outside the years 1-9999 (Python's range).
_TEXT, _NUM, _BOOL, _TIME, _NULL, _STRLIT, _OTHER = "text", "number", "bool", "time", "null", "strlit", "other"
_T = exp.DataType.Type
_TEXT_TYPES = {_T.VARCHAR, _T.TEXT, _T.CHAR, _T.NVARCHAR, _T.NCHAR}
# integer cast targets and their ranges (unsigned types are refused: PostgreSQL has none)
_INT_RANGES = {_T.TINYINT: (-2**7, 2**7 - 1), _T.SMALLINT: (-2**15, 2**15 - 1), _T.INT: (-2**31, 2**31 - 1),
               _T.BIGINT: (-2**63, 2**63 - 1)}
_REAL_TYPES = {_T.DOUBLE, _T.FLOAT, _T.DECIMAL}
_TIME_TYPES = {_T.DATE, _T.TIMESTAMP, _T.TIMESTAMPNTZ, _T.TIMESTAMPTZ, _T.TIME}  # DuckDB: TIMESTAMP is NTZ
MAX_INT_ARG = 1_000_000
MAX_ROUND_DIGITS = 300
MAX_LITERAL = 1e308          # |numeric literal| at most this, and 0 or at least its inverse
MAX_LITERAL_CHARS = 100
# marks a TRY_CAST whose operand is text (PostgreSQL renders it with a regular-expression guard)
TEXT_SOURCE = "pdzone_text_source"


def _column_kind(type_name: str) -> tuple[str, str | None]:
    """A catalog column type (Arrow's name, or an engine's) as a kind and, for dates, its SQL type."""
    t = type_name.lower()
    if t in ("string", "large_string", "utf8", "large_utf8", "string_view", "varchar", "text") \
            or t.startswith("dictionary<values=string"):
        return _TEXT, None
    if t in ("bool", "boolean"):
        return _BOOL, None
    if t.startswith(("int", "uint", "float", "double", "halffloat", "decimal", "bigint", "smallint", "tinyint",
                     "hugeint", "real", "numeric")):
        return _NUM, None
    if t.startswith("date"):
        return _TIME, "DATE"
    if t.startswith("timestamp"):
        return _TIME, "TIMESTAMPTZ" if "tz=" in t or "with time zone" in t else "TIMESTAMP"
    if t.startswith("time"):
        return _TIME, "TIME"
    return _OTHER, None


def _type_kind(dt: exp.DataType) -> tuple[str, str | None]:
    if dt.is_type(*exp.DataType.TEXT_TYPES):
        return _TEXT, None
    if dt.is_type(_T.BOOLEAN):
        return _BOOL, None
    if dt.is_type(*exp.DataType.NUMERIC_TYPES):
        return _NUM, None
    if dt.is_type(*exp.DataType.TEMPORAL_TYPES):
        return _TIME, dt.sql("duckdb")
    return _OTHER, None


def _kind(e: exp.Expression, res: _Resolver) -> tuple[str, str | None]:
    while isinstance(e, exp.Paren):
        e = e.this
    if isinstance(e, exp.Column):
        return _column_kind(res.column(e)[1].type)
    if isinstance(e, exp.Literal):
        return (_STRLIT, None) if e.is_string else (_NUM, None)
    if isinstance(e, exp.Boolean):
        return _BOOL, None
    if isinstance(e, exp.Null):
        return _NULL, None
    if isinstance(e, exp.Cast):
        return _type_kind(e.args["to"])
    if isinstance(e, exp.Lower | exp.Upper | exp.Substring):
        return _TEXT, None
    if isinstance(e, exp.TimestampTrunc | exp.DateTrunc):
        return _TIME, "TIMESTAMP"
    if isinstance(e, exp.Predicate | exp.Connector | exp.Not):
        return _BOOL, None
    if isinstance(e, exp.Coalesce | exp.Case | exp.If):
        return _common([_kind(b, res) for b in _branches(e)])
    if isinstance(e, exp.Neg | exp.Abs | exp.Round | exp.Floor | exp.Ceil | exp.Add | exp.Sub | exp.Mul | exp.Div
                  | exp.Length | exp.Year | exp.Month | exp.Day | exp.AggFunc):
        return _NUM, None
    return _OTHER, None


def _common(kinds: list[tuple[str, str | None]]) -> tuple[str, str | None]:
    cats = {k for k, _ in kinds}
    if _NUM in cats:
        return _NUM, None
    if _TIME in cats:
        types = {t for k, t in kinds if k == _TIME}
        return _TIME, types.pop() if len(types) == 1 else "TIMESTAMP"
    for k in (_BOOL, _TEXT, _OTHER):
        if k in cats:
            return k, None
    return (_TEXT, None) if _STRLIT in cats else (_NULL, None)


def _branches(e: exp.Expression) -> list[exp.Expression]:
    if isinstance(e, exp.Coalesce):
        return [e.this, *e.expressions]
    if isinstance(e, exp.Case):
        out = [i.args["true"] for i in e.args.get("ifs") or []]
        return out + ([e.args["default"]] if e.args.get("default") is not None else [])
    return [b for b in (e.args.get("true"), e.args.get("false")) if b is not None]


def _int_literal(e: exp.Expression) -> int | None:
    sign = 1
    while isinstance(e, exp.Paren | exp.Neg):
        sign = -sign if isinstance(e, exp.Neg) else sign
        e = e.this
    if isinstance(e, exp.Literal) and not e.is_string and str(e.this).isdigit():
        return sign * int(e.this)
    return None


_DOUBLE_RESULTS = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Abs, exp.Floor, exp.Ceil, exp.Round, exp.Neg)


def _try_cast(e: exp.Expression, to: str) -> exp.Expression:
    """Replace `e` in its parent by TRY_CAST(e AS to), unless it already is one or already of that type."""
    if (isinstance(e, exp.TryCast) and e.args["to"].sql("duckdb") == to) or (to == "DOUBLE" and isinstance(
            e, _DOUBLE_RESULTS) and not (isinstance(e, exp.Neg) and _int_literal(e) is not None)):
        return e
    new = exp.TryCast(this=e.copy(), to=exp.DataType.build(to, dialect="duckdb"))
    e.replace(new)
    return new


def _mismatch(zh: str, en: str) -> Exception:
    return refuse(zh, en, "type_mismatch")


_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIMESTAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?")
_TIME_RE = re.compile(r"\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?")


def _valid_time_literal(text: str, sql_type: str) -> bool:
    """A date/time literal every engine reads the same way (ISO 8601, years 1-9999), checked in Python."""
    try:
        if sql_type == "DATE":
            return bool(_DATE_RE.fullmatch(text)) and dt.date.fromisoformat(text) is not None
        if sql_type == "TIME":
            return bool(_TIME_RE.fullmatch(text)) and dt.time.fromisoformat(text) is not None
        return bool(_TIMESTAMP_RE.fullmatch(text)) and dt.datetime.fromisoformat(text) is not None
    except ValueError:
        return False


def _number_literal(text: str) -> exp.Literal | None:
    """A string literal that is a plain decimal number, as a numeric literal (None if it is not one)."""
    t = text.strip()
    if not re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d{1,3})?", t) or len(t) > MAX_LITERAL_CHARS:
        return None
    return exp.Literal.number(t.lstrip("+"))


def _check_number_literal(e: exp.Literal) -> None:
    text = str(e.this)
    try:
        v = abs(float(text))
    except ValueError:
        v = math.inf
    wide_int = text.isdigit() and len(text.lstrip("0")) > 38     # beyond DuckDB's HUGEINT
    if len(text) > MAX_LITERAL_CHARS or not math.isfinite(v) or v > MAX_LITERAL or (0 < v < 1 / MAX_LITERAL) \
            or wide_int:
        raise refuse(f"数字常量须在 ±{MAX_LITERAL:g} 之内（且不超过 {MAX_LITERAL_CHARS} 个字符）",
                     f"a numeric literal must lie within ±{MAX_LITERAL:g} (and be at most {MAX_LITERAL_CHARS} "
                     "characters)", "sql_not_allowed", construct="literal")


def _make_total(tree: exp.Select, res: _Resolver) -> None:
    """Rewrite (in place) every expression of the query but its joins so that it cannot fail on data."""

    def literal_as(o: exp.Expression, common: str, ttype: str | None, *, wrap: bool = True) -> None:
        """A string literal where a number, a boolean or a date is expected: it must be one."""
        lit = o
        while isinstance(lit, exp.Paren):
            lit = lit.this
        text = str(lit.this)
        if common == _NUM:
            num = _number_literal(text)
            if num is None:
                raise _mismatch(f"'{text[:40]}' 不是数字", f"'{text[:40]}' is not a number")
            _check_number_literal(num)
            lit.replace(num)
        elif common == _BOOL:
            if text.strip().lower() not in ("true", "false"):
                raise _mismatch(f"'{text[:40]}' 不是布尔值（true/false）", f"'{text[:40]}' is not true or false")
            lit.replace(exp.Boolean(this=text.strip().lower() == "true"))
        elif common == _TIME:
            if not _valid_time_literal(text, ttype or "TIMESTAMP"):
                raise _mismatch(f"'{text[:40]}' 不是有效的日期时间（YYYY-MM-DD[ HH:MM:SS]）",
                                f"'{text[:40]}' is not a valid date/time (YYYY-MM-DD[ HH:MM:SS])")
            if wrap:
                _try_cast(lit, ttype or "TIMESTAMP")

    def unify(ops: list[exp.Expression]) -> None:
        kinds = [_kind(o, res) for o in ops]
        cats = {k for k, _ in kinds} - {_NULL, _STRLIT}
        if len(cats) > 1:
            raise _mismatch("不能把文本、数字、日期、布尔值相互比较或合并：请给值加引号，或先显式转换（CAST）",
                            "text, numbers, dates and booleans cannot be compared or combined with each other: "
                            "quote the value, or CAST explicitly")
        if _OTHER in cats and any(k == _STRLIT for k, _ in kinds):
            raise _mismatch("该类型的列不能与文本常量比较", "a column of this type cannot be compared with text")
        common, ttype = _common(kinds)
        for o, (k, t) in zip(ops, kinds, strict=True):
            if k == _NULL:
                continue
            if k == _STRLIT and common in (_NUM, _BOOL, _TIME):
                literal_as(o, common, ttype)
            elif common == _NUM and not (k == _NUM and _int_literal(o) is not None):
                _try_cast(o, "DOUBLE")
            elif common == _TIME and t != ttype:
                _try_cast(o, ttype)

    def condition(e: exp.Expression | None) -> None:
        k = _kind(e, res)[0] if e is not None else _NULL
        if k == _NUM:   # a number as a condition: true when not zero (no cast to BOOLEAN, which may fail)
            e.replace(exp.Paren(this=exp.NEQ(this=e.copy(), expression=exp.Literal.number(0))))
        elif k not in (_BOOL, _NULL):
            raise _mismatch("条件须为真假值（比较、IN、IS NULL 等）",
                            "a condition must be true or false (a comparison, IN, IS NULL ...)")

    def number(e: exp.Expression | None) -> None:
        if e is None or _kind(e, res)[0] == _NULL:
            return
        if _kind(e, res)[0] != _NUM:
            raise _mismatch("算术运算只能用于数字（日期请用 YEAR、MONTH、DATE_TRUNC）",
                            "arithmetic takes numbers only (for dates use YEAR, MONTH, DATE_TRUNC)")
        _try_cast(e, "DOUBLE")

    def text(e: exp.Expression | None, what: str) -> None:
        if e is not None and _kind(e, res)[0] not in (_TEXT, _STRLIT, _NULL):
            raise _mismatch(f"{what} 只能用于文本（数字请先 CAST(... AS VARCHAR)）",
                            f"{what} takes text only (CAST a number AS VARCHAR first)")

    def when(e: exp.Expression | None, what: str) -> None:
        k, t = _kind(e, res) if e is not None else (_NULL, None)
        if k == _NULL:
            return
        if k != _TIME or t == "TIME":
            raise _mismatch(f"{what} 只能用于日期或时间戳", f"{what} takes a date or a timestamp only")

    def small_int(e: exp.Expression | None, what: str, lo: int = -MAX_INT_ARG, hi: int = MAX_INT_ARG) -> None:
        v = _int_literal(e) if e is not None else 0
        if v is None or not lo <= v <= hi:
            raise refuse(f"{what} 的该参数须为 {lo} 到 {hi} 之间的整数常量",
                         f"this argument of {what} must be an integer literal from {lo} to {hi}",
                         "sql_not_allowed", construct=what)

    def cast(node: exp.Cast) -> None:
        to = node.args["to"]
        src, src_type = _kind(node.this, res)
        name = to.sql("duckdb")

        def no(why_zh: str = "", why_en: str = "") -> Exception:
            return refuse(f"不能转换为 {name}{why_zh}", f"casts to {name} are not allowed{why_en}", "sql_not_allowed",
                          construct=f"CAST AS {name}")
        params = [_int_literal(p.this) if isinstance(p, exp.DataTypeParam) else None for p in to.expressions]
        decimal_ok = to.this == _T.DECIMAL and len(params) <= 2 and all(v is not None for v in params) and (
            not params or (1 <= params[0] <= 38 and (len(params) == 1 or 0 <= params[1] <= params[0])))
        if (to.expressions and not decimal_ok) or to.this not in _TEXT_TYPES | set(_INT_RANGES) | _REAL_TYPES \
                | _TIME_TYPES | {_T.BOOLEAN}:
            raise no()
        if to.this in _TEXT_TYPES or src == _NULL:
            return
        if src == _STRLIT:   # a literal is checked now, not when the query runs
            want = _NUM if to.this in _REAL_TYPES or to.this in _INT_RANGES else \
                _BOOL if to.this == _T.BOOLEAN else _TIME
            literal_as(node.this, want, name if want == _TIME else None, wrap=False)
            if want == _TIME:
                return
            src, src_type = _kind(node.this, res)
        if to.this in _INT_RANGES or to.this in _REAL_TYPES:   # NULL on DuckDB and Spark; PostgreSQL: see engine
            if src == _TEXT:
                node.set("this", _text_number(node.this.copy()))
            elif src != _NUM:
                raise no(f"（来源为{src}）", f" from {src}")
        elif to.this == _T.BOOLEAN:
            if src != _BOOL:
                raise no("（只能从布尔值转换）", " (from a boolean only)")
        elif to.this == _T.TIME:
            if src != _TIME or src_type == "DATE":
                raise no("（只能从时间或时间戳转换）", " (from a time or a timestamp only)")
        elif src != _TIME or src_type == "TIME":   # DATE / TIMESTAMP / TIMESTAMPTZ, among each other
            raise no("（只能从日期或时间戳转换；文本日期请写 DATE 'YYYY-MM-DD' 常量）",
                     " (from a date or a timestamp only; write a text date as a DATE 'YYYY-MM-DD' literal)")

    def visit(node: exp.Expression) -> None:
        for child in list(node.iter_expressions()):
            visit(child)
        if isinstance(node, exp.Literal) and not node.is_string:
            _check_number_literal(node)
        if isinstance(node, exp.EQ | exp.NEQ | exp.GT | exp.GTE | exp.LT | exp.LTE):
            unify([node.this, node.expression])
        elif isinstance(node, exp.In):
            unify([node.this, *node.expressions])
        elif isinstance(node, exp.Between):
            unify([node.this, node.args["low"], node.args["high"]])
        elif isinstance(node, exp.Coalesce | exp.Case) or (isinstance(node, exp.If)
                                                          and not isinstance(node.parent, exp.Case)):
            unify(_branches(node))
        if isinstance(node, exp.And | exp.Or):
            condition(node.this)
            condition(node.expression)
        elif isinstance(node, exp.Not | exp.If) or (isinstance(node, exp.Is)
                                                    and isinstance(node.expression, exp.Boolean)):
            condition(node.this)
        elif isinstance(node, exp.Add | exp.Sub | exp.Mul):
            number(node.this)
            number(node.expression)
        elif isinstance(node, exp.Div):
            number(node.this)
            den = node.expression
            number(den.this if isinstance(den, exp.Nullif) else den)
        elif isinstance(node, exp.Neg | exp.Abs | exp.Floor | exp.Ceil):
            if not (isinstance(node, exp.Neg) and _int_literal(node) is not None):
                number(node.this)
        elif isinstance(node, exp.Round):
            small_int(node.args.get("decimals"), "ROUND", -MAX_ROUND_DIGITS, MAX_ROUND_DIGITS)
            number(node.this)
        elif isinstance(node, exp.Substring):
            text(node.this, "SUBSTRING")
            small_int(node.args.get("start"), "SUBSTRING", 1, MAX_INT_ARG)
            if node.args.get("length") is not None:
                small_int(node.args.get("length"), "SUBSTRING", 0, MAX_INT_ARG)
        elif isinstance(node, exp.Lower | exp.Upper | exp.Length):
            text(node.this, node.sql_name())
        elif isinstance(node, exp.Like | exp.ILike):
            text(node.this, "LIKE")
            pattern = node.expression
            if not (isinstance(pattern, exp.Literal) and pattern.is_string) or "\\" in str(pattern.this):
                raise refuse("LIKE 的模式须为不含反斜杠的文本常量",
                             "a LIKE pattern must be a text literal without backslashes", "sql_not_allowed",
                             construct="LIKE")
        elif isinstance(node, exp.Year | exp.Month | exp.Day):
            when(node.this, node.sql_name())
        elif isinstance(node, exp.TimestampTrunc | exp.DateTrunc):
            when(node.this, "DATE_TRUNC")
            unit = node.args.get("unit")   # a Var, or (DATE_TRUNC on a cast) a string literal
            if not isinstance(unit, exp.Var | exp.Literal) or unit.name.upper() not in DATE_UNITS:
                raise refuse("DATE_TRUNC 的单位须为 year、quarter、month、week 或 day",
                             "the unit of DATE_TRUNC must be year, quarter, month, week or day", "sql_not_allowed",
                             construct="DATE_TRUNC")
            k, t = _kind(node.this, res)
            if k == _TIME and t != "TIMESTAMP":
                _try_cast(node.this, "TIMESTAMP")
        elif isinstance(node, exp.Cast):
            cast(node)
        elif isinstance(node, exp.Sum | exp.Avg | exp.Median | exp.PercentileCont | exp.Quantile) and _kind(
                node.this, res)[0] not in (_NUM, _NULL):
            raise _mismatch(f"{node.sql_name()} 只能用于数字", f"{node.sql_name()} takes numbers only")

    for key, value in list(tree.args.items()):
        if key in ("joins", "from_"):
            continue
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, exp.Expression):
                visit(v)
    where = tree.args.get("where")
    if where is not None:
        condition(where.this)
    # DuckDB expands NULLIF(a, 0) into a CASE that holds `a` twice: divisions nested in denominators
    # cost 2^depth to plan (16 levels: half a minute)
    for n in tree.find_all(exp.Nullif):
        depth, up = 1, n.parent
        while up is not None:
            depth += isinstance(up, exp.Nullif)
            up = up.parent
        if depth > MAX_NESTED_DIVISIONS:
            raise too_complex()


MAX_NESTED_DIVISIONS = 6


def _text_number(e: exp.Expression) -> exp.Expression:
    """TRY_CAST(text AS DOUBLE), marked so that PostgreSQL (which has no TRY_CAST) guards it."""
    c = exp.TryCast(this=e, to=exp.DataType.build("DOUBLE"))
    c.meta[TEXT_SOURCE] = True
    return c


DATE_UNITS = ("YEAR", "QUARTER", "MONTH", "WEEK", "DAY")


def _check_units(tree: exp.Expression) -> None:
    for v in tree.find_all(exp.Var):
        if not isinstance(v.parent, exp.TimestampTrunc | exp.DateTrunc) or v.name.upper() not in DATE_UNITS:
            raise refuse(f"不允许使用 {v.name}", f"{v.name} is not allowed here", "sql_not_allowed", construct=v.name)


def _output_name(e: exp.Expression, i: int) -> str:
    if isinstance(e, exp.Alias):
        return e.alias
    if isinstance(e, exp.Column):
        return e.name
    if isinstance(e, exp.Count) and isinstance(e.this, exp.Star):
        return "count"
    if isinstance(e, exp.AggFunc):
        arg = e.this.name if isinstance(e.this, exp.Column) else ""
        return f"{e.key}_{arg}" if arg else f"{e.key}_{i}"
    return f"col_{i}"


def analyze(sql: str, granted: dict[str, TableInfo], *, default_limit: int = 1000) -> Plan:
    """Check `sql` against the granted datasets (by dataset name) and return its plan."""
    try:
        return _analyze(sql, granted, default_limit=default_limit)
    except RecursionError:   # not reached within the nesting limits; never a 500 if it were
        raise too_complex() from None


def _analyze(sql: str, granted: dict[str, TableInfo], *, default_limit: int) -> Plan:
    tree = parse(sql)
    allow.check(tree)
    _check_units(tree)
    tree = _rewrite_safe(tree)
    # tables: FROM plus inner joins, each a granted dataset by name
    tables: dict[str, TableInfo] = {}
    joins: list[tuple[str, exp.Expression]] = []
    frm = tree.args.get("from_")
    if frm is None:
        raise refuse("查询须有 FROM 数据集", "the query needs FROM a dataset", "sql_not_allowed", construct="FROM")

    def add_table(t: exp.Expression) -> str:
        if not isinstance(t, exp.Table) or t.args.get("db") or t.args.get("catalog"):
            raise refuse("只能从授权数据集中查询", "you may read only granted datasets", "sql_not_allowed",
                         construct="FROM")
        name = t.name
        info = granted.get(name)
        if info is None:
            raise refuse(f"数据集 {name} 不在本场景的授权范围内",
                         f"dataset {name} is not granted to you for this scenario",
                         "dataset_not_granted", dataset=name)
        alias = t.alias or name
        if alias in tables:
            raise refuse(f"别名重复：{alias}", f"duplicate alias {alias}", "sql_not_allowed", construct="alias")
        tables[alias] = info
        return alias

    add_table(frm.this)
    for j in tree.args.get("joins") or []:
        alias = add_table(j.this)
        if j.args.get("on") is None:
            raise refuse("连接须有 ON 条件", "a join needs an ON condition", "sql_not_allowed", construct="JOIN")
        joins.append((alias, j.args["on"]))
    level = max(t.level for t in tables.values())
    res = _Resolver(tables)

    def role_of(col: exp.Column) -> tuple[str, ColumnInfo]:
        alias, c = res.column(col)
        return alias, c

    def forbid_identifiers(e: exp.Expression, where: str, allowed_roles: set[str]) -> None:
        for col in _columns_in(e):
            alias, c = role_of(col)
            t = tables[alias]
            if level >= 2 and (c.role not in allowed_roles or c.name == t.privacy_unit):
                what = {"where": ("筛选", "filter on"), "group": ("分组", "group by"),
                        "output": ("输出", "output")}[where]
                raise refuse(f"第 {level} 级数据不能按列 {c.name}（{c.role or '未声明角色'}）{what[0]}",
                             f"level {level} data: you may not {what[1]} column {c.name} "
                             f"(role {c.role or 'undeclared'})", f"column_not_allowed_in_{where}", column=c.name,
                             role=c.role)
            if c.role in ("identifier", "join_key") and where != "join":
                raise refuse(f"不能在查询中使用标识列 {c.name}", f"identifier column {c.name} may not be used here",
                             f"column_not_allowed_in_{where}", column=c.name, role=c.role)
            if level >= 2 and where in ("where", "group") and c.pii_type in DIRECT_IDENTIFIER_TYPES:
                # defence in depth (issue 8): whatever role a column was given, a detected direct identifier
                # never selects or splits rows at level 2 and above (the role rules above speak first)
                what = ("筛选", "filter on") if where == "where" else ("分组", "group by")
                raise refuse(f"第 {level} 级数据不能按直接标识列 {c.name}（检测为 {c.pii_type}）{what[0]}",
                             f"level {level} data: you may not {what[1]} column {c.name}, detected as a direct "
                             f"identifier ({c.pii_type}), whatever its role", "direct_identifier_refused",
                             column=c.name, pii_type=c.pii_type, clause=where)

    # joins: equality of declared join keys only
    for _alias, on in joins:
        if not isinstance(on, exp.EQ) or not all(isinstance(s, exp.Column) for s in (on.this, on.expression)):
            raise refuse("连接条件只能是连接键相等",
                         "a join condition is one equality of join keys", "join_not_allowed")
        for side in (on.this, on.expression):
            a, c = role_of(side)
            if c.role != "join_key":
                raise refuse(f"{c.name} 不是声明的连接键", f"{c.name} is not a declared join key", "join_not_allowed",
                             column=c.name)
        if level >= 3:
            for side in (on.this, on.expression):
                a, c = role_of(side)
                if tables[a].privacy_unit != c.name:
                    raise refuse("差分隐私级别的数据只能按隐私单元列连接",
                                 "at levels 3-4, datasets join only on their privacy-unit columns",
                                 "join_not_allowed", column=c.name)
        if role_of(on.this)[1].type != role_of(on.expression)[1].type:  # an implicit cast could fail on data
            raise refuse("连接键的类型须相同", "join keys must have the same type", "join_not_allowed")
    _make_total(tree, res)

    where = tree.args.get("where")
    where_e = where.this if where is not None else None
    if where_e is not None:
        if _is_aggregate(where_e):
            raise refuse("WHERE 中不能使用聚合", "no aggregates in WHERE", "sql_not_allowed", construct="WHERE")
        forbid_identifiers(where_e, "where", {"dimension"} if level == 2 else {"dimension", "measure"})

    selects = tree.expressions
    if len(selects) > MAX_OUTPUTS:
        raise refuse(f"最多输出 {MAX_OUTPUTS} 列", f"at most {MAX_OUTPUTS} output columns", "query_too_complex",
                     status=400)
    if any(isinstance(s, exp.Star) for s in selects):
        raise refuse("不允许 SELECT *：请写出需要的列或聚合", "SELECT * is not allowed: name the columns or aggregates",
                     "select_star")
    aliases = {s.alias: s.this for s in selects if isinstance(s, exp.Alias)}
    group = tree.args.get("group")
    group_by: list[exp.Expression] = []
    for g in (group.expressions if group is not None else []):
        if isinstance(g, exp.Literal) and not g.is_string:
            idx = int(g.this) - 1
            if not 0 <= idx < len(selects):
                raise refuse("GROUP BY 序号超出范围", "GROUP BY position out of range", "sql_not_allowed")
            g = selects[idx].this if isinstance(selects[idx], exp.Alias) else selects[idx]
        elif isinstance(g, exp.Column) and not g.table and g.name in aliases and not any(
                g.name in t.columns for t in tables.values()):
            g = aliases[g.name]
        if _is_aggregate(g):
            raise refuse("不能按聚合分组", "you may not group by an aggregate", "sql_not_allowed", construct="GROUP BY")
        forbid_identifiers(g, "group", {"dimension"})
        group_by.append(g)
    if len(group_by) > MAX_GROUP_COLUMNS:
        raise refuse(f"最多按 {MAX_GROUP_COLUMNS} 列分组", f"group by at most {MAX_GROUP_COLUMNS} columns",
                     "query_too_complex", status=400)
    group_sql = [g.sql("duckdb") for g in group_by]
    is_agg = bool(group_by) or any(_is_aggregate(s) for s in selects)

    outputs: list[Output] = []
    names: set[str] = set()
    for i, s in enumerate(selects):
        name = _output_name(s, i + 1)
        if name in names:
            raise refuse(f"输出列名重复：{name}，请用 AS 命名",
                         f"duplicate output name {name}: use AS", "duplicate_output")
        names.add(name)
        e = s.this if isinstance(s, exp.Alias) else s
        if not is_agg:
            if not isinstance(e, exp.Column):
                raise refuse("逐行结果只能输出原列（按脱敏策略处理）",
                             "row results may output bare columns only (masked)",
                             "rows_bare_columns_only")
            alias, c = role_of(e)
            if c.role in ("identifier", "join_key") and level >= 2:
                raise refuse(f"不能输出标识列 {c.name}", f"identifier column {c.name} may not be output",
                             "column_not_allowed_in_output", column=c.name)
            outputs.append(Output(name, "column", e, column=(alias, c.name)))
            continue
        if not _is_aggregate(e):
            sql_e = e.sql("duckdb")
            if sql_e not in group_sql:
                raise refuse(f"输出列 {name} 须为分组列或聚合",
                             f"output {name} must be a GROUP BY expression or an aggregate",
                             "not_grouped", column=name)
            outputs.append(Output(name, "group", e, group_index=group_sql.index(sql_e)))
            continue
        outputs.append(_aggregate_output(name, e, level, res, tables, forbid_identifiers))

    order: list[tuple[int, bool]] = []
    o = tree.args.get("order")
    for item in (o.expressions if o is not None else []):
        key = item.this
        idx = None
        if isinstance(key, exp.Literal) and not key.is_string:
            idx = int(key.this) - 1
        elif isinstance(key, exp.Column) and not key.table:
            idx = next((k for k, out in enumerate(outputs) if out.name == key.name), None)
        else:
            sql_k = key.sql("duckdb")
            idx = next((k for k, s in enumerate(selects) if (s.this if isinstance(s, exp.Alias) else s).sql("duckdb")
                        == sql_k), None)
        if idx is None or not 0 <= idx < len(outputs):
            raise refuse("ORDER BY 只能引用输出列", "ORDER BY may name output columns only", "sql_not_allowed",
                         construct="ORDER BY")
        order.append((idx, bool(item.args.get("desc"))))
    limit = None
    lim = tree.args.get("limit")
    if lim is not None:
        v = lim.expression
        if not isinstance(v, exp.Literal) or v.is_string or not str(v.this).isdigit():
            raise refuse("LIMIT 须为整数", "LIMIT must be an integer", "sql_not_allowed", construct="LIMIT")
        limit = int(v.this)
    if not is_agg:
        limit = min(limit or default_limit, default_limit)

    plan = Plan(kind="aggregate" if is_agg else "rows", level=level, tables=tables, outputs=outputs,
                group_by=group_by, group_public=[], where=where_e, joins=joins, order=order, limit=limit)
    plan.group_public = [_public_values(g, res) for g in group_by]
    plan.group_time = [_time_type(g, res) for g in group_by]
    plan.output_time = {i: t for i, o in enumerate(outputs) if o.kind == "column" and (t := _time_type(o.expr, res))}
    plan.sources = {out.name: sorted({f"{tables[a].name}.{c.name}" for a, c in
                                      (res.column(col) for col in _columns_in(out.expr))}) for out in outputs}
    plan.normalized = _normalize(plan)
    return plan


def _time_type(e: exp.Expression, res: _Resolver) -> str | None:
    k, t = _kind(e, res)
    return t if k == _TIME and t != "TIME" else None


def _public_values(g: exp.Expression, res: _Resolver) -> tuple | None:
    if isinstance(g, exp.Column):
        _, c = res.column(g)
        return c.public_values
    return None


_AGG_KIND = {exp.Sum: "sum", exp.Avg: "avg", exp.Median: "quantile", exp.PercentileCont: "quantile",
             exp.Quantile: "quantile"}


def _level2_bare(name: str, arg: exp.Expression, level: int) -> None:
    """Level 2 filters only on dimensions, and each cell must rest on k people: an aggregate's argument
    is a bare column there, for a condition (CASE WHEN 金额 > 87 ...) or arithmetic that acts as one
    (金额 / (1 + 1e12 * (年龄 - 37) * (年龄 - 37))) would make a cell's value rest on one person."""
    if level == 2 and not isinstance(arg, exp.Column):
        raise refuse(f"输出列 {name}：第 2 级数据的聚合参数须为原列（其中的条件或运算可使结果只取决于一个人）",
                     f"output {name}: at level 2 an aggregate's argument must be a bare column (a condition or "
                     "arithmetic inside it can make the value rest on one person)", "derived_argument", column=name)


def _aggregate_output(name: str, e: exp.Expression, level: int, res: _Resolver, tables: dict[str, TableInfo],
                      forbid) -> Output:
    if not isinstance(e, tuple(allow.AGGREGATES)) or isinstance(e, exp.Star | exp.Distinct):
        raise refuse(f"输出列 {name}：聚合外不能再做运算（平均值请用 AVG）",
                     f"output {name}: no arithmetic around an aggregate (use AVG for a mean)", "aggregate_expression",
                     column=name)
    if any(isinstance(n, exp.AggFunc) for n in e.this.walk() if n is not e.this) or _is_aggregate(e.this):
        raise refuse("不允许嵌套聚合", "nested aggregates are not allowed", "sql_not_allowed", construct="aggregate")
    if isinstance(e, exp.Count):
        arg = e.this
        if isinstance(arg, exp.Star):
            return Output(name, "count", arg)
        if isinstance(arg, exp.Distinct):
            if level >= 3:
                raise refuse("第 3、4 级数据不支持 COUNT(DISTINCT)", "COUNT(DISTINCT) is not available at levels 3-4",
                             "aggregate_not_allowed", aggregate="count_distinct")
            if len(arg.expressions) != 1:
                raise refuse("COUNT(DISTINCT) 只能有一列", "COUNT(DISTINCT) takes one column", "sql_not_allowed")
            inner = arg.expressions[0]
            forbid(inner, "output", {"dimension", "measure"})
            _level2_bare(name, inner, level)
            return Output(name, "count_distinct", inner)
        forbid(arg, "output", {"dimension", "measure"})
        _level2_bare(name, arg, level)
        col = res.column(arg) if isinstance(arg, exp.Column) else None
        return Output(name, "count", arg, column=(col[0], col[1].name) if col else None)
    kind = _AGG_KIND[type(e)]
    arg = e.this
    q = None
    if kind == "quantile":
        qe = e.args.get("expression") if isinstance(e, exp.PercentileCont) else e.args.get("quantile")
        if isinstance(e, exp.Median):
            q = 0.5
        else:
            try:
                q = float(qe.this) if isinstance(qe, exp.Literal) and not qe.is_string else None
            except ValueError:
                q = None
            if q is None or not 0.0 <= q <= 1.0:
                raise refuse("分位数须为 0 到 1 之间的数字", "a quantile is a number from 0 to 1", "invalid_quantile")
        if level <= 2:
            raise refuse("分位数只在差分隐私级别（3、4 级）提供；第 1、2 级请用 COUNT/SUM/AVG",
                         "quantiles are released with differential privacy (levels 3-4) only", "aggregate_not_allowed",
                         aggregate="quantile")
    forbid(arg, "output", {"measure"})
    _level2_bare(name, arg, level)
    bounds = None
    column = None
    if isinstance(arg, exp.Column):
        alias, c = res.column(arg)
        bounds = c.bounds
        column = (alias, c.name)
    if level >= 3:
        if column is None:
            raise refuse(f"输出列 {name}：差分隐私聚合的参数须为声明了取值范围的原列",
                         f"output {name}: a DP aggregate's argument must be a bare column with declared bounds",
                         "derived_argument", column=name)
        if bounds is None:
            raise refuse(f"列 {column[1]} 没有声明取值范围（差分隐私需要）",
                         f"column {column[1]} has no declared bounds (differential privacy needs them)",
                         "bounds_required", column=column[1])
    return Output(name, kind, arg, column=column, bounds=bounds, q=q)


def _canon(e: exp.Expression) -> str:
    """The tree's structure, without what does not change its meaning: redundant parentheses (the tree
    already holds the grouping), identifier quoting (names resolve exactly either way), comments."""
    while isinstance(e, exp.Paren):
        e = e.this
    if isinstance(e, exp.Identifier):
        return json.dumps(e.name, ensure_ascii=False)
    parts = []
    for k, v in sorted(e.args.items()):
        if v is None or v is False or v == [] or v == "":
            continue
        items = v if isinstance(v, list) else [v]
        text = ",".join(_canon(x) if isinstance(x, exp.Expression) else json.dumps(str(x), ensure_ascii=False)
                        for x in items)
        parts.append(f"{k}=[{text}]" if isinstance(v, list) else f"{k}={text}")
    return f"{e.key}({';'.join(parts)})"


def _normalize(plan: Plan) -> str:
    """A canonical text of the checked query: rewordings that parse to the same tree share it."""
    parts = [plan.kind, str(plan.level),
             "|".join(f"{a}={t.name}@{t.version}" for a, t in sorted(plan.tables.items())),
             "|".join(f"{a}:{_canon(on)}" for a, on in plan.joins),
             _canon(plan.where) if plan.where is not None else "",
             "|".join(_canon(g) for g in plan.group_by),
             "|".join(f"{o.kind}:{_canon(o.expr)}:{o.q}:{o.group_index}" for o in plan.outputs),
             "|".join(f"{i}:{d}" for i, d in plan.order), str(plan.limit)]
    return "\n".join(parts)
