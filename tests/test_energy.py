"""Energy, carbon and dollars: the power model, regions, prices, bad input, properties."""

import math

import pytest
from hypothesis import given

import costmodel
from costmodel import estimate_training
from costmodel.energy import defaults

import strategies as st

BASE = dict(params="7B", tokens="1T", hardware="a100-sxm4-80gb", n_gpus=64, mfu=0.4)


def _hours(est):
    return est.gpu_hours.to("hour").magnitude


def test_default_power_model_and_pue():
    est = estimate_training(**BASE)
    d = defaults()
    device_w = 400 * d["busy_fraction"][0]  # A100 SXM TDP x training draw (0.75)
    assert est.footprint.power_per_gpu.to("W").magnitude == pytest.approx(device_w)
    it_kwh = (device_w + 100) * _hours(est) / 1000  # plus 100 W of server per device
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
