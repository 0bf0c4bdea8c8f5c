"""Energy, carbon and dollars: the power model, regions, prices, bad input, properties."""

import functools
import importlib.util
import math
from pathlib import Path

import pytest
from hypothesis import given

import costmodel
from costmodel import estimate_training
from costmodel.energy import defaults, host_power

import strategies as st

ROOT = Path(__file__).resolve().parent.parent
BASE = dict(params="7B", tokens="1T", hardware="a100-sxm4-80gb", n_gpus=64, mfu=0.4)


def _hours(est):
    return est.gpu_hours.to("hour").magnitude


def test_default_power_model_and_pue():
    est = estimate_training(**BASE)
    d = defaults()
    share = d["busy_fraction"][0]  # the fitted share of nameplate drawn under training load
    device_w = 400 * share  # A100 SXM TDP x draw fraction
    assert est.footprint.power_per_gpu.to("W").magnitude == pytest.approx(device_w)
    host_w = d["host_share"][0] * (6500 / 8 - 400)  # DGX A100: 6.5 kW for 8 GPUs of 400 W
    assert est.footprint.host_power_per_gpu.to("W").magnitude == pytest.approx(host_w)
    it_kwh = (device_w + host_w) * _hours(est) / 1000
    assert est.it_energy.to("kWh").magnitude == pytest.approx(it_kwh, rel=1e-9)
    assert est.footprint.pue == pytest.approx(1.10)  # rented: hyperscale cloud
    assert est.energy.to("kWh").magnitude == pytest.approx(1.10 * it_kwh, rel=1e-9)
    assert est.co2e.to("kg").magnitude == pytest.approx(1.10 * it_kwh * 0.481, rel=1e-9)  # world, Ember 2023
    assert est.cost.to("USD").magnitude == pytest.approx(_hours(est) * 3.43, rel=0.01)  # AWS p4de / 8


def test_owned_hardware_uses_industry_pue_and_amortised_purchase():
    est = estimate_training(**BASE, cost_basis="owned", purchase_price="$15000", electricity_price="$0.10/kWh",
                            service_life="5 years")
    assert est.footprint.pue == pytest.approx(1.56)
    capital = _hours(est) * 15000 / (5 * 8760)
    power = est.energy.to("kWh").magnitude * 0.10
    assert est.cost.to("USD").magnitude == pytest.approx(capital + power, rel=1e-3)
    assert est.footprint.cost_basis == "owned"


def test_region_sets_grid_and_pue():
    france = estimate_training(**BASE, region="france")
    region = costmodel.get_region("france")
    assert france.footprint.grid_intensity.magnitude == pytest.approx(region.grid_intensity.magnitude)
    assert france.footprint.pue == pytest.approx(region.pue)
    assert region.grid_intensity.magnitude < 100  # nuclear-heavy grid


def test_host_power_comes_from_the_server_specification():
    d = defaults()
    assert host_power("h100-sxm5-80gb", 700.0, share=1.0) == pytest.approx(10200 / 8 - 700)  # DGX H100
    assert host_power("v100-sxm2-32gb", 300.0, share=1.0) == pytest.approx(3500 / 8 - 300)  # DGX-1 (V100)
    # no listed system (a TPU): the listed systems' median headroom as a share of TDP
    assert host_power("tpu-v3", 262.0) == pytest.approx(d["host_share"][0] * d["headroom_ratio"][0] * 262.0)
    assert 0.4 < d["headroom_ratio"][0] < 1.1  # between DGX-1's 0.46 and DGX A100's 1.03


def test_fitted_constants_are_the_fit_of_the_measured_rows():
    """scripts/fit_energy.py reproduces the [fitted] block (nobody edited it by hand)."""
    result = _fit()
    d = defaults()
    assert d["busy_fraction"][0] == pytest.approx(result["draw_fraction"], abs=5e-5)
    assert d["host_share"][0] == pytest.approx(result["host_share"], abs=5e-5)
    assert math.log(d["busy_fraction"][1] / d["busy_fraction"][0]) == pytest.approx(result["q10"], abs=5e-5)
    assert math.log(d["busy_fraction"][2] / d["busy_fraction"][0]) == pytest.approx(result["q90"], abs=5e-5)
    # Newkirk et al. 2025 measured 76% of the DGX H100 rating; Patterson et al. 2021 ~0.75 of DGX-1's
    assert 0.6 <= result["draw_fraction"] <= 0.8
    # the data supports one share for device and server better than a free host share
    assert result["power_error"] < result["power_error_free_host"]


def test_loso_energy_given_published_hours():
    """Leave-one-source-out, measured/metered rows, the published accelerator-hours given (the
    power model alone). Targets median |error| <= 20%, coverage >= 80%, width <= 2.5x: all met
    (0.152, 0.85, 2.06x on 26 rows from 6 sources) since MLPerf Training v4.0's metered H100 runs
    joined and the range takes the residuals' quantiles one vote per source. Twelve of the rows are
    one source's (MLPerf), so the median over sources of their median |error| is guarded too
    (0.153); the misses are TPU v2/v3 hosts and BERT on V100s (0.43 of TDP)."""
    s = _fit()["figures"]["hours_measured"]
    assert s["n"] >= 26 and s["sources"] >= 6
    assert s["median_width"] <= 2.5
    assert s["median_abs_error"] <= 0.20
    assert s["source_median_abs_error"] <= 0.20
    assert s["coverage"] >= 0.80


def test_loso_energy_end_to_end():
    """Leave-one-source-out end to end (the training model's hours, its spread combined with the
    power spread). Targets 20%, 80%, 2.5x: the median error is 0.165 and the width 2.39x (both
    met since the data-parallel traffic counts fp32 gradients for bf16 runs and the refit raised
    dp_overlap from 0.1 to 0.3, hiding more of GPT-3's fp16 traffic on 10,000 V100s: its energy
    error with the shipped constants fell from +30% to +13%; and since runs trained before
    FlashAttention are estimated without it, as the training table has them: T5 -22% -> -9%,
    GLaM -47% -> -33%); the coverage is 0.75 (not met: GLaM's two rows are 37% below with the
    constants fitted without them, their high ends 2-3% short: a TPU v4 chip's power, its host's
    share taken from GPU servers, comes to about 250 W against the 326 W measured). The
    thresholds guard today's figures."""
    s = _fit()["figures"]["e2e_measured"]
    assert s["n"] >= 8
    assert s["median_abs_error"] <= 0.20  # target met
    assert s["coverage"] >= 0.70  # target 0.80 not met
    assert s["median_width"] <= 2.5  # target met


def test_range_quantiles_give_each_source_one_vote():
    """Ten rows of one source at residual 0 and one row of another at 1: unweighted, the 90th
    percentile is 0 (the big source's rows); one vote per source puts it at the other source's 1."""
    import numpy as np

    fit = _module()
    points = [{"group": "big"}] * 10 + [{"group": "small"}]
    resid = np.array([0.0] * 10 + [1.0])
    assert float(np.quantile(resid, 0.9)) == 0.0
    assert fit.source_quantiles(points, resid) == pytest.approx((0.0, 1.0))
    assert fit.source_median([("a", 0.1), ("a", 0.3), ("b", -0.5)]) == pytest.approx(0.35)


@functools.cache
def _module():
    """scripts/fit_energy.py as a module."""
    spec = importlib.util.spec_from_file_location("fit_energy", ROOT / "scripts" / "fit_energy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def _fit() -> dict:
    """The fit and its leave-one-source-out figures, as scripts/fit_energy.py prints them."""
    return _module().main([])


def test_edge_devices_have_no_separate_host():
    est = estimate_training(params="10M", tokens="1B", hardware="jetson-agx-orin-64gb", n_gpus=1, mfu=0.3)
    assert est.footprint.host_power_per_gpu.magnitude == 0


def test_embodied_is_separate_and_opt_in():
    plain = estimate_training(**BASE)
    assert plain.footprint.embodied_co2e is None
    with_embodied = estimate_training(**BASE, embodied=True)
    assert with_embodied.co2e == plain.co2e  # never mixed into the operational figure
    d = defaults()
    expected = _hours(plain) * d["embodied_g"][0] / d["service_life_h"][0] / 1000
    assert with_embodied.footprint.embodied_co2e.to("kg").magnitude == pytest.approx(expected)


def test_missing_price_gives_no_cost_and_says_why():
    est = estimate_training(params="7B", tokens="1T", hardware="h800-sxm5-80gb", n_gpus=64)
    assert est.cost is None
    assert "no published price" in est.assumptions["cost"]


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(pue=0.9), costmodel.InputError, "pue: expected a number from 1.0"),
    (dict(pue="high"), costmodel.InputError, "pue: expected a number"),
    (dict(price_per_gpu_hour="-$2/h"), costmodel.UnitError, "price_per_gpu_hour"),
    (dict(price_per_gpu_hour="$2"), costmodel.UnitError, "price_per_gpu_hour: expected a price per device-hour"),
    (dict(grid_intensity=-5), costmodel.UnitError, "grid_intensity: .*zero or more"),
    (dict(power_per_gpu="400 J"), costmodel.UnitError, "power_per_gpu: expected a power"),
    (dict(region="atlantis"), costmodel.UnknownProfileError, "'atlantis' is not a known region"),
    (dict(region="frnace"), KeyError, "did you mean 'france'"),
    (dict(cost_basis="leased"), costmodel.InputError, "cost_basis: expected 'cloud' or 'owned'"),
])
def test_bad_energy_input(kwargs, error, message):
    with pytest.raises(error, match=message):
        estimate_training(**BASE, **kwargs)


# ---- properties -------------------------------------------------------------------------

@given(st.pue)
def test_energy_is_power_times_time_times_pue(pue):
    est = estimate_training(**BASE, pue=pue)
    watts = est.footprint.power_per_gpu.to("W").magnitude + est.footprint.host_power_per_gpu.to("W").magnitude
    expected_j = watts * 64 * est.wall_time.to("s").magnitude * pue
    assert est.energy.to("J").magnitude == pytest.approx(expected_j, rel=1e-9)
    assert est.it_energy.to("J").magnitude == pytest.approx(expected_j / pue, rel=1e-9)


@given(st.pue)
def test_doubling_pue_doubles_facility_energy(pue):
    a = estimate_training(**BASE, pue=pue)
    b = estimate_training(**BASE, pue=2 * pue)
    assert b.energy.magnitude == pytest.approx(2 * a.energy.magnitude, rel=1e-12)
    assert b.it_energy == a.it_energy


@given(st.price, st.factor)
def test_cost_is_linear_in_price(price, k):
    a = estimate_training(**BASE, price_per_gpu_hour=price)
    b = estimate_training(**BASE, price_per_gpu_hour=price * k)
    assert b.cost.magnitude == pytest.approx(k * a.cost.magnitude, rel=1e-12)


@given(st.intensity, st.factor)
def test_carbon_is_linear_in_grid_intensity(g, k):
    a = estimate_training(**BASE, grid_intensity=g)
    b = estimate_training(**BASE, grid_intensity=g * k)
    assert b.co2e.magnitude == pytest.approx(k * a.co2e.magnitude, rel=1e-12)


@given(st.params, st.tokens, st.devices, st.gpu_hardware)
def test_footprint_finite_and_non_negative(n, d, gpus, hw):
    est = estimate_training(params=n, tokens=d, hardware=hw, n_gpus=gpus, embodied=True)
    for q in (est.energy, est.it_energy, est.co2e, est.footprint.embodied_co2e):
        assert math.isfinite(q.magnitude) and q.magnitude >= 0
    if est.cost is not None:
        assert math.isfinite(est.cost.magnitude) and est.cost.magnitude >= 0


def test_units_of_energy_inputs_do_not_change_answers():
    a = estimate_training(**BASE, power_per_gpu=400, grid_intensity=385, price_per_gpu_hour=2.0)
    b = estimate_training(**BASE, power_per_gpu="0.4 kW", grid_intensity="0.385 kg/kWh", price_per_gpu_hour="$2/h")
    assert b.energy.magnitude == pytest.approx(a.energy.magnitude, rel=1e-12)
    assert b.co2e.magnitude == pytest.approx(a.co2e.magnitude, rel=1e-12)
    assert b.cost.magnitude == pytest.approx(a.cost.magnitude, rel=1e-12)


def test_a_phone_runs_at_pue_one_and_says_why():
    est = costmodel.estimate_inference("distilbert-base", hardware="a17-pro", prompt_tokens=128, output_tokens=0)
    assert est.footprint.pue == 1.0
    assert est.assumptions["pue"] == "1 (phone device: no data-centre facility)"
    given = costmodel.estimate_inference("distilbert-base", hardware="a17-pro", prompt_tokens=128, output_tokens=0,
                                         pue=1.2)
    assert given.assumptions["pue"].startswith("1.2 ")
