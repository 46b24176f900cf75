"""Pure ``WeightedSamples -> WeightedSamples`` transforms and hierarchical recycling."""
from ._reweight import log_marginal_quadrature as log_marginal_quadrature
from ._reweight import marginal_replace as marginal_replace
from ._nested import from_nested as from_nested
from ._nested_adapters import from_blackjax as from_blackjax
from ._nested_adapters import from_dynesty as from_dynesty
from ._nested_adapters import from_jaxns as from_jaxns
from ._nested_adapters import from_ultranest as from_ultranest
from ._population import PopulationLikelihood as PopulationLikelihood
from ._population import SelectionEfficiency as SelectionEfficiency
from ._population import detection_efficiency as detection_efficiency
from ._population import population_factor as population_factor
from ._population import population_log_likelihood as population_log_likelihood
from ._reweight import power_scale as power_scale
from ._reweight import prior_swap as prior_swap
from ._reweight import psis as psis
from ._reweight import reweight as reweight

__all__ = [
    "PopulationLikelihood",
    "SelectionEfficiency",
    "detection_efficiency",
    "from_blackjax",
    "from_dynesty",
    "from_jaxns",
    "from_nested",
    "from_ultranest",
    "log_marginal_quadrature",
    "marginal_replace",
    "population_factor",
    "population_log_likelihood",
    "power_scale",
    "prior_swap",
    "psis",
    "reweight",
]
