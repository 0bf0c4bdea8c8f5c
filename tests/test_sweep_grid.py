"""The sweep's grid machinery: boxes of rows, per-keyword lookups, and what they must not change."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as hs

import costmodel
from costmodel.sweep.columns import Columns
from costmodel.sweep.grid import Combos, Grid, Lookup


@given(hs.lists(hs.integers(min_value=1, max_value=6), min_size=1, max_size=4), hs.data())
def test_boxes_cover_any_run_of_rows_in_order_and_index_each_row(shape, data):
    grid = Grid.of({f"k{i}": list(range(n)) for i, n in enumerate(shape)})
    start = data.draw(hs.integers(min_value=0, max_value=grid.rows - 1))
    stop = data.draw(hs.integers(min_value=start + 1, max_value=grid.rows))
    limit = data.draw(hs.integers(min_value=1, max_value=40))
    rows = []
    for box in grid.boxes(start, stop, limit):
        assert box.size <= limit
        flat = np.broadcast_to(grid.flat(box.index), box.shape).ravel()
        assert list(flat) == list(range(box.start, box.start + box.size))  # consecutive rows, C order
        rows += list(flat)
    assert rows == list(range(start, stop))


def test_a_lookup_keeps_only_the_keywords_its_values_change_with():
    combos = Combos(results=[None] * 6, varying=["a", "b"], sizes=[2, 3])
    by_b = Lookup.of(np.array([10.0, 20.0, 30.0, 10.0, 20.0, 30.0]), combos)  # the same for each a
    assert by_b.keys == ("b",) and list(by_b.table) == [10.0, 20.0, 30.0]
    both = Lookup.of(np.arange(6.0), combos)
    assert both.keys == ("a", "b")
    index = {"a": np.array([[1]]), "b": np.array([[0, 1, 2]])}
    assert both.at(index).tolist() == [[3.0, 4.0, 5.0]] and by_b.at(index).tolist() == [[10.0, 20.0, 30.0]]


@pytest.mark.parametrize("limit", [7, 10, 100, 200])  # first box held apart (<= 1/8 of the rows) or not
def test_columns_hold_each_boxs_values_at_its_rows_whatever_the_first_box(limit):
    grid = Grid.of({"a": list(range(40)), "b": list(range(5))})
    out = Columns(grid.rows)
    for box in grid.boxes(limit=limit):
        rows = np.broadcast_to(grid.flat(box.index), box.shape)
        out.at(box, box.start)
        out.put_label("label", rows % 3, ["p", "q", "r"])
        out.place("late")  # its place now, its values after the others
        out.put("seconds_s", rows * 1.5, "s")
        out.put("count", rows, "", np.int64)
        out.put("even", rows % 2 == 0, "", bool)
        out.put("late", -rows * 1.0, "m")
        out.put("half_s", rows / 2.0, "s")
    df = out.frame()
    n = np.arange(grid.rows)
    want = pd.DataFrame({"label": pd.Categorical.from_codes(n % 3, categories=["p", "q", "r"]), "late": -n * 1.0,
                         "seconds_s": n * 1.5, "count": n, "even": n % 2 == 0, "half_s": n / 2.0})
    pd.testing.assert_frame_equal(df, want, check_exact=True)
    assert df.attrs["units"] == {"late": "m", "seconds_s": "s", "count": "", "even": "", "half_s": "s"}


def test_streamed_chunks_that_split_boxes_equal_the_in_memory_sweep():
    grid = dict(tokens=[1e10, 1e12], params=[1e9, 7e9, 7e10], hardware=["a100", "h100"], n_gpus=[8, 64, 512])
    whole = costmodel.sweep_training(ranges=True, **grid)
    for chunk_rows in (1, 5, 13):
        parts = pd.concat(costmodel.sweep_training(ranges=True, stream=True, chunk_rows=chunk_rows, **grid))
        pd.testing.assert_frame_equal(parts, whole, check_exact=True)


def test_ranges_with_a_swept_mfu_and_one_footprint_match_the_estimates():
    # the energy range of a given MFU has no hours' spread: per row, though the footprint is shared
    grid = dict(model="llama-2-7b", hardware="h100", n_gpus=[64, 128], mfu=[None, 0.4])
    df = costmodel.sweep_training(ranges=True, **grid)
    for (n, mfu), (_, row) in zip(itertools.product(grid["n_gpus"], grid["mfu"]), df.iterrows()):
        est = costmodel.estimate_training("llama-2-7b", hardware="h100", n_gpus=n, mfu=mfu).to_dict(ranges=True)
        for key in ("energy_MWh_low", "energy_MWh_high", "gpu_hours_h_low", "mfu_high"):
            assert row[key] == est[key] or (math.isnan(row[key]) and est[key] is None), key


def test_an_inference_sweep_with_ranges_equals_its_streamed_chunks_and_estimates():
    # 64,000 rows: the second chunk starts mid-box, so its first box is a few rows, held apart
    grid = dict(model="llama-2-7b", hardware=["h100", "a100"], n_gpus=[1, 2], prompt_tokens=list(range(64, 64 * 401, 64)),
                output_tokens=[1, 64, 256, 1024], batch_size=[1, 2, 4, 8, 16, 32, 64, 128, 256, 512])
    whole = costmodel.sweep_inference(ranges=True, **grid)
    parts = pd.concat(costmodel.sweep_inference(ranges=True, stream=True, chunk_rows=50_003, **grid))
    pd.testing.assert_frame_equal(parts.reset_index(drop=True), whole, check_exact=True)
    for i in (0, 31_999, 32_000, 50_002, 50_003, 50_010, len(whole) - 1):
        row = whole.iloc[i]
        est = costmodel.estimate_inference(model="llama-2-7b", hardware=row["hardware"], n_gpus=int(row["n_gpus"]),
                                           prompt_tokens=int(row["prompt_tokens"]),
                                           output_tokens=int(row["output_tokens"]), batch_size=int(row["batch_size"]))
        for key, value in est.to_dict(ranges=True).items():
            if isinstance(value, float) and key in row.index:
                assert value == row[key] or (math.isnan(value) and math.isnan(row[key])), (i, key)


def test_progress_follows_the_boxes_to_the_last_row():
    calls = []
    grid = dict(params=[1e8 * (i + 1) for i in range(300)], tokens=[1e10, 1e11], hardware=["h100", "a100"],
                n_gpus=[8 * (i + 1) for i in range(100)])
    df = costmodel.sweep_training(progress=lambda done, total: calls.append((done, total)), **grid)
    assert len(calls) > 1 and {total for _, total in calls} == {len(df)} == {120_000}
    done = [d for d, _ in calls]
    assert done == sorted(done) and done[-1] == 120_000 and len(set(done)) == len(done)
