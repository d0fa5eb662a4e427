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
                     order="norm", dpi=80):
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
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 0.8, rows * 0.8), squeeze=False)
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
    if title:
        fig.suptitle(title)
    fig.tight_layout(pad=0.1)
    if path is not None:
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
    return fig
