"""Plots show exactly the sweep's numbers, draw into the caller's Axes, and need no backend."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")

from matplotlib.figure import Figure  # noqa: E402

import costmodel  # noqa: E402
from costmodel.cli import main  # noqa: E402
from costmodel.plot import plot_inference, plot_sweep, plot_training  # noqa: E402


def test_training_plot_has_one_series_per_device_with_the_sweep_values(tmp_path):
    fig = plot_training(models=["gpt2-xl", "llama-2-7b", "gpt3-175b"], hardware=["a100-sxm4-80gb", "h100"],
                        n_gpus=512)
    cost_ax, energy_ax = fig.axes
    assert [line.get_label() for line in cost_ax.get_lines()] == ["a100-sxm4-80gb", "h100-sxm5-80gb"]
    assert cost_ax.get_xscale() == "log" and cost_ax.get_yscale() == "log"
    assert "USD" in cost_ax.get_ylabel() and "MWh" in energy_ax.get_ylabel()
    h100 = cost_ax.get_lines()[1]
    est = costmodel.estimate_training("gpt3-175b", hardware="h100", n_gpus=512)
    x, y = h100.get_data()
    assert x[-1] == pytest.approx(175e9) and y[-1] == pytest.approx(est.cost.to("USD").magnitude, rel=1e-12)
    labels = [t.get_text() for t in cost_ax.texts]
    assert labels == ["gpt2-xl", "llama-2-7b", "gpt3-175b"]
    fig.savefig(tmp_path / "t.png")
    assert (tmp_path / "t.png").stat().st_size > 10_000


def test_inference_plot_marks_the_memory_limit():
    fig = plot_inference(model="llama-2-7b", hardware=["a100-sxm4-80gb"], n_gpus=1, batch_sizes=[1, 4, 16])
    ttft_ax, tpot_ax, cost_ax = fig.axes
    line = tpot_ax.get_lines()[0]
    est = costmodel.estimate_inference("llama-2-7b", hardware="a100-sxm4-80gb", prompt_tokens=512, output_tokens=256,
                                       batch_size=16)
    assert list(line.get_xdata()) == [1, 4, 16]
    assert line.get_ydata()[-1] == pytest.approx(est.tpot.to("ms").magnitude, rel=1e-12)
    limit = tpot_ax.get_lines()[1]  # the dotted memory-limit line
    assert limit.get_xdata()[0] == est.max_batch_size
    assert "bf16" in fig._suptitle.get_text()


def test_sweep_plot_groups_by_hue_and_labels_units():
    df = costmodel.sweep_training(model="llama-2-7b", hardware=["a100-sxm4-80gb", "h100"], n_gpus=[8, 64, 512])
    fig = plot_sweep(df, "n_gpus", "wall_time_days", hue="hardware")
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 2 and ax.get_ylabel() == "wall_time_days [day]"
    y = ax.get_lines()[0].get_ydata()
    assert np.allclose(y, df[df.hardware == "a100-sxm4-80gb"].sort_values("n_gpus").wall_time_days)
    with pytest.raises(costmodel.InputError, match="^x: 'gpus' is not a column of the table; did you mean 'n_gpus'"
                       ) as err:
        plot_sweep(df, "gpus", "wall_time_days")
    assert err.value.argument == "x"


def test_plot_cli_writes_the_file(tmp_path):
    from click.testing import CliRunner

    out = tmp_path / "serving.svg"
    result = CliRunner().invoke(main, ["plot", "inference", "--model", "llama-2-7b", "--gpus", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().lstrip().startswith("<?xml")
    bad = CliRunner().invoke(main, ["plot", "training", "--out", str(tmp_path / "x.txt")])
    assert bad.exit_code == 2 and "expected a .png, .svg or .pdf" in bad.stderr


def _draw_each(**axes):
    df = costmodel.sweep_training(model="llama-2-7b", hardware=["a100-sxm4-80gb", "h100"], n_gpus=[8, 64])
    return [plot_training(models=["gpt2-xl", "llama-2-7b"], hardware=["h100"], n_gpus=64, ax=axes.get("training")),
            plot_inference(model="llama-2-7b", hardware=["h100"], n_gpus=1, batch_sizes=[1, 8],
                           ax=axes.get("inference")),
            plot_sweep(df, "n_gpus", "wall_time_days", hue="hardware", ax=axes.get("sweep"))]


@pytest.fixture
def backend():
    before = matplotlib.get_backend()
    yield
    matplotlib.use(before)


@pytest.mark.parametrize("name", ["svg", "pdf"])
def test_plots_never_switch_the_callers_backend(backend, name):
    matplotlib.use(name)
    figures = _draw_each()
    assert matplotlib.get_backend() == name
    assert all(isinstance(fig, Figure) for fig in figures)


def test_plots_import_no_pyplot_and_save_without_a_backend(tmp_path):
    # A fresh process: pyplot holds global state, and other tests may have imported it.
    code = f"""
import sys, costmodel, matplotlib
from costmodel.plot import plot_sweep
df = costmodel.sweep_training(model="llama-2-7b", hardware="h100", n_gpus=[8, 64])
plot_sweep(df, "n_gpus", "wall_time_days").savefig({str(tmp_path / "s.png")!r})
assert "matplotlib.pyplot" not in sys.modules, "costmodel.plot imported pyplot"
assert matplotlib.get_backend() == "pdf", matplotlib.get_backend()
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MPLBACKEND": "pdf"})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plots_draw_into_the_axes_they_are_given():
    fig = Figure()
    training, inference, sweep = fig.subfigures(3, 1)
    axes = {"training": training.subplots(1, 2), "inference": list(inference.subplots(1, 3)),
            "sweep": sweep.subplots()}
    returned = _draw_each(**axes)
    assert returned == [training, inference, sweep]  # each Axes' own (sub)figure
    assert fig._suptitle is None and training._suptitle is None  # the caller's titles are left alone

    cost_ax, energy_ax = axes["training"]
    est = costmodel.estimate_training("llama-2-7b", hardware="h100", n_gpus=64)
    x, y = energy_ax.get_lines()[0].get_data()
    assert x[-1] == pytest.approx(est.params.to("").magnitude, rel=1e-12)
    assert y[-1] == pytest.approx(est.energy.to("MWh").magnitude, rel=1e-12)
    assert cost_ax.get_lines()[0].get_ydata()[-1] == pytest.approx(est.cost.to("USD").magnitude, rel=1e-12)

    ttft_ax = axes["inference"][0]
    inf = costmodel.estimate_inference("llama-2-7b", hardware="h100", prompt_tokens=512, output_tokens=256,
                                       batch_size=8)
    assert list(ttft_ax.get_lines()[0].get_xdata()) == [1, 8]
    assert ttft_ax.get_lines()[0].get_ydata()[-1] == pytest.approx(inf.ttft.to("ms").magnitude, rel=1e-12)

    df = costmodel.sweep_training(model="llama-2-7b", hardware="h100", n_gpus=[8, 64])
    lines = axes["sweep"].get_lines()
    assert len(lines) == 2 and np.allclose(lines[1].get_ydata(), df.wall_time_days, rtol=1e-12, atol=0)


@pytest.mark.parametrize("plot, given, needed", [(plot_training, 1, 2), (plot_inference, 2, 3)])
def test_the_wrong_number_of_axes_is_refused(plot, given, needed):
    axes = Figure().subplots(1, given, squeeze=False)[0]
    with pytest.raises(costmodel.InputError, match=f"^ax: expected a sequence of {needed} Axes") as err:
        plot(ax=axes[0] if given == 1 else axes)
    assert err.value.argument == "ax"


def test_sweep_plot_draws_one_line_per_combination_of_the_other_inputs():
    df = costmodel.sweep_training(model=["gpt2-xl", "llama-2-7b"], tokens="1B", hardware=["a100-sxm4-80gb", "h100"],
                                  n_gpus=[8, 64, 512])
    ax = plot_sweep(df, "n_gpus", "wall_time_days").axes[0]
    lines = ax.get_lines()
    assert len(lines) == 4  # not one zig-zag through 12 points
    assert [line.get_label() for line in lines] == [
        "model=gpt2-xl, hardware=a100-sxm4-80gb", "model=gpt2-xl, hardware=h100-sxm5-80gb",
        "model=llama-2-7b, hardware=a100-sxm4-80gb", "model=llama-2-7b, hardware=h100-sxm5-80gb"]
    part = df[(df.model == "llama-2-7b") & (df.hardware == "h100-sxm5-80gb")]
    assert list(lines[3].get_xdata()) == [8, 64, 512]
    assert np.allclose(lines[3].get_ydata(), part.wall_time_days, rtol=1e-12, atol=0)
    hued = plot_sweep(df, "n_gpus", "wall_time_days", hue="hardware").axes[0]
    assert hued.get_lines()[0].get_label() == "hardware=a100-sxm4-80gb, model=gpt2-xl"  # hue first


def test_an_input_that_only_relabels_x_makes_no_series():
    from costmodel.plot import series_columns

    df = costmodel.sweep_training(model=["gpt2-xl", "llama-2-7b", "gpt3-175b"], tokens="1B",
                                  hardware=["a100-sxm4-80gb", "h100"], n_gpus=64)
    assert series_columns(df, "params") == ["hardware"]  # model names the params; dtype follows hardware
    ax = plot_sweep(df, "params", "cost_USD").axes[0]
    assert [len(line.get_xdata()) for line in ax.get_lines()] == [3, 3]


def test_sweep_plot_reads_units_from_column_names_without_attrs(tmp_path):
    import pandas as pd

    df = costmodel.sweep_training(model="llama-2-7b", hardware="h100", n_gpus=[8, 64])
    df.to_csv(tmp_path / "t.csv", index=False)
    back = pd.read_csv(tmp_path / "t.csv")
    assert not back.attrs
    ax = plot_sweep(back, "gpu_hours_h", "wall_time_days").axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("gpu_hours_h [hour]", "wall_time_days [day]")
    from costmodel.plot import column_unit

    assert [column_unit(back, c) for c in ("cost_USD_high", "memory_per_gpu_GiB", "n_gpus", "flops_FLOP")] == [
        "USD", "GiB", "", "FLOP"]


@pytest.mark.parametrize("kwargs, argument, message", [
    (dict(x="hardware", y="wall_time_days"), "xscale", "a log axis needs numbers, and 'hardware' holds names"),
    (dict(x="n_gpus", y="hardware", yscale="linear"), "y", "'hardware' holds names, not numbers"),
    (dict(x="n_gpus", y="host_energy_MWh"), "yscale", "a log axis needs positive numbers"),
    (dict(x="n_gpus", y="mfu", xscale="loglog"), "xscale", "expected 'log' or 'linear'"),
    (dict(x="n_gpus", y="fits"), "yscale", "a log axis needs numbers, and 'fits' holds true/false values"),
])
def test_sweep_plot_refuses_an_axis_it_cannot_draw(kwargs, argument, message):
    df = costmodel.sweep_training(params="1B", tokens="1B", hardware=["a100-sxm4-80gb", "h100"], n_gpus=[8, 64],
                                  host_power_per_gpu=0)  # host energy 0: nothing to draw on a log axis
    with pytest.raises(costmodel.InputError, match=message) as err:
        plot_sweep(df, **kwargs)
    assert err.value.argument == argument
    fig = plot_sweep(df, "hardware", "wall_time_days", xscale="linear")
    assert fig.axes[0].get_xscale() == "linear"
    assert list(plot_sweep(df, "n_gpus", "fits", yscale="linear").axes[0].get_lines()[0].get_ydata()) == [True, True]


@pytest.mark.parametrize("scale", ["log", "linear"])
@pytest.mark.parametrize("values", [[np.nan, np.inf], [-np.inf, np.inf]])
def test_a_column_with_no_finite_value_is_refused_naming_its_axis(scale, values):
    # a table read back from CSV may hold nan/inf; matplotlib failed on log-scaling nothing
    df = pd.DataFrame({"n_gpus": [8, 16], "mfu": values})
    with pytest.raises(costmodel.InputError, match="^y: 'mfu' has no finite values to plot$"):
        plot_sweep(df, "n_gpus", "mfu", yscale=scale)
    df["mfu"] = [np.inf, 0.3]  # one finite value: drawn, the other left out
    assert list(plot_sweep(df, "n_gpus", "mfu", yscale=scale).axes[0].get_lines()[0].get_ydata()) == [np.inf, 0.3]


def test_sweep_plot_of_an_empty_table_is_refused():
    df = costmodel.sweep_training(model="llama-2-7b", hardware="h100", n_gpus=[8, 64]).iloc[:0]
    with pytest.raises(costmodel.InputError, match="the table has no rows"):
        plot_sweep(df, "n_gpus", "wall_time_days")
