"""Platform commands: db, zones, organizations, users, the operation log, datasets, serve, worker, demo."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.table import Table

from pdzone.audit import log as alog
from pdzone.audit import verify as averify
from pdzone.audit.events import Action, os_actor, record
from pdzone.audit.export import build_bundle
from pdzone.cli.base import (
    _emit,
    _fail,
    _json_arg,
    _rt,
    _write,
    app,
    audit_app,
    dataset_app,
    db_app,
    err,
    org_app,
    out,
    user_app,
    zone_app,
)
from pdzone.config import get_settings
from pdzone.db import Store
from pdzone.db import upgrade as db_upgrade
from pdzone.errors import PdzoneError
from pdzone.governance import actions as gov
from pdzone.identity import actions as ida
from pdzone.identity import queries as idq
from pdzone.web.runtime import Runtime

# --- db ------------------------------------------------------------------------------------

@db_app.command("upgrade")
def db_upgrade_cmd():
    """Create or migrate the schema (PDZONE_DATABASE_URL)."""
    rt = _rt()
    db_upgrade(rt.store)
    out.print(f"schema up to date on {rt.store.dialect}")


# --- zones and orgs ------------------------------------------------------------------------

@zone_app.command("add")
def zone_add(code: str = typer.Option(...), name: str = typer.Option(...), type: str = typer.Option(...),
             supervisor: str | None = typer.Option(None, help="Supervisor organization (name or USCC)"),
             as_json: bool = typer.Option(False, "--json")):
    z = _write(lambda s, rt: gov.zone_json(gov.do_create_zone(s, code=code, name=name, type=type,
                                                             supervisor=supervisor, actor=os_actor())))
    _emit(z, as_json)


@zone_app.command("list")
def zone_list(as_json: bool = typer.Option(False, "--json")):
    rt = _rt()
    with rt.store.sessions() as s:
        zones = [gov.zone_json(z) for z in gov.list_zones(s)]
    t = Table("code", "name", "type")
    for z in zones:
        t.add_row(z["code"], z["name"], z["type"])
    _emit(zones, as_json, t)


@org_app.command("add")
def org_add(name: str = typer.Option(...), kind: str = typer.Option(...), uscc: str = typer.Option(...),
            zone: str | None = typer.Option(None), as_json: bool = typer.Option(False, "--json")):
    def do(s, rt):
        if zone:
            gov.find_zone(s, zone)
        return idq.org_json(ida.do_create_org(s, name=name, kind=kind, uscc=uscc, zone_code=zone,
                                              actor=os_actor()))
    _emit(_write(do), as_json)


@org_app.command("list")
def org_list(as_json: bool = typer.Option(False, "--json")):
    rt = _rt()
    with rt.store.sessions() as s:
        orgs = [idq.org_json(o) for o in idq.list_orgs(s)]
    t = Table("id", "name", "kind", "uscc", "zone")
    for o in orgs:
        t.add_row(str(o["id"]), o["name"], o["kind"], o["uscc"], o["zone"] or "")
    _emit(orgs, as_json, t)


# --- users ---------------------------------------------------------------------------------

@user_app.command("add")
def user_add(username: str = typer.Option(...), real_name: str = typer.Option(...),
             id_number: str = typer.Option(...), mobile: str = typer.Option(...), org: str = typer.Option(...),
             role: str | None = typer.Option(None), zone: str | None = typer.Option(None),
             password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin"),
             as_json: bool = typer.Option(False, "--json")):
    """Register a real-name user, optionally with a role (platform-wide without --zone)."""
    if not password_stdin:
        err.print("the password is read from standard input: pass --password-stdin")
        raise typer.Exit(2)
    password = sys.stdin.readline().rstrip("\r\n")

    def do(s, rt):
        if zone:
            gov.find_zone(s, zone)
        o = ida.find_org(s, org)
        new = ida.do_create_user(s, rt.vault, username=username, real_name=real_name, id_number=id_number,
                                 mobile=mobile, org=o, password=password, actor=os_actor(),
                                 password_min_length=rt.settings.password_min_length)
        secret = None
        if role:
            secret = ida.do_grant_role(s, rt.vault, new.user, role, zone_code=zone, actor=os_actor())
        return {**idq.user_json(s, new.user), "warnings": new.warnings, "totp_secret": secret}
    _emit(_write(do), as_json)


@user_app.command("list")
def user_list(as_json: bool = typer.Option(False, "--json")):
    rt = _rt()
    with rt.store.sessions() as s:
        users = [idq.user_json(s, u) for u in idq.list_users(s)]
    t = Table("username", "real name", "ID number", "roles")
    for u in users:
        t.add_row(u["username"], u["real_name"], u["id_number"],
                  ", ".join(f"{r['role']}@{r['zone'] or '*'}" for r in u["roles"]))
    _emit(users, as_json, t)


@user_app.command("grant")
def user_grant(username: str, role: str = typer.Option(...), zone: str | None = typer.Option(None),
               as_json: bool = typer.Option(False, "--json")):
    def do(s, rt):
        if zone:
            gov.find_zone(s, zone)
        u = ida.find_user(s, username)
        secret = ida.do_grant_role(s, rt.vault, u, role, zone_code=zone, actor=os_actor())
        return {**idq.user_json(s, u), "totp_secret": secret}
    _emit(_write(do), as_json)


@user_app.command("file")
def user_file(username: str, reason: str = typer.Option(...),
              zone: str | None = typer.Option(None, help="Default: the zones of the user's roles, else the org's"),
              revoke: bool = typer.Option(False, "--revoke", help="Revoke the filing instead"),
              as_json: bool = typer.Option(False, "--json")):
    """File (备案) a person for a zone, or revoke the filing."""
    def do(s, rt):
        u = ida.find_user(s, username)
        zones = [gov.find_zone(s, zone).code] if zone else ida.filing_zones(s, u)
        if not zones:
            raise PdzoneError("该用户没有所属专区，请用 --zone 指定", "the user has no zone: give --zone",
                              code="zone_required")
        do_ = ida.do_revoke_filing if revoke else ida.do_file
        return [idq.filing_json(do_(s, u, z, reason=reason, actor=os_actor()), u) for z in zones]
    _emit(_write(do), as_json)


# --- audit ---------------------------------------------------------------------------------

@audit_app.command("verify")
def audit_verify(checkpoint: Path | None = typer.Option(None, help="A checkpoint held outside the platform"),
                 bundle: Path | None = typer.Option(None, help="Verify an export bundle offline (no database)"),
                 trust_key: list[str] = typer.Option([], "--trust-key",
                                                     help="Platform key id the checkpoints must carry (repeatable)"),
                 as_json: bool = typer.Option(False, "--json")):
    """Recompute the log and check every event's MAC, the stored tree, checkpoints and reviews.
    Exit 0 intact, 1 tampered (naming the first bad seq), 2 could not verify."""
    try:
        outside = averify.load_checkpoint_file(checkpoint) if checkpoint else None
    except (OSError, ValueError, KeyError, PdzoneError) as e:
        err.print(f"cannot read the checkpoint file: {e}", markup=False)
        raise typer.Exit(2) from e
    trusted = set(trust_key) or None
    if bundle:
        try:
            doc = json.loads(bundle.read_text(encoding="utf-8"))
            res = averify.verify_bundle(doc, outside=outside, trusted_keys=trusted)
        except (OSError, ValueError, KeyError, TypeError, PdzoneError) as e:
            err.print(f"cannot read the bundle: {e}", markup=False)
            raise typer.Exit(2) from e
    else:
        settings = get_settings()
        url = settings.resolved_database_url
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
            err.print(f"no database at {url}", markup=False)
            raise typer.Exit(2)
        rt = Runtime(settings, Store(url))
        res = averify.verify_store(rt.store, outside=outside, trusted_keys=trusted or rt.trusted_platform_keys(),
                                   mac_key=rt.existing_mac_key(),
                                   clock_tolerance_s=settings.audit_clock_tolerance_s)
        if not trusted and rt.trusted_platform_keys() is None:
            res.notes.append("no key store on this host: checkpoints were checked against the keys in the "
                             "database; pin the platform key with --trust-key")
    if as_json:
        _emit(res.as_dict(), True)
    else:
        colour = {0: "green", 1: "red", 2: "yellow"}[res.exit_code]
        out.print(f"[{colour}]{res.status}[/{colour}]: ", end="")
        out.print(f"{res.zh} / {res.en}", markup=False, highlight=False)
        for w in res.warnings:
            out.print(f"  warning: {w}", markup=False)
        for n in res.notes:
            out.print(f"  note: {n}", markup=False)
    raise typer.Exit(res.exit_code)


@audit_app.command("integrate")
def audit_integrate(checkpoint: bool = typer.Option(False, "--checkpoint", help="Also sign a checkpoint now")):
    """Give committed events their log positions (the server does this every second)."""
    rt = _rt()
    n, cp = rt.maintain_log(force_checkpoint=checkpoint)
    out.print(f"integrated {n} events" + (f"; checkpoint at size {cp.tree_size}" if cp else ""))


@audit_app.command("checkpoint")
def audit_checkpoint(output: Path | None = typer.Option(None, "-o", "--output")):
    """Print (or save) the latest signed checkpoint, signing one first if the log grew since the last."""
    rt = _rt()
    rt.maintain_log(force_checkpoint=True)
    with rt.store.sessions() as s:
        cp = alog.latest_checkpoint(s)
        if cp is None:
            err.print("the log is empty")
            raise typer.Exit(1)
        doc = alog.checkpoint_document(s, cp)
    text = json.dumps(doc, ensure_ascii=False, indent=1)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
    else:
        sys.stdout.write(text + "\n")


@audit_app.command("proof")
def audit_proof(seq: int, tree_size: int | None = typer.Option(None, "--tree-size")):
    """Inclusion proof for the event at SEQ."""
    rt = _rt()
    try:
        with rt.store.sessions() as s:
            doc = alog.inclusion_proof(s, rt.log_suite, seq, tree_size or alog.tree_size(s))
    except PdzoneError as e:
        _fail(e)
    sys.stdout.write(json.dumps(doc, indent=1) + "\n")


@audit_app.command("consistency")
def audit_consistency(first: int = typer.Option(...), second: int = typer.Option(...)):
    rt = _rt()
    try:
        with rt.store.sessions() as s:
            doc = alog.consistency_proof(s, rt.log_suite, first, second)
    except PdzoneError as e:
        _fail(e)
    sys.stdout.write(json.dumps(doc, indent=1) + "\n")


@audit_app.command("export")
def audit_export(output: Path = typer.Option(..., "-o", "--output"), zone: str | None = typer.Option(None)):
    """Write a bundle (events, checkpoints, keys) that `pdzone audit verify --bundle` checks offline."""
    rt = _rt()
    with rt.store.transaction() as s:
        record(s, actor=os_actor(), action=Action.AUDIT_EXPORT, zone=zone, details={"zone": zone, "via": "cli"})
    rt.maintain_log(force_checkpoint=True)
    with rt.store.sessions() as s:
        doc = build_bundle(s, zone=zone, origin=rt.settings.deployment_name)
    output.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    out.print(f"wrote {len(doc['events'])} events, {len(doc['checkpoints'])} checkpoints to {output}")


# --- datasets ------------------------------------------------------------------------------

@dataset_app.command("import")
def dataset_import(path: Path | None = typer.Argument(None, help="A .csv, .parquet or .xlsx file"),
                   zone: str = typer.Option(...), name: str = typer.Option(...),
                   provider: str = typer.Option(..., help="Provider department (name or USCC)"),
                   title: str | None = typer.Option(None), level: int | None = typer.Option(None),
                   basis: str = typer.Option("", help="Basis of the level, required with --level (a decision, "
                                                      "recorded as the OS user's)"),
                   privacy_unit: str | None = typer.Option(None, help="The column saying whose data a row is"),
                   from_postgres: str | None = typer.Option(None, help="A department's PostgreSQL URL (with --table)"),
                   table: str | None = typer.Option(None, help="schema.table to import with --from-postgres"),
                   as_json: bool = typer.Option(False, "--json")):
    """Import a CSV (UTF-8 or GBK), Parquet or Excel file, or a PostgreSQL table, into a zone, encrypted at rest."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from pdzone.catalog import actions as cat
    from pdzone.catalog.queries import dataset_json

    rt = _rt()
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                      transient=True) as progress:
            progress.add_task(f"importing {path.name if path else table} → {name}", total=None)
            ds = cat.import_dataset(rt.store, rt.keystore, rt.suite, rt.datasets, path, name=name, zone_code=zone,
                                    provider=provider, actor=os_actor(), title=title, level=level, basis=basis,
                                    privacy_unit=privacy_unit,
                                    postgres=(from_postgres, table or "") if from_postgres else None)
        rt.maintain_log()
        with rt.store.sessions() as s:
            doc = dataset_json(s, cat.find_dataset(s, ds.name))
    except PdzoneError as e:
        _fail(e)
    if as_json:
        _emit(doc, True)
    else:
        out.print(f"imported {doc['rows']:,} rows × {len(doc['columns'])} columns into {zone}/{name} "
                  f"({doc['source_format']}, {doc['source_encoding'] or 'binary'}), encrypted with "
                  f"{doc['encryption']['suite']}", markup=False)


@dataset_app.command("list")
def dataset_list(zone: str | None = typer.Option(None), level: int | None = typer.Option(None),
                 as_json: bool = typer.Option(False, "--json")):
    from pdzone.catalog.queries import list_datasets, summary_json

    rt = _rt()
    with rt.store.sessions() as s:
        rows = [summary_json(s, d) for d in list_datasets(s, zone=zone, level=level)]
    t = Table("name", "title", "zone", "rows", "level", "suggested", "R-28")
    for r in rows:
        t.add_row(r["name"], r["title"], r["zone"], f"{r['rows']:,}", str(r["level"] or "—"),
                  str(r["suggested_level"] or "—"), r["r28_reason"] or "")
    _emit(rows, as_json, t)


@dataset_app.command("show")
def dataset_show(name: str, as_json: bool = typer.Option(False, "--json")):
    from pdzone.catalog.actions import find_dataset
    from pdzone.catalog.queries import dataset_json

    rt = _rt()
    try:
        with rt.store.sessions() as s:
            doc = dataset_json(s, find_dataset(s, name))
    except PdzoneError as e:
        _fail(e)
    _emit(doc, as_json)  # nested: printed as JSON either way


@dataset_app.command("scan")
def dataset_scan(name: str, full: bool = typer.Option(False, "--full", help="Scan every row, not a sample"),
                 as_json: bool = typer.Option(False, "--json")):
    """Detect personal information per column and suggest a level (a suggestion to confirm)."""
    from pdzone.catalog import actions as cat

    def do(s, rt):
        ds = cat.find_dataset(s, name)
        findings = cat.do_scan(s, rt.keystore, rt.suite, rt.datasets, ds, actor=os_actor(),
                               sample=None if full else 100_000)
        return {"dataset": name, "suggested_level": ds.suggested_level,
                "reasons": json.loads(ds.suggestion_reasons),
                "columns": [{"column": f.column, "type": f.pii_type.value if f.pii_type else None,
                             "match_rate": round(f.match_rate, 4), "confidence": round(f.confidence, 3),
                             "evidence": [e.zh for e in f.evidence]} for f in findings]}
    doc = _write(do)
    if as_json:
        _emit(doc, True)
        return
    t = Table("column", "type", "match", "confidence", title=f"{name}: suggested level {doc['suggested_level']}")
    for c in doc["columns"]:
        t.add_row(c["column"], c["type"] or "—", f"{c['match_rate']:.1%}", f"{c['confidence']:.2f}")
    out.print(t)
    for r in doc["reasons"]:
        out.print(f"  · {r['zh']}", markup=False)


@dataset_app.command("set-level")
def dataset_set_level(name: str, level: int = typer.Option(...), basis: str = typer.Option(...),
                      as_json: bool = typer.Option(False, "--json")):
    """Confirm a dataset's level 1-4 with its basis (a decision, recorded as the OS user's: shell authority)."""
    from pdzone.catalog import actions as cat
    from pdzone.catalog.queries import summary_json

    _emit(_write(lambda s, rt: summary_json(s, cat.do_set_level(s, cat.find_dataset(s, name), level=level,
                                                                  basis=basis, actor=os_actor()))), as_json)


@dataset_app.command("column")
def dataset_column(name: str, column: str, role: str | None = typer.Option(None),
                   bounds: tuple[float, float] | None = typer.Option(None, help="LO HI"),
                   public_values: str | None = typer.Option(None, help="V1,V2,..."),
                   mask: str | None = typer.Option(None, help='Masking policy JSON: {"op":"partial","keep_first":1}'),
                   basis: str = typer.Option("", help="Where the bounds or values come from (policy, GB/T 2260…)"),
                   as_json: bool = typer.Option(False, "--json")):
    """Decide a column's role, masking and the bounds and public values differential privacy needs (a decision,
    recorded as the OS user's: what relaxes protection needs --basis)."""
    from pdzone.catalog import actions as cat
    from pdzone.catalog.queries import dataset_json

    def do(s, rt):
        ds = cat.find_dataset(s, name)
        cat.do_set_column(s, ds, column, actor=os_actor(), role=role, bounds=bounds,
                          public_values=public_values.split(",") if public_values is not None else None,
                          mask_policy=_json_arg(mask) if mask is not None else None, basis=basis)
        return next(c for c in dataset_json(s, ds)["columns"] if c["name"] == column)
    _emit(_write(do), as_json)


@dataset_app.command("proposals")
def dataset_proposals(name: str | None = typer.Argument(None, help="Only this dataset's proposals"),
                      state: str = typer.Option("pending", help="pending, accepted, rejected or all"),
                      as_json: bool = typer.Option(False, "--json")):
    """Proposals of operator staff that relax protection, waiting for (or given) a decision."""
    from pdzone.catalog import actions as cat
    from pdzone.catalog.queries import list_proposals, proposal_json

    if state not in ("pending", "accepted", "rejected", "all"):
        _fail(PdzoneError("状态须为 pending、accepted、rejected 或 all", "state is pending, accepted, rejected or all",
                          code="invalid_request"))
    rt = _rt()
    try:
        with rt.store.sessions() as s:
            ids = [cat.find_dataset(s, name).id] if name else None
            rows = [proposal_json(s, p) for p in list_proposals(s, dataset_ids=ids,
                                                                state=None if state == "all" else state)]
    except PdzoneError as e:
        _fail(e)
    t = Table("id", "dataset", "column", "field", "in force", "proposed", "by", "state")
    for r in rows:
        t.add_row(str(r["id"]), r["dataset"], r["column"] or "—", r["field"],
                  json.dumps(r["before"], ensure_ascii=False), json.dumps(r["value"], ensure_ascii=False),
                  r["proposed_by"], r["state"])
    _emit(rows, as_json, t)


@dataset_app.command("decide")
def dataset_decide(name: str, proposal: int = typer.Argument(..., help="The proposal's id"),
                   accept: bool = typer.Option(..., "--accept/--reject", help="Accept or reject the proposal"),
                   basis: str = typer.Option(..., help="The basis of the decision"),
                   as_json: bool = typer.Option(False, "--json")):
    """Accept (the change takes effect) or reject a proposal, with its basis; recorded as the OS user's decision."""
    from pdzone.catalog import actions as cat
    from pdzone.catalog.queries import proposal_json

    def do(s, rt):
        ds = cat.find_dataset(s, name)
        return proposal_json(s, cat.do_decide_proposal(s, ds, proposal, accept=accept, basis=basis,
                                                       actor=os_actor()), ds)
    doc = _write(do)
    if as_json:
        _emit(doc, True)
    else:
        out.print(f"proposal {doc['id']} on {name}: {doc['state']} ({doc['field']} → "
                  f"{json.dumps(doc['value'], ensure_ascii=False)})", markup=False)


@dataset_app.command("describe")
def dataset_describe(name: str, title: str | None = typer.Option(None), title_en: str | None = typer.Option(None),
                     description: str | None = typer.Option(None), sector: str | None = typer.Option(None),
                     frequency: str | None = typer.Option(None), source_system: str | None = typer.Option(None),
                     time_coverage: str | None = typer.Option(None), space_coverage: str | None = typer.Option(None),
                     as_json: bool = typer.Option(False, "--json")):
    """Edit a dataset's descriptive metadata (R-21.4)."""
    from pdzone.catalog import actions as cat
    from pdzone.catalog.queries import summary_json

    _emit(_write(lambda s, rt: summary_json(s, cat.do_edit_metadata(
        s, cat.find_dataset(s, name), actor=os_actor(), title_zh=title, title_en=title_en, description=description,
        sector=sector, update_frequency=frequency, source_system=source_system, time_coverage=time_coverage,
        space_coverage=space_coverage))), as_json)


@dataset_app.command("link")
def dataset_link(name: str, derived_from: str = typer.Option(..., "--from", help="The dataset it derives from"),
                 note: str = typer.Option("")):
    """Record lineage: NAME was derived from another dataset."""
    from pdzone.catalog import actions as cat

    _write(lambda s, rt: cat.do_link(s, cat.find_dataset(s, name), cat.find_dataset(s, derived_from), note=note,
                                     actor=os_actor()))
    out.print(f"{name} ← {derived_from}", markup=False)


@dataset_app.command("flag")
def dataset_flag(name: str, r28: str = typer.Option(..., "--r28", help="national_security, public_interest, "
                                                                       "agreement or law"),
                 note: str = typer.Option(""), as_json: bool = typer.Option(False, "--json")):
    """Flag a dataset under R-28: it stays catalogued but never enters operation."""
    from pdzone.catalog import actions as cat
    from pdzone.catalog.queries import summary_json

    _emit(_write(lambda s, rt: summary_json(s, cat.do_flag_r28(s, cat.find_dataset(s, name), reason=r28, note=note,
                                                                 actor=os_actor()))), as_json)


# --- serve and demo ------------------------------------------------------------------------

@app.command("serve")
def serve(host: str = typer.Option("127.0.0.1"), port: int = typer.Option(8000)):
    """Serve the API and console with uvicorn."""
    import uvicorn

    from pdzone.web.app import create_app

    rt = _rt()
    db_upgrade(rt.store)
    out.print(f"pdzone serving at http://{host}:{port}/ (API docs at /api/docs)")
    uvicorn.run(create_app(rt), host=host, port=port, log_level="warning")


@app.command("worker")
def worker(once: bool = typer.Option(False, "--once", help="Run the jobs waiting now, then exit")):
    """Run background jobs (dataset imports) from the queue in the database; any number of workers may run,
    beside the server's own (they must share its data directory)."""
    import contextlib
    import signal
    import threading

    import pdzone.catalog.tasks  # noqa: F401  (registers the catalog's job handlers)
    from pdzone.jobs.worker import Worker, sweep_spools

    rt = _rt()
    if rt.settings.worker_memory_limit:
        _limit_memory(rt.settings.worker_memory_limit)
    w = Worker.from_settings(rt.store, rt, rt.settings)
    sweep_spools(rt.store, rt.settings.data_dir, older_than_s=rt.settings.spool_stale_after_s)
    try:
        if once:
            n = w.drain()
            rt.maintain_log()
            out.print(f"{n} job(s) run")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        out.print(f"pdzone worker {w.name} waiting for jobs (Ctrl-C to stop)", highlight=False)
        with contextlib.suppress(KeyboardInterrupt):
            w.run_forever(stop, rt.settings.job_poll_s, after_job=rt.maintain_log)
    finally:
        rt.store.dispose()


def _limit_memory(limit: str) -> None:
    """Cap this process's address space (PDZONE_WORKER_MEMORY_LIMIT): a job that needs more fails with
    `job_out_of_memory` instead of starving the machine."""
    import resource

    from pdzone.config import memory_bytes

    n = memory_bytes(limit)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (n if hard == resource.RLIM_INFINITY else min(n, hard), hard))


@app.command("demo")
def demo(serve_: bool = typer.Option(True, "--serve/--no-serve", help="Serve after seeding"),
         host: str = typer.Option("127.0.0.1"), port: int = typer.Option(8000)):
    """Seed a fresh embedded store with the demo city, print the logins, and serve it."""
    from pdzone.web.demo import seed

    rt = _rt()
    db_upgrade(rt.store)
    try:
        accounts = seed(rt)
    except PdzoneError as e:
        _fail(e)
    out.print("demo accounts (demo mode only) / 演示账号（仅限演示）:")
    for a in accounts:
        line = f"  {a['username']:<22} password {a['password']}  role {a['role']}@{a['zone'] or '*'}"
        if a["totp_secret"]:
            line += f"  TOTP secret {a['totp_secret']}"
        out.print(line, highlight=False, soft_wrap=True)
    if serve_:
        serve(host=host, port=port)
