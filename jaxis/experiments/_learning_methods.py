"""The runner's proposal-learning methods: one :class:`Learner` (init, step, params) each.

Every method trains the same mean-field proposal, :func:`jaxis.qem_guide` of the model
(a Normal, LogNormal, Bernoulli, ... per latent, one set of parameters per plate element:
the paper's "same structure as the prior, each latent parameterised independently"):

======== ============================================================ ==================
method   update (``K``: the learning config's K)                      reference
======== ============================================================ ==================
vi       Adam on ``Trace_ELBO`` (one sample: ``E_q log p(x, z)/q(z)``)  Kingma, Welling 2014
iwae     Adam on ``jaxis.IWELBO(K)`` (global IS bound)                 Burda et al. 2016
mp_vi    Adam on ``jaxis.MPELBO(K)`` (the MP bound ``log P-hat``)       Bowyer et al. 2023
rws      Adam on ``jaxis.RWS(K)`` (wake-phase q update, global IS)     Le et al. 2019
mp_rws   Adam on ``jaxis.MPRWS(K)`` (wake-phase q update, MP IS)       Heap et al. 2023
qem      ``jaxis.build_qem_step(K, lr)``: moment matching, EMA ``lr``  Heap et al. 2024
======== ============================================================ ==================

The learning rate is an argument of ``init`` and ``step`` (a traced value), so one
compilation serves every learning rate. SVI methods start from the guide's initial
parameters (standard members of each family: ``Normal(0, 1)``, ``LogNormal(0, 1)``,
``Bernoulli(1/2)``); QEM starts from the prior's moments, as :func:`jaxis.qem` does.
``vi`` and ``iwae`` need reparameterised samples: a proposal with a discrete latent is
rejected for them (the paper's Figure 3 runs only RWS on occupancy).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple

import jax
import optax
from numpyro.infer import SVI, Trace_ELBO

from ..learn import IWELBO, MPELBO, MPRWS, RWS, QEMGuide, build_qem_step, qem_init

LEARNING_LABELS = {
    "vi": "VI",
    "iwae": "IWAE",
    "mp_vi": "MP VI",
    "rws": "RWS",
    "mp_rws": "MP RWS",
    "qem": "QEM",
}
"""The proposal-learning methods the runner trains, with their display names."""

_LOSSES: Mapping[str, Callable[[int], Any]] = {
    "vi": lambda K: Trace_ELBO(),
    "iwae": IWELBO,
    "mp_vi": MPELBO,
    "rws": RWS,
    "mp_rws": MPRWS,
}
_REPARAMETERISED = ("vi", "iwae")
MP_METHODS = ("mp_vi", "mp_rws", "qem")
"""Methods whose steps contract K^n-sized MP factors (the runner runs them in turn)."""
_DISCRETE = ("Bernoulli", "Categorical")
QEM_PRIOR_SAMPLES = 1000
"""Prior draws that set QEM's initial moments."""


class Learner(NamedTuple):
    """``init(rng_key, lr, train) -> state``, ``step(state, train) -> state``,
    ``params(state) -> dict`` (the guide's ``numpyro.param`` values); ``train``: the
    model's keyword arguments; the learning rate travels in the state. Pure functions:
    jit and vmap them."""

    init: Callable
    step: Callable
    params: Callable


def check_learning_methods(methods: tuple[str, ...]) -> tuple[str, ...]:
    """``methods`` if the runner can train each of them; ``ValueError`` naming the key."""
    unknown = [m for m in methods if m not in LEARNING_LABELS]
    if unknown:
        raise ValueError(
            f"learning.methods: the runner trains {', '.join(LEARNING_LABELS)}, not "
            f"{unknown[0]}. Fix: e.g. --set 'learning.methods=[mp_vi, mp_rws]'."
        )
    return methods


def check_reparameterisable(methods: tuple[str, ...], guide: QEMGuide, model_name: str,
                            train: Mapping[str, jax.Array]) -> None:
    """``ValueError`` if a method needing reparameterised samples meets a discrete latent."""
    bad = [m for m in methods if m in _REPARAMETERISED]
    discrete = [s.name for s in guide.sites(**train) if s.family.name in _DISCRETE]
    if bad and discrete:
        ok = [m for m in LEARNING_LABELS if m not in _REPARAMETERISED]
        raise ValueError(
            f"learning.methods: {bad[0]} needs reparameterised samples, and {model_name}'s "
            f"latent {discrete[0]!r} is discrete. Fix: use {', '.join(ok)} for this model, "
            f"e.g. --set 'learning.methods=[mp_rws]'."
        )


def _svi_learner(model: Callable, guide: QEMGuide, loss: Any,
                 train: Mapping[str, jax.Array]) -> Learner:
    """numpyro SVI with Adam whose learning rate is a state entry (``inject_hyperparams``)."""
    svi = SVI(model, guide, optax.inject_hyperparams(optax.adam)(learning_rate=1.0), loss=loss)
    svi.init(jax.random.PRNGKey(0), **train)  # numpyro sets the param constraints up here

    def init(rng_key, lr, train):
        return optax.tree_utils.tree_set(svi.init(rng_key, **train), learning_rate=lr)

    def step(state, train):
        return svi.update(state, **train)[0]

    return Learner(init, step, svi.get_params)


def _qem_learner(model: Callable, guide: QEMGuide, K: int) -> Learner:
    """QEM with the step's key and the learning rate carried in the state:
    ``(rng_key, lr, QEMState)``."""

    def init(rng_key, lr, train):
        k_init, k_steps = jax.random.split(rng_key)
        return k_steps, lr, qem_init(k_init, guide, QEM_PRIOR_SAMPLES, **train)

    def step(state, train):
        key, lr, qem_state = state
        key, k_step = jax.random.split(key)
        return key, lr, build_qem_step(model, guide, K, lr)(k_step, qem_state, **train)[0]

    return Learner(init, step, lambda state: state[2].params)


def make_learner(method: str, model: Callable, guide: QEMGuide, K: int,
                 train: Mapping[str, jax.Array]) -> Learner:
    """The :class:`Learner` of ``method`` (a key of :data:`LEARNING_LABELS`) at ``K``, for
    the model's training data ``train`` (SVI reads its parameter sites from one run)."""
    if method == "qem":
        return _qem_learner(model, guide, K)
    return _svi_learner(model, guide, _LOSSES[method](K), train)
