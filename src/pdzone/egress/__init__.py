"""The one door out of the zone (R-25, R-32): every value derived from zone data that leaves the
process passes `pdzone.egress.gate`, which checks who asks and the data's state, applies the
release rules of the data's level, writes the audit event in the same transaction and returns a
receipt."""
