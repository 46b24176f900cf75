"""Stage 4: queries as derivatives of ``log_z``."""
from ._moments import log_evidence as log_evidence
from ._moments import marginals as marginals
from ._moments import moments as moments
