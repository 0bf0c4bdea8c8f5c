"""Plots render with the Agg backend and show exactly the sweep's numbers."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

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
    with pytest.raises(costmodel.InputError, match="did you mean 'n_gpus'"):
        plot_sweep(df, "gpus", "wall_time_days")


def test_plot_cli_writes_the_file(tmp_path):
    from click.testing import CliRunner

    out = tmp_path / "serving.svg"
    result = CliRunner().invoke(main, ["plot", "inference", "--model", "llama-2-7b", "--gpus", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().lstrip().startswith("<?xml")
    bad = CliRunner().invoke(main, ["plot", "training", "--out", str(tmp_path / "x.txt")])
    assert bad.exit_code == 2 and "expected a .png, .svg or .pdf" in bad.stderr
