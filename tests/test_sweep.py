"""Sweeps: the product of list inputs in one pass, matching the scalar estimates exactly."""

import math

import numpy as np
import pandas as pd
import pytest

import costmodel
from costmodel import estimate_training, sweep_inference, sweep_training


def _same(scalar: dict, row: pd.Series):
    for key, value in scalar.items():
        if key in row.index and isinstance(value, float):
            other = float(row[key])
            assert (math.isnan(value) and math.isnan(other)) or other == pytest.approx(value, rel=1e-12), key


def test_training_sweep_is_the_cartesian_product_and_rows_match_estimates():
    df = sweep_training(model=["gpt2-xl", "llama-2-7b", "gpt3-175b"], tokens="100B",
                        hardware=["a100-sxm4-80gb", "h100"], n_gpus=[8, 64, 512], ranges=True)
    assert len(df) == 3 * 2 * 3
    assert set(df.model) == {"gpt2-xl", "llama-2-7b", "gpt3-175b"}
    assert df.attrs["units"]["gpu_hours_h"] == "hour" and df.attrs["units"]["energy_MWh"] == "MWh"
    for i in (0, 7, 17):
        row = df.iloc[i]
        est = costmodel.estimate_training(row.model, tokens="100B", hardware=row.hardware, n_gpus=int(row.n_gpus))
        _same(est.to_dict(ranges=True), row)


@pytest.mark.parametrize("grid", [
    dict(params=[1.3e8, 7e8, 2.6e9, 1.3e10, 7e10, 3e11], tokens=["3e10", "2e12"],
         hardware=["a100-sxm4-80gb", "h100", "b200", "tpu-v5p"], n_gpus=[1, 3, 8, 12, 64, 96, 512, 4096]),
    dict(params=[7e8, 1.3e10, 7e10], tokens="1T", hardware=["h100", "tpu-v5p"], n_gpus=[4, 12, 64, 1024],
         tp=[None, 2], pp=[None, 2]),
    dict(model=["gpt2-xl", "llama-2-70b", "mixtral-8x7b"], tokens="1T", hardware=["a100-sxm4-40gb", "h100", "tpu-v5p"],
         n_gpus=[2, 16, 48, 256, 2048], zero_stage=[None, 1]),
], ids=["params", "catalog", "given-degrees"])
def test_a_sweeps_chosen_layouts_are_the_estimates_for_a_random_sample_of_rows(grid):
    # the sweep searches the layout once per distinct layout input, timing only the shortlisted
    # candidates that fit and no ZeRO-3 layout a ZeRO-1 one beside it beats; the estimate times
    # all of them. Dense and mixture-of-experts models, every device count from one device to
    # many nodes, nodes of 8 GPUs and a TPU pod of 8,960 chips (where tp 16 is allowed), and
    # degrees given in some rows and searched in others.
    df = sweep_training(**grid)
    seen = {(row.tp, row.pp, row.zero_stage) for row in df.itertuples()}
    assert len(seen) >= 8  # the grid reaches many different layouts, not one
    lists = {k: v for k, v in grid.items() if isinstance(v, list)}
    for i in np.random.default_rng(17).choice(len(df), size=40, replace=False):
        row = df.iloc[i]
        at = np.unravel_index(i, [len(v) for v in lists.values()])  # the row's inputs: rows are in C order
        kwargs = {**grid, **{k: v[j] for (k, v), j in zip(lists.items(), at)}}
        est = costmodel.estimate_training(**kwargs)
        assert (est.layout["tp"], est.layout["pp"], est.layout["zero_stage"]) == (row.tp, row.pp, row.zero_stage), kwargs
        _same(est.to_dict(), row)


def test_inference_sweep_rows_match_estimates():
    df = sweep_inference(model=["llama-2-7b", "mixtral-8x7b"], hardware=["a100-sxm4-80gb", "h100"],
                         n_gpus=[1, 4], prompt_tokens=[128, 1024], output_tokens=[1, 256], batch_size=[1, 16],
                         batching=["static", "continuous"], ranges=True)
    assert len(df) == 2 ** 7
    for i in range(0, len(df), 9):
        row = df.iloc[i]
        est = costmodel.estimate_inference(row.model, hardware=row.hardware, n_gpus=int(row.n_gpus),
                                           prompt_tokens=int(row.prompt_tokens), output_tokens=int(row.output_tokens),
                                           batch_size=int(row.batch_size), batching=row.batching)
        _same(est.to_dict(ranges=True), row)
        assert row.bound_decode == est.bound["decode"] and bool(row.fits) == est.fits


def test_any_keyword_takes_arrays_and_series():
    df = sweep_training(params=np.array([1e9, 7e9]), tokens=pd.Series([1e11, 1e12]), hardware="h100", n_gpus=range(1, 4),
                        pue=[1.1, 1.5])
    assert len(df) == 2 * 2 * 3 * 2
    ratio = df[df.pue == 1.5].energy_MWh.to_numpy() / df[df.pue == 1.1].energy_MWh.to_numpy()
    assert np.allclose(ratio, 1.5 / 1.1)


def test_a_quantity_of_several_values_is_swept_as_its_values():
    # found by fuzzing the sweeps: a Quantity array reached one row's resolver whole
    # ("unhashable type: 'numpy.ndarray'")
    prices = costmodel.ureg.Quantity([1.0, 2.5], "USD/hour")
    df = sweep_training(params="7B", tokens="1T", hardware="h100", n_gpus=8, price_per_gpu_hour=prices)
    each = [estimate_training(params="7B", tokens="1T", hardware="h100", n_gpus=8, price_per_gpu_hour=p).cost
            for p in ("1 USD/h", "2.5 USD/h")]
    assert df.cost_USD.tolist() == pytest.approx([c.to("USD").magnitude for c in each], rel=1e-12)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(n_gpus=[8, -1]), costmodel.UnitError, "n_gpus: expected a value more than zero, got -1"),
    (dict(n_gpus=[8], hardware=["h100", "h1000"]), costmodel.UnknownProfileError, "'h1000' is not a known hardware"),
    (dict(n_gpus=[8], tokens=["1T", "80 GB"]), costmodel.UnitError, "tokens: expected a count .* got '80 GB'"),
    (dict(n_gpus=[8], mfu=[0.4, 2.0]), costmodel.InputError, r"mfu: expected a number in \(0, 1\], got 2.0"),
    (dict(n_gpus=[], ), costmodel.InputError, "n_gpus: the list of values is empty"),
    (dict(n_gpus=[8], gpus=[8]), KeyError, "'gpus' is not a known estimate_training keyword"),
])
def test_a_bad_entry_fails_the_whole_call_naming_column_and_value(kwargs, error, message):
    base = dict(params="7B", tokens="1T", hardware="h100")
    base.update(kwargs)
    with pytest.raises(error, match=message):
        sweep_training(**base)


def test_a_grid_too_large_for_memory_is_refused_up_front():
    with pytest.raises(costmodel.InputError, match=r"sweep: 1,000,000,000,000 rows would need about 931,322.6 GiB"):
        sweep_training(params=list(range(1, 10001)), tokens=list(range(1, 10001)), n_gpus=list(range(1, 10001)),
                       hardware="h100")
