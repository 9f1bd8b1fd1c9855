"""attn.viz: attention heatmaps as SVG or PNG files (attn/viz/heatmap.h), bound from C++.

    attn.viz.write_heatmap_svg("w.svg", weights, row_labels=["a", "b"], col_labels=[...], cmap="Reds")
    attn.viz.write_heatmap_grid_svg("g.svg", weights_LHTS, row_titles=[...], col_titles=[...])
"""
from ._attn import viz as _viz

__all__ = sorted(n for n in dir(_viz) if not n.startswith("_"))
globals().update({n: getattr(_viz, n) for n in __all__})
