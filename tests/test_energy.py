"""Energy, carbon and dollars: the power model, regions, prices, bad input, properties."""

import functools
import importlib.util
import math
from pathlib import Path

import pytest
from hypothesis import given

import costmodel
from costmodel import estimate_training, get_hardware
from costmodel.energy import defaults, describe_footprint, host_power, resolve_footprint
from costmodel.energy_defaults import measured_power, training_power

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
    power model alone). Targets median |error| <= 20%, coverage >= 80%, width <= 2.5x: 0.161,
    0.79 and 1.75x on 29 rows from 8 sources. A device measured by another source takes that
    source's power ([fitted.measured_power]: GLaM's TPU v4 from PaLM's and back, within 15%),
    which narrowed the range from 2.06x; the coverage, 0.85 before Olmo 3 and PaLM joined, is
    23 of 29 (target not met by a fraction of a row): the misses are Olmo 3's GPU-only H100
    power (0.89-0.93 of TDP, 19-24% above the fit without it), TPU v2/v3 hosts and BERT on
    V100s (0.43 of TDP). Twelve rows are one source's (MLPerf), so the median over sources of
    their median |error| is guarded too (0.145). Out of sample (nested: each source's ends from
    the other sources' residuals alone) 0.72 are inside. The thresholds guard today's figures."""
    s = _fit()["figures"]["hours_measured"]
    assert s["n"] >= 29 and s["sources"] >= 8
    assert s["median_width"] <= 2.5  # target met
    assert s["median_abs_error"] <= 0.20  # target met
    assert s["source_median_abs_error"] <= 0.20
    assert s["coverage"] >= 0.75  # target 0.80 not met (0.79)
    assert s["nested_coverage"] >= 0.70


def test_loso_energy_end_to_end():
    """Leave-one-source-out end to end (the training model's hours, its spread combined with the
    power spread). Targets 20%, 80%, 2.5x: 0.090, 0.82 and 2.15x on 11 rows from 7 sources, all
    met. Before PaLM's measured TPU v4 system power (378.5 W a chip) joined, GLaM's two rows
    were 33% below (a TPU v4 chip modelled at about 250 W, its host's share taken from GPU
    servers, against 326 W measured) and the coverage was 0.75; each TPU v4 source now predicts
    the other. The misses: PaLM (39% below: 14% from GLaM's lower power, the rest the training
    model's hours against chip-hours that include downtime) and Olmo 3 32B (34% below). Out of
    sample (nested: each source's power spread from the other sources' residuals alone) the
    coverage is the same, 0.82."""
    s = _fit()["figures"]["e2e_measured"]
    assert s["n"] >= 11 and s["sources"] >= 7
    assert s["median_abs_error"] <= 0.20
    assert s["coverage"] >= 0.80 and s["nested_coverage"] >= 0.80
    assert s["median_width"] <= 2.5


def test_measured_power_is_never_its_own_sources_prediction():
    """The leave-one-source-out table of measured power per device leaves the held-out
    source's rows out: the median over the other sources' medians, device and server apart."""
    fit = _module()
    points = [{"group": "a", "hw": "x", "level": "it", "watts": 300.0},
              {"group": "a", "hw": "x", "level": "it", "watts": 320.0},
              {"group": "b", "hw": "x", "level": "it", "watts": 400.0},
              {"group": "b", "hw": "x", "level": "device", "watts": 250.0},
              {"group": "c", "hw": "y", "level": "device", "watts": 100.0}]
    everything = fit.measured_table(points)
    assert everything["x"] == pytest.approx((250.0, (310.0 + 400.0) / 2))
    assert everything["y"][0] == 100.0 and math.isnan(everything["y"][1])
    without_b = fit.measured_table(points, "b")
    assert math.isnan(without_b["x"][0]) and without_b["x"][1] == pytest.approx(310.0)
    assert "y" not in fit.measured_table(points, "c")
    assert fit.loso_tables(points)["a"]["x"] == pytest.approx((250.0, 400.0))


def test_measured_power_block_is_the_fit_of_the_measured_rows():
    """[fitted.measured_power] is what scripts/fit_energy.py takes from the measured rows, and
    resolve_footprint uses it: TPU v4 (GLaM 326 W, PaLM 378.5 W a chip with its host) draws
    their median before PUE, and the assumptions say so."""
    result = _fit()
    for hw_id, (device_w, it_w) in result["measured"].items():
        shipped = measured_power(hw_id)
        for got, want in zip(shipped, (device_w, it_w)):
            assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, abs=0.05)
    assert measured_power("tpu-v4")[1] == pytest.approx((326.5 + 378.5) / 2, abs=0.1)
    assert all(math.isnan(w) for w in measured_power("b200"))  # no measurement: the fit's constants
    hw = get_hardware("tpu-v4")
    f, labels = resolve_footprint(hw)
    assert float(f.busy[0]) * 192.0 + float(f.host_w[0]) == pytest.approx(352.5, abs=0.1)
    assert "measured under training: with its server's share 352 W" in describe_footprint(hw, f, labels)["power"]


def test_training_power_takes_measurements_before_the_fit():
    """A measured device power sets the busy fraction; a measured power with the server sets the
    sum, the server taking what the device (measured, else modelled) does not; nothing measured:
    the draw fraction and the host share of the nameplate headroom. Each end scales by the spread."""
    nan = math.nan
    spread = (1.0, 0.5, 2.0)
    busy, host = training_power("h100-sxm5-80gb", 700.0, draw=0.8, share=0.5, spread=spread, measured=(630.0, 900.0))
    assert busy == pytest.approx((0.9, 0.45, 1.8)) and host == pytest.approx((270.0, 135.0, 540.0))
    busy, host = training_power("h100-sxm5-80gb", 700.0, draw=0.8, share=0.5, spread=spread, measured=(nan, 900.0))
    assert busy[0] == pytest.approx(0.8) and host[0] == pytest.approx(900.0 - 560.0)
    busy, host = training_power("tpu-v3", 262.0, draw=0.8, share=0.5, spread=(1.0,), measured=(nan, 150.0))
    assert busy[0] * 262.0 == pytest.approx(150.0) and host[0] == 0.0  # the device alone takes it all
    busy, host = training_power("h100-sxm5-80gb", 700.0, draw=0.8, share=0.5, spread=(1.0,), measured=(630.0, nan))
    assert busy[0] == pytest.approx(0.9) and host[0] == pytest.approx(0.5 * (10200 / 8 - 700))
    busy, host = training_power("h100-sxm5-80gb", 700.0, draw=0.8, share=0.5, spread=(1.0,), measured=(nan, nan))
    assert busy[0] == pytest.approx(0.8) and host[0] == pytest.approx(0.5 * (10200 / 8 - 700))


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
