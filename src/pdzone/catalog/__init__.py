"""The catalog (数据目录): datasets, their metadata, levels, decisions, lineage; import (R-21.4, R-27, R-28)."""
