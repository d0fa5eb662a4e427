"""Figures of what Hebbian units learned (matplotlib)."""

import numpy as np


def _pyplot():
    try:
        import matplotlib
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "keras_hebbian.plot needs matplotlib: pip install 'keras-hebbian[plot]'"
        ) from error
    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "ps", "cairo"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def receptive_fields(kernel, image_shape, units=100, columns=None, path=None, title=None,
                     order="norm", dpi=80, spacing=0.15):
    """Draw each unit's weights as an image, in a grid.

    Args:
        kernel: array `(in_features, units)` (a dense layer's kernel, or a
            `keras.Variable`), `in_features == prod(image_shape)`.
        image_shape: `(height, width)` or `(height, width, channels)` of the
            inputs.
        units: how many units to draw (the first ones in `order`).
        columns: grid columns; defaults to a square grid.
        path: if given, the figure is saved there (PNG by extension) and closed.
        title: optional figure title.
        order: `"norm"` (largest weight norm first), `"index"`, or a sequence
            of unit indices to draw in that order.
        dpi: resolution of the saved figure.
        spacing: the gap between tiles, as a fraction of a tile's size.

    Each image is scaled symmetrically around zero (red positive, blue
    negative) with its own largest absolute weight, as in Krotov & Hopfield's
    figures.

    Returns:
        The matplotlib `Figure` (closed when `path` is given).
    """
    plt = _pyplot()
    kernel = np.asarray(kernel, dtype="float32")
    if kernel.ndim != 2 or kernel.shape[0] != int(np.prod(image_shape)):
        raise ValueError(
            f"`kernel` must have shape (prod(image_shape), units) = "
            f"({int(np.prod(image_shape))}, units). Received: {kernel.shape}"
        )
    if isinstance(order, str) and order == "norm":
        chosen = np.argsort(-np.linalg.norm(kernel, axis=0))[:units]
    elif isinstance(order, str) and order == "index":
        chosen = np.arange(min(units, kernel.shape[1]))
    elif not isinstance(order, str):
        chosen = np.asarray(order, dtype=int)[:units]
    else:
        raise ValueError(
            f"`order` must be 'norm', 'index' or a sequence of units. Received: order={order!r}"
        )
    count = len(chosen)
    columns = columns or int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    title_height = 0.5 if title else 0.0
    fig, axes = plt.subplots(rows, columns, squeeze=False,
                             figsize=(max(columns * 0.8, 3.0), rows * 0.8 + title_height))
    for ax in axes.flat:
        ax.axis("off")
    for ax, unit in zip(axes.flat, chosen):
        image = kernel[:, unit].reshape(image_shape)
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        scale = np.abs(image).max() or 1.0
        if image.ndim == 3:
            ax.imshow(np.clip(0.5 + 0.5 * image / scale, 0, 1))
        else:
            ax.imshow(image, cmap="bwr", vmin=-scale, vmax=scale)
    height = fig.get_figheight()
    if title:
        fig.suptitle(title, fontsize=9, y=1.0 - 0.08 / height)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1.0 - (title_height + 0.05) / height,
                        wspace=spacing, hspace=spacing)
    if path is not None:
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
    return fig


def conv_filters(kernel, units=64, path=None, title=None, dpi=80, order="norm"):
    """Draw a `HebbianConv2D` kernel `(kh, kw, channels, filters)`, one image per filter.

    One or three input channels are drawn as grey or colour images; other
    channel counts as their mean over channels.
    """
    kernel = np.asarray(kernel, dtype="float32")
    if kernel.ndim != 4:
        raise ValueError(f"`kernel` must have shape (kh, kw, channels, filters). Received: {kernel.shape}")
    kh, kw, channels, filters = kernel.shape
    if channels not in (1, 3):
        kernel = kernel.mean(axis=2, keepdims=True)
        channels = 1
    image_shape = (kh, kw) if channels == 1 else (kh, kw, channels)
    return receptive_fields(kernel.reshape(-1, filters), image_shape, units=units, path=path,
                            title=title, dpi=dpi, order=order)


def norm_convergence(history, path=None, title=None, dpi=80):
    """Plot the `HebbianMonitor` curves of a training run, one panel per figure kind.

    Args:
        history: a `keras.callbacks.History` or its `.history` dict, with the
            `"<layer>/weight_norm"`, `"<layer>/norm_distance"`, ... entries
            that `HebbianMonitor` adds.
        path: if given, the figure is saved there and closed.

    Returns:
        The matplotlib `Figure`.
    """
    plt = _pyplot()
    logs = getattr(history, "history", history)
    kinds = ["weight_norm", "norm_distance", "update_magnitude", "changed_units"]
    present = [k for k in kinds if any(key.endswith("/" + k) for key in logs)]
    if not present:
        raise ValueError("`history` has no HebbianMonitor entries (train with callbacks=[HebbianMonitor()]).")
    fig, axes = plt.subplots(1, len(present), figsize=(3.2 * len(present), 2.8), squeeze=False)
    for ax, kind in zip(axes[0], present):
        for key in sorted(k for k in logs if k.endswith("/" + kind)):
            values = logs[key]
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", label=key.split("/")[0])
        ax.set_title(kind.replace("_", " "), fontsize=9)
        ax.set_xlabel("epoch")
        if kind in ("norm_distance", "update_magnitude"):
            ax.set_yscale("log")
    axes[0][0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
    return fig


def correlation_matrices(matrices, titles=None, path=None, dpi=100):
    """Draw correlation matrices side by side (e.g. a layer's units before and after).

    Args:
        matrices: a list of square arrays with values in [-1, 1].
        titles: optional list of panel titles; each gets the mean absolute
            off-diagonal value appended.
        path: if given, the figure is saved there and closed.

    Returns:
        The matplotlib `Figure`.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(matrices), figsize=(4 * len(matrices), 3.6),
                             constrained_layout=True, squeeze=False)
    image = None
    for index, (ax, c) in enumerate(zip(axes[0], matrices)):
        c = np.asarray(c)
        off = np.abs(c[~np.eye(len(c), dtype=bool)]).mean()
        label = titles[index] if titles else f"matrix {index}"
        image = ax.imshow(c, vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_title(f"{label}: mean |off-diagonal| = {off:.3f}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="correlation")
    if path is not None:
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
    return fig
