"""The Dagster code location: gathers the domain modules under ``defs/`` and nothing else."""

import dagster as dg

# Each domain package under defs/ exposes ``defs``; later issues add theirs here.
DOMAINS: list = []

defs = dg.Definitions.merge(*(domain.defs for domain in DOMAINS)) if DOMAINS else dg.Definitions()
