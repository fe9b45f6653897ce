"""Mock data for development: the same schema as a dataset, generated from metadata only.

Types, declared bounds, public values and detected identifier kinds drive the generator; no real
value is ever read, so a mock may be handed to anyone who may see the catalog. Deterministic per
dataset name and version, so a notebook reruns the same way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random

from faker import Faker
from sqlalchemy import select
from sqlalchemy.orm import Session

from pdzone.catalog.models import Dataset, DatasetColumn
from pdzone.errors import Invalid

MAX_MOCK_ROWS = 10_000

_FAKE = {  # detected identifier kind -> a Faker zh_CN provider (synthetic, check digits valid where Faker has them)
    "resident_id": "ssn", "mobile": "phone_number", "landline": "phone_number", "bank_card": "credit_card_number",
    "email": "email", "person_name": "name", "address": "address", "ip_address": "ipv4", "plate": "license_plate",
}


def _value(fake: Faker, rng: random.Random, col: DatasetColumn, public: list | None, coarse: bool = False):
    t = (col.type or "").upper()
    if public:
        v = rng.choice(public)
        return _cast(v, t)
    if not coarse and col.pii_type in _FAKE and hasattr(fake, _FAKE[col.pii_type]):
        return str(getattr(fake, _FAKE[col.pii_type])())
    lo, hi = (col.bounds_lo, col.bounds_hi) if col.bounds_lo is not None else (0.0, 1000.0)
    if "INT" in t:
        return rng.randint(int(lo), int(hi))
    if any(x in t for x in ("DOUBLE", "FLOAT", "DECIMAL", "REAL")):
        return round(rng.uniform(lo, hi), 2)
    if "TIMESTAMP" in t:
        return (dt.datetime(2025, 1, 1) + dt.timedelta(seconds=rng.randint(0, 365 * 86400))).isoformat(sep=" ")
    if "DATE" in t:
        return (dt.date(2025, 1, 1) + dt.timedelta(days=rng.randint(0, 364))).isoformat()
    if "BOOL" in t:
        return rng.random() < 0.5
    return f"样例{col.name}{rng.randint(1, 999):03d}"


def _cast(v, t: str):
    try:
        if "INT" in t:
            return int(v)
        if any(x in t for x in ("DOUBLE", "FLOAT", "DECIMAL", "REAL")):
            return float(v)
    except (TypeError, ValueError):
        return v
    return v


def mock_rows(session: Session, ds: Dataset, rows: int = 1000, *, coarse: bool = False) -> dict:
    """`coarse`: for a partner on level >= 3 data, no value says what the detector found in a column."""
    if not 1 <= rows <= MAX_MOCK_ROWS:
        raise Invalid(f"模拟数据行数须在 1 到 {MAX_MOCK_ROWS} 之间", f"a mock has 1 to {MAX_MOCK_ROWS} rows",
                      code="invalid_rows")
    cols = session.scalars(select(DatasetColumn).where(DatasetColumn.dataset_id == ds.id)
                           .order_by(DatasetColumn.position)).all()
    seed = int.from_bytes(hashlib.sha256(f"{ds.name}:{ds.version}".encode()).digest()[:8], "big")
    rng = random.Random(seed)  # noqa: S311 - synthetic mock values, not secrets
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    public = {c.name: json.loads(c.public_values) if c.public_values else None for c in cols}
    data = [[_value(fake, rng, c, public[c.name], coarse) for c in cols] for _ in range(rows)]
    return {"dataset": ds.name, "version": ds.version, "synthetic": True, "columns": [c.name for c in cols],
            "types": [c.type for c in cols], "roles": [c.role for c in cols], "rows": data}
