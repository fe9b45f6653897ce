"""The command's frame: the Typer apps, output helpers and the one-transaction-per-command runner."""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console
from rich.table import Table

from pdzone.config import get_settings
from pdzone.errors import PdzoneError
from pdzone.web.runtime import Runtime

app = typer.Typer(help="pdzone: public data zone platform (公共数据专区平台)", no_args_is_help=True,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
zone_app = typer.Typer(help="Zones (专区).", no_args_is_help=True)
org_app = typer.Typer(help="Organizations.", no_args_is_help=True)
user_app = typer.Typer(help="Real-name users, roles, filing (备案).", no_args_is_help=True)
audit_app = typer.Typer(help="The operation log: verify, proofs, checkpoints, export.", no_args_is_help=True)
dataset_app = typer.Typer(help="Datasets in the catalog (数据目录): import, levels, columns, R-28.",
                          no_args_is_help=True)
for sub, name in ((db_app, "db"), (zone_app, "zone"), (org_app, "org"), (user_app, "user"), (audit_app, "audit"),
                  (dataset_app, "dataset")):
    app.add_typer(sub, name=name)

out = Console()
err = Console(stderr=True)


def _rt() -> Runtime:
    return Runtime.from_settings(get_settings())


def _fail(e: PdzoneError) -> None:
    err.print(f"错误 error ({e.code}): {e.zh} / {e.en}", markup=False, highlight=False)
    raise typer.Exit(2 if e.status >= 500 else 1)


def _emit(data, as_json: bool, table: Table | None = None) -> None:
    if as_json or table is None:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str, indent=1) + "\n")
    else:
        out.print(table)


def _json_arg(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError as e:
        raise PdzoneError("参数须为 JSON 对象", "the argument must be a JSON object", code="invalid_request") from e
    if not isinstance(value, dict):
        raise PdzoneError("参数须为 JSON 对象", "the argument must be a JSON object", code="invalid_request")
    return value


def _write(fn):
    """Run fn(session, runtime) in one transaction, then integrate the log."""
    rt = _rt()
    try:
        with rt.store.transaction() as s:
            result = fn(s, rt)
        rt.maintain_log()
        return result
    except PdzoneError as e:
        _fail(e)
    finally:
        rt.store.dispose()
