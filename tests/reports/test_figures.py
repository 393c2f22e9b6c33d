import numpy as np

from interp.reports.figures import digit_scale_heatmap
from interp.reports.html import assemble


def test_digit_scale_heatmap():
    vals = np.array([[0.9, 0.8, 0.7], [0.5, 0.4, 0.3]])
    fig = digit_scale_heatmap(vals, [0, 4, 8], title="T")
    h = fig.data[0]
    assert list(h.x) == [0, 4, 8] and list(h.y) == [1, 2]
    np.testing.assert_array_equal(np.asarray(h.z), vals)
    assert fig.layout.title.text == "T" and fig.layout.xaxis.title.text == "layer"
    assert fig.layout.yaxis.title.text == "Digit Scale (place value, ones first)"
    assert fig.layout.yaxis.autorange == "reversed"  # ones at the top
    writing = digit_scale_heatmap(vals, [0, 4, 8], order="writing").layout.yaxis
    assert writing.title.text == "Digit Scale (order of writing)" and writing.autorange is True
    assert h.zmin == 0 and h.zmax == 1
    div = digit_scale_heatmap(vals - 0.6, [0, 4, 8], diverging=True).data[0]
    assert div.zmid == 0 and div.zmin == -div.zmax


def test_assemble_embeds_plotly_once():
    fig = digit_scale_heatmap(np.zeros((2, 2)), [0, 1])
    page = assemble([("a", [fig, "<p>x</p>"]), ("b", [fig])], "Report")
    assert page.count("plotly.js v") <= 2 and page.count("<h2>") == 2
    assert page.count('class="plotly-graph-div"') == 2


def test_layer_position_heatmap():
    from interp.reports.figures import layer_position_heatmap

    vals = np.array([[1.0, np.nan], [2.0, 3.0], [0.5, 0.1]])
    h = layer_position_heatmap(vals, ["0", "1-8"], "norms", "mean L2 norm").data[0]
    assert list(h.x) == ["0", "1-8"] and list(h.y) == [0, 1, 2]
    assert np.isnan(np.asarray(h.z, dtype=float)[0, 1]) and h.colorbar.title.text == "mean L2 norm"
    d = layer_position_heatmap(vals - 1, ["0", "1-8"], "effect", "effect", diverging=True).data[0]
    assert d.zmid == 0 and d.zmin == -d.zmax == -2.0


def test_sublayer_grid_numbers_and_outlines():
    from interp.reports.grids import sublayer_grid

    eff = np.array([[0.0, 0.5, 0.05], [0.9, 0.0, 0.2]])  # rows: attn_out, mlp_out
    fig = sublayer_grid(eff, ["attn_out", "mlp_out"], threshold=0.2)
    h = fig.data[0]
    assert list(h.y) == ["MLP", "ATT"]
    np.testing.assert_array_equal(np.asarray(h.z), eff[::-1])
    assert np.asarray(h.text).tolist() == [["2", "4", "6"], ["1", "3", "5"]]
    boxes = sorted((s.x0 + 0.5, s.y0 + 0.5, s.line.color) for s in fig.layout.shapes)
    assert boxes == [(0, 0, "#1f4fd6"), (1, 1, "#d62728"), (2, 0, "#1f4fd6")]
