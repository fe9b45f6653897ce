"""Protection of zone data (R-21.3, R-31): PII detection for Chinese identifiers, level suggestion,
masking and de-identification operators, encryption of datasets at rest."""
