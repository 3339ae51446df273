#!/usr/bin/python3
"""Train a 784-128-10 MLP on Fashion-MNIST with its optimizer running in optirsd.

    make run                                   # a daemon on 127.0.0.1:8080
    /usr/bin/python3 clients/python/examples/train_fmnist.py --optimizer adam --lr 1e-3
    /usr/bin/python3 clients/python/examples/train_fmnist.py --optimizer mlp_lopt

Needs numpy and torch (Debian: python3-numpy, python3-torch) and the data set
of Debian's dataset-fashion-mnist (gzipped IDX files in
/usr/share/datasets/fashion-mnist/, or --data DIR).  The URL comes from
--url, else $OPTIRS_URL, else http://127.0.0.1:8080.
"""
import argparse
import gzip
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from optirs.torch import RemoteOptimizer  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    """Reads a (gzipped) IDX file into a numpy array of its declared shape."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError("%s: not an unsigned-byte IDX file" % path)
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise ValueError("%s: %d values for shape %s" % (path, arr.size, shape))
    return arr.reshape(shape)


def load_fmnist(data_dir=DATA):
    """(train_x, train_y, test_x, test_y): images as float32 in [0, 1],
    flattened to 784, labels as int64."""
    def part(name):
        x = read_idx(os.path.join(data_dir, "%s-images-idx3-ubyte.gz" % name))
        y = read_idx(os.path.join(data_dir, "%s-labels-idx1-ubyte.gz" % name))
        return (torch.from_numpy(x.reshape(len(x), -1).astype(np.float32) / 255.0),
                torch.from_numpy(y.astype(np.int64)))
    return part("train") + part("t10k")


def make_model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))


def accuracy(model, x, y):
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def train(url=None, optimizer="adam", epochs=2, batch=128, seed=0, data=None, log=print,
          **hyperparams):
    """Trains the MLP through the daemon; returns a dict with the test
    accuracy, the wall time, the number of steps and the session id."""
    tx, ty, vx, vy = data if data is not None else load_fmnist()
    model = make_model(seed)
    opt = RemoteOptimizer(model.parameters(), optimizer=optimizer, url=url,
                          name="fmnist-%s" % optimizer, **hyperparams)
    loss_fn = torch.nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    steps = 0
    for ep in range(epochs):
        perm = torch.randperm(len(tx), generator=g)
        for i in range(0, len(tx), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss = loss_fn(model(tx[idx]), ty[idx])
            loss.backward()
            opt.step(loss=loss)
            steps += 1
        log("epoch %d: last loss %.4f, test accuracy %.4f" % (ep + 1, opt.last_loss, accuracy(model, vx, vy)))
    seconds = time.perf_counter() - t0
    acc = accuracy(model, vx, vy)
    # the daemon's copy of the parameters is the model's, bit for bit
    local = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy()
    remote = opt.session.params()
    return {"accuracy": acc, "seconds": seconds, "steps": steps, "session": opt.session.id,
            "num_params": opt.num_params, "params_match": bool(np.array_equal(local, remote))}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=None)
    ap.add_argument("--optimizer", default="adam")
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--weights", default=None, help="weights record of a learned optimizer")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--data", default=DATA)
    a = ap.parse_args()
    torch.set_num_threads(1)
    hp = {}
    if a.lr is not None:
        hp["lr"] = a.lr
    if a.weights:
        hp["weights"] = a.weights
    r = train(a.url, a.optimizer, a.epochs, a.batch, data=load_fmnist(a.data), **hp)
    print("%s: test accuracy %.4f after %d steps of %d parameters in %.1f s (session %s)"
          % (a.optimizer, r["accuracy"], r["steps"], r["num_params"], r["seconds"], r["session"]))


if __name__ == "__main__":
    main()
