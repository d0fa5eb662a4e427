"""STL-10 accuracy of the published SoftHebb network, by the paper's protocol.

`keras_hebbian.models.softhebb_stl10` (four SoftHebb blocks, 96 -> 384 ->
1536 -> 6144 filters, the paper's preset `5SoftHebbCnnSTL`) learns from
STL-10's 100,000 unlabelled 96x96 images: one epoch in batches of 32
(dataset preset `STL10_unlabel`), the blocks one after the other (the paper's
code's default; `--training together` for all at once), pixels in [0, 1].
The paper's linear readout is then trained on the 5,000 labelled training
images (dataset preset `STL10_100aug`): dropout 0.5 on the frozen, flattened
features (221,184 per image), one dense softmax layer, 100 epochs of Adam at
0.001 in batches of 64, the rate halved at 20, 35, 50, 60, 70, 80 and 90% of
the training, every image randomly cropped back to 96x96 from its 4-pixel
reflected border and flipped left-right with probability 0.5, so the
features are computed anew at every step. `--no-augment` trains the head on
precomputed features of the images as they are (far cheaper; not the
paper's). Tested on the 8,000 test images; prints each seed's test accuracy,
their mean and the paper's published figure.

STL-10 is not in `keras.datasets`. `--data` is the folder of the standard
binary files (`stl10_binary/`: `train_X.bin`, `train_y.bin`, `test_X.bin`,
`test_y.bin`, `unlabeled_X.bin`), or a .npz with `x_train`, `y_train`,
`x_test`, `y_test` (images `(n, 96, 96, 3)`, labels 0-9) and optionally
`x_unlabeled`; without unlabelled images the blocks learn from the labelled
training images. `--synthetic` makes random images here (runs offline).

    python benchmarks/stl10_conv.py --data path/to/stl10_binary --json stl10.json
    python benchmarks/stl10_conv.py --synthetic --train 64 --test 32 --unlabeled 64 --width 0.02 --head-epochs 2
"""

import argparse
import os

import keras
import numpy as np
from cifar10_conv import Pixels, add_arguments, frozen_feature_head, load_npz, pixels, run
from cifar10_conv import synthetic_images

from keras_hebbian import models
from keras_hebbian.evaluation.heads import head_schedule

#: The paper's published test accuracy (Journe et al., ICLR 2023), printed beside ours.
PAPER_ACCURACY = 0.762
SIZE = 96
#: The reflected border the readout's random crops are taken from (the paper's `crop_flip`).
CROP_PADDING = 4


def read_images(path, memory_map=False):
    """Images of an STL-10 binary file as `(n, 96, 96, 3)` uint8 (stored channel by channel, column-major)."""
    raw = np.memmap(path, dtype=np.uint8, mode="r") if memory_map else np.fromfile(path, np.uint8)
    return raw.reshape(-1, 3, SIZE, SIZE).transpose(0, 3, 2, 1)


def read_labels(path):
    """Labels of an STL-10 binary file, from 1-10 to 0-9."""
    return np.fromfile(path, dtype=np.uint8).astype("int64") - 1


def load_stl10(args):
    """`((x_train, y_train), (x_test, y_test)), x_unlabeled` (`x_unlabeled` may be `None`)."""
    if args.synthetic:
        train, test, (unlabeled, _) = synthetic_images(
            [args.train or 100, args.test or 100, args.unlabeled or 200], (SIZE, SIZE, 3),
            seed=args.seeds[0])
        return (train, test), unlabeled
    if not args.data:
        raise SystemExit("STL-10 is not in keras.datasets: pass --data (the stl10_binary folder or a "
                         ".npz), or --synthetic")
    if os.path.isdir(args.data):
        folder = args.data
        if os.path.isdir(os.path.join(folder, "stl10_binary")):
            folder = os.path.join(folder, "stl10_binary")
        name = lambda part: os.path.join(folder, part)  # noqa: E731
        unlabeled = name("unlabeled_X.bin")
        return ((read_images(name("train_X.bin")), read_labels(name("train_y.bin"))),
                (read_images(name("test_X.bin")), read_labels(name("test_y.bin")))), (
            read_images(unlabeled, memory_map=True) if os.path.exists(unlabeled) else None)
    labelled = load_npz(args.data)
    with np.load(args.data) as data:
        unlabeled = data["x_unlabeled"] if "x_unlabeled" in data else None
    return labelled, unlabeled


class CropFlip(keras.utils.PyDataset):
    """Labelled batches, each image randomly cropped from its reflected border and maybe flipped."""

    def __init__(self, images, labels, batch_size, seed):
        super().__init__()
        self.images, self.labels, self.batch_size = images, np.asarray(labels), int(batch_size)
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(images))

    def __len__(self):
        return int(np.ceil(len(self.images) / self.batch_size))

    def __getitem__(self, index):
        rows = np.sort(self.order[index * self.batch_size:(index + 1) * self.batch_size])
        x = pixels(self.images[rows])
        height, width = x.shape[1:3]
        p = CROP_PADDING
        padded = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")
        out = np.empty_like(x)
        for i, (top, left, flip) in enumerate(zip(self.rng.integers(0, 2 * p + 1, len(x)),
                                                  self.rng.integers(0, 2 * p + 1, len(x)),
                                                  self.rng.random(len(x)) < 0.5)):
            crop = padded[i, top:top + height, left:left + width]
            out[i] = crop[:, ::-1] if flip else crop
        return out, self.labels[rows]

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.images))


def augmented_head(model, data, args, seed):
    """The paper's STL-10 readout: a linear head on the frozen network, inputs cropped and flipped."""
    if not args.augment:
        return frozen_feature_head(model, data, args, seed)
    (x_train, y_train), (x_test, y_test) = data
    classes = int(max(np.max(y_train), np.max(y_test))) + 1
    keras.utils.set_random_seed(seed)
    model.trainable = False  # the blocks neither learn nor update their normalisation statistics
    head = keras.Sequential([
        keras.Input(model.input_shape[1:]),
        model,
        keras.layers.Dropout(args.head_dropout, seed=seed),
        keras.layers.Dense(classes, activation="softmax"),
    ])
    batches = CropFlip(x_train, y_train, args.head_batch_size, seed)
    rate = head_schedule("step", args.head_lr, args.head_epochs * len(batches))
    head.compile(optimizer=keras.optimizers.Adam(rate), loss="sparse_categorical_crossentropy")
    head.fit(batches, epochs=args.head_epochs, verbose=0)
    predicted = np.argmax(head.predict(Pixels(x_test, 250), verbose=0), axis=1)
    return float(np.mean(predicted == np.asarray(y_test)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser, batch_size=32, head_epochs=100, head_batch_size=64)
    parser.add_argument("--unlabeled", type=int, default=None,
                        help="unlabelled images the blocks learn from (default: all)")
    parser.add_argument("--no-augment", dest="augment", action="store_false",
                        help="train the head on precomputed features, without crops and flips")
    args = parser.parse_args()
    ((x_train, y_train), (x_test, y_test)), unlabeled = load_stl10(args)
    x_train, y_train = x_train[: args.train], np.ravel(y_train)[: args.train]
    x_test, y_test = x_test[: args.test], np.ravel(y_test)[: args.test]
    if unlabeled is None:
        print("no unlabelled images: the blocks learn from the labelled training images")
        unlabeled = x_train
    unlabeled = unlabeled[: args.unlabeled]
    run(args, "STL-10", models.softhebb_stl10, ((x_train, y_train), (x_test, y_test)), unlabeled,
        PAPER_ACCURACY, readout=augmented_head)


if __name__ == "__main__":
    main()
