"""Migration 0008 adds the constraints, and refuses to run over rows that already break them."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from pdzone.db import alembic_config, current_revision, upgrade
from tests import factories as f
from tests.conftest import make_runtime


def _before_0008(store) -> str:
    """Downgrade to the revision 0008 follows (whatever the chain's order), and return it."""
    cfg = alembic_config(store.url)
    prev = ScriptDirectory.from_config(cfg).get_revision("0008").down_revision
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, prev)
    return prev


def test_upgrade_names_accounts_that_already_break_separation_of_duties(tmp_path, db_url):
    rt = make_runtime(tmp_path, db_url)
    try:
        with rt.store.transaction() as s:
            uid = f.user(s, rt.vault, f.org(s), "twohats", role="auditor")[0].id
        prev = _before_0008(rt.store)
        with rt.store.engine.begin() as c:  # what parallel grants could leave behind before 0008
            c.execute(text("insert into role_assignments (user_id, role, zone_code, granted_at, granted_by) "
                           "values (:u, 'system_admin', null, :t, 'race')"),
                      {"u": uid, "t": "2026-12-01 00:00:00"})
        with pytest.raises(RuntimeError, match=rf"more than one admin role.*\[{uid}\]"):
            upgrade(rt.store)
        assert current_revision(rt.store) == prev  # nothing half-done
        with rt.store.engine.begin() as c:
            c.execute(text("delete from role_assignments where granted_by = 'race'"))
        upgrade(rt.store)
        with pytest.raises(IntegrityError), rt.store.engine.begin() as c:  # and now the index holds the line
            c.execute(text("insert into role_assignments (user_id, role, zone_code, granted_at, granted_by) "
                           "values (:u, 'security_admin', null, :t, 'race')"),
                      {"u": uid, "t": "2026-12-01 00:00:00"})
    finally:
        rt.store.dispose()
