"""Grids of any size: streamed chunks, a reducer, Parquet and dask hold the rows the in-memory
sweep returns, in the same order."""

import numpy as np
import pandas as pd
import pytest

import costmodel
from costmodel import sweep_inference, sweep_training
from costmodel.sweep import iter_sweep_inference, iter_sweep_training, to_dask

TRAIN = dict(model=["gpt2-xl", "llama-2-7b"], tokens="100B", hardware=["a100-sxm4-80gb", "h100"],
             n_gpus=[8, 64, 512], price_per_gpu_hour=[2.0, 4.0])
INFER = dict(model=["llama-2-7b", "bert-base"], hardware="h100", prompt_tokens=[128, 1024], output_tokens=[0, 64],
             batch_size=[1, 8, 32])


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_categorical=False)


@pytest.mark.parametrize("ranges", [False, True])
def test_streamed_chunks_are_the_in_memory_sweep_in_order(ranges):
    whole = sweep_training(ranges=ranges, **TRAIN)
    parts = list(iter_sweep_training(chunk_rows=5, ranges=ranges, **TRAIN))
    assert [len(p) for p in parts] == [5, 5, 5, 5, 4]
    _same(pd.concat(parts), whole)
    assert parts[0].attrs["units"] == whole.attrs["units"]


def test_streamed_inference_chunks_match_too():
    whole = sweep_inference(**INFER)
    _same(pd.concat(iter_sweep_inference(chunk_rows=7, **INFER)), whole)


def test_a_reducer_keeps_the_best_rows_of_the_grid():
    whole = sweep_training(**TRAIN)
    best = sweep_training(reduce="min:cost_USD by model", chunk_rows=4, **TRAIN)
    expected = whole.loc[whole.groupby("model", observed=True).cost_USD.idxmin()]
    _same(best.sort_values("model"), expected.sort_values("model"))
    one = sweep_training(reduce="max:mfu", chunk_rows=3, **TRAIN)
    assert len(one) == 1 and one.mfu.iloc[0] == whole.mfu.max()


def test_a_callable_reducer_is_applied_chunk_by_chunk():
    best = sweep_training(reduce=lambda df: df.nsmallest(2, "wall_time_days"), chunk_rows=5, **TRAIN)
    assert list(best.wall_time_days) == sorted(sweep_training(**TRAIN).wall_time_days)[:2]


@pytest.mark.parametrize("reduce, message", [
    ("cheapest", r"reduce: expected 'min:<column>' or 'max:<column> by <column>"),
    ("min:price by model", r"reduce: 'price' is not a column of the sweep"),
])
def test_a_bad_reducer_names_the_argument(reduce, message):
    with pytest.raises(costmodel.InputError, match=message):
        sweep_training(reduce=reduce, **TRAIN)


@pytest.mark.parametrize("given, message", [
    (dict(ranges=" "), "ranges: expected True or False, got ' '"),
    (dict(ranges=1), "ranges: expected True or False, got 1"),
    (dict(stream="yes"), "stream: expected True or False, got 'yes'"),
    (dict(progress=[True]), "progress: expected a function called as progress(rows_done, rows_total), got [True]"),
    (dict(to_parquet=[None]), "to_parquet: expected a folder path for the dataset, got [None]"),
    (dict(chunk_rows=["7B"]), "chunk_rows: expected a whole number of rows of at least 1, got ['7B']"),
    (dict(reduce=[1]), "reduce: expected 'min:<column>' or 'max:<column> by <column>[,...]', or a function of a "
                       "DataFrame, got [1]"),
])
@pytest.mark.parametrize("sweep", [sweep_training, sweep_inference])
def test_the_sweeps_own_keywords_are_checked_before_any_work(sweep, given, message, monkeypatch):
    # found by fuzzing the Python API: a list where a function belongs failed deep in the sweep
    # ("'list' object is not callable"), and a string where a flag belongs was read as true
    import costmodel.sweep.grid as grid

    monkeypatch.setattr(grid.Grid, "of", lambda *a, **k: pytest.fail("the sweep started"))
    with pytest.raises(costmodel.InputError) as info:
        sweep(**given, **(TRAIN if sweep is sweep_training else INFER))
    assert str(info.value) == message


def test_to_dask_checks_its_flag_and_chunks_too():
    with pytest.raises(costmodel.InputError, match=r"^chunk_rows: expected a whole number of rows of at least 1"):
        to_dask("training", chunk_rows=0, **TRAIN)
    with pytest.raises(costmodel.InputError, match=r"^ranges: expected True or False, got 'no'$"):
        to_dask("training", ranges="no", **TRAIN)


def test_a_grid_too_large_for_memory_streams_through_a_reducer_in_bounded_memory():
    grid = dict(params=list(np.logspace(8, 11, 1000)), tokens=list(np.logspace(10, 13, 100)), hardware="h100",
                n_gpus=[8, 64, 512, 4096], price_per_gpu_hour=[1.0, 2.0, 3.0, 4.0, 5.0])
    best = sweep_training(reduce="min:cost_USD by n_gpus", chunk_rows=200_000, **grid)
    assert sorted(best.n_gpus) == [8, 64, 512, 4096]
    assert set(best.price_per_gpu_hour) == {1.0}  # the cheapest price wins whatever else


def test_parquet_dataset_holds_the_same_rows(tmp_path):
    pytest.importorskip("pyarrow")
    path = sweep_training(to_parquet=tmp_path / "grid", chunk_rows=7, **TRAIN)
    assert sorted(p.name for p in path.iterdir()) == [f"part-{i:05d}.parquet" for i in range(4)]
    back = pd.concat(pd.read_parquet(p) for p in sorted(path.iterdir()))
    _same(back, sweep_training(**TRAIN))


def test_a_failed_parquet_write_leaves_nothing(tmp_path):
    pytest.importorskip("pyarrow")
    with pytest.raises(costmodel.InputError, match="tp: the parallel degree tp x pp = 8 does not divide n_gpus = 12"):
        sweep_training(to_parquet=tmp_path / "grid", chunk_rows=2, params="7B", tokens="1T", hardware="h100",
                       n_gpus=[8, 12], tp=[8])
    assert list(tmp_path.iterdir()) == []


def test_a_dataset_name_the_file_system_refuses_is_a_write_error_naming_it(tmp_path):
    pytest.importorskip("pyarrow")
    target = tmp_path / ("g" * 300)
    with pytest.raises(costmodel.WriteError) as info:
        sweep_training(to_parquet=target, **TRAIN)
    assert str(info.value) == f"to_parquet: cannot write {str(target)!r}: File name too long"
    assert list(tmp_path.iterdir()) == []


def test_parquet_refuses_a_missing_folder_or_an_existing_target(tmp_path):
    pytest.importorskip("pyarrow")
    with pytest.raises(costmodel.InputError, match="to_parquet: the folder .* does not exist"):
        sweep_training(to_parquet=tmp_path / "no" / "grid", **TRAIN)
    (tmp_path / "grid").mkdir()
    with pytest.raises(costmodel.InputError, match="to_parquet: .* exists"):
        sweep_training(to_parquet=tmp_path / "grid", **TRAIN)


def test_dask_dataframe_equals_the_in_memory_sweep():
    pytest.importorskip("dask.dataframe")
    ddf = to_dask("training", chunk_rows=6, **TRAIN)
    assert ddf.npartitions == 4
    _same(ddf.compute(scheduler="sync"), sweep_training(**TRAIN))


@pytest.mark.parametrize("kwargs, message", [
    (dict(stream=True, reduce="max:mfu"), "stream: give one of stream=True, to_parquet= or reduce="),
    (dict(stream=True, chunk_rows=0), "chunk_rows: expected a whole number of rows of at least 1"),
])
def test_streaming_options_are_checked(kwargs, message):
    with pytest.raises(costmodel.InputError, match=message):
        list(sweep_training(**kwargs, **TRAIN))
