"""The paper's appendix C log joints and proposals, written out independently of the models.

Each function takes the latent values (in the models' site shapes) and the data, and returns
``log P(x, z)`` (eqs. 66, 68, 70, 72) or ``log Q(z)`` (eqs. 67, 69, 71, 73) as a scalar.
"""
import jax.numpy as jnp
from jax.nn import log_sigmoid
from jax.scipy.special import gammaln
from jax.scipy.stats import cauchy, norm


def _half_cauchy(x):
    return jnp.log(2.0) + cauchy.logpdf(x)


def _bernoulli(y, logits):
    return jnp.sum(y * log_sigmoid(logits) + (1 - y) * log_sigmoid(-logits))


def _std(*xs):
    return sum(jnp.sum(norm.logpdf(x)) for x in xs)


def chimpanzees_model(v, condition, prosoc_left, obs):
    A, B, _ = condition.shape
    actor, block = v["alpha_actor"].reshape(A), v["alpha_block"].reshape(A, B)
    lp = _half_cauchy(v["sigma_actor"]) + _half_cauchy(v["sigma_block"])
    lp += sum(norm.logpdf(v[k], 0.0, 10.0) for k in ("beta_pc", "beta_p", "alpha"))
    lp += jnp.sum(norm.logpdf(actor, 0.0, v["sigma_actor"]))
    lp += jnp.sum(norm.logpdf(block, 0.0, v["sigma_block"]))
    logits = v["alpha"] + actor[:, None, None] + block[:, :, None]
    logits = logits + (v["beta_p"] + v["beta_pc"] * condition) * prosoc_left
    return lp + _bernoulli(obs, logits)


def chimpanzees_guide(v, condition, prosoc_left, obs):
    lp = _half_cauchy(v["sigma_actor"]) + _half_cauchy(v["sigma_block"])
    lp += sum(norm.logpdf(v[k], 0.0, 10.0) for k in ("beta_pc", "beta_p", "alpha"))
    return lp + _std(v["alpha_actor"], v["alpha_block"])


def bus_breakdown_model(v, run_type, bus_company_name, obs):
    Y, B = obs.shape[:2]
    year_mean, year_var = v["year_mean"].reshape(Y), v["year_variance"].reshape(Y)
    weight = v["year_borough_weight"].reshape(Y, B)
    lp = _std(v["global_mean"], v["global_variance"], v["company_weight"])
    lp += _std(v["journey_type_weight"], year_var)
    lp += jnp.sum(norm.logpdf(year_mean, v["global_mean"], jnp.exp(v["global_variance"])))
    lp += jnp.sum(norm.logpdf(weight, year_mean[:, None], jnp.exp(year_var)[:, None]))
    logits = weight[:, :, None] + jnp.einsum("ybic,c->ybi", bus_company_name, v["company_weight"])
    logits = logits + jnp.einsum("ybij,j->ybi", run_type, v["journey_type_weight"])
    log_choose = gammaln(132.0) - gammaln(obs + 1) - gammaln(132.0 - obs)
    return lp + jnp.sum(log_choose + obs * log_sigmoid(logits) + (131 - obs) * log_sigmoid(-logits))


def bus_breakdown_guide(v, run_type, bus_company_name, obs):
    return _std(*v.values())


def movielens_model(v, x, obs):
    z = v["z"].reshape(x.shape[0], x.shape[2])
    lp = _std(v["mu"], v["psi"]) + jnp.sum(norm.logpdf(z, v["mu"], jnp.exp(v["psi"])))
    return lp + _bernoulli(obs, jnp.einsum("mnf,mf->mn", x, z))


def movielens_guide(v, x, obs):
    return _std(*v.values())


def _presence_logits(v, weather):
    M, J, _ = weather.shape
    bird_year = v["bird_year_mean"].reshape(M, J)
    return bird_year[:, :, None] * v["weather_weight"].reshape(J)[None, :, None] * weather


def occupancy_model(v, weather, quality, obs):
    M, J, I = weather.shape
    weights = ("bird_mean", "quality_weight", "weather_weight")
    lp = _std(*(v[f"{p}_{w}"] for w in weights for p in ("mu", "sigma")))
    for w in weights:
        lp += jnp.sum(norm.logpdf(v[w].reshape(J), v[f"mu_{w}"], jnp.exp(v[f"sigma_{w}"])))
    lp += jnp.sum(norm.logpdf(v["bird_year_mean"].reshape(M, J), v["bird_mean"].reshape(J), 1.0))
    z = v["z"].reshape(M, J, I)
    lp += _bernoulli(z, _presence_logits(v, weather))
    logits_y = z * v["quality_weight"].reshape(J)[None, :, None] * quality + (1 - z) * -10.0
    return lp + _bernoulli(obs, logits_y[..., None])


def occupancy_guide(v, weather, quality, obs):
    continuous = _std(*(value for name, value in v.items() if name != "z"))
    z = v["z"].reshape(weather.shape)
    return continuous + _bernoulli(z, _presence_logits(v, weather))


REFERENCE = {
    "chimpanzees": (chimpanzees_model, chimpanzees_guide),
    "bus_breakdown": (bus_breakdown_model, bus_breakdown_guide),
    "movielens": (movielens_model, movielens_guide),
    "occupancy": (occupancy_model, occupancy_guide),
}
