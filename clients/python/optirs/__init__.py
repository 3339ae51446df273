"""optirs — Python client of optirsd (classic and learned optimizers as a service).

    import optirs
    client = optirs.Client("http://127.0.0.1:8080")
    s = client.create_session("adam", tensors=[[784, 128], [128]], hyperparams={"lr": 1e-3})
    update = s.step(grads, loss=0.7)       # params += update

``optirs.torch.RemoteOptimizer`` (needs torch) is a torch.optim.Optimizer
whose steps run on the daemon.  ``Client.create_study`` and ``optirs.tune``
run hyperparameter studies (optirs.study); ``Client.create_meta_session``
meta-learns your own model's initialisation (optirs.metasess).
"""
from .client import (DEFAULT_URL, DTYPES, RETRYABLE_CODES, Client, OptirsError, Session, decode_vector,
                     encode_vector)
from .metasess import MetaSession
from .study import Study, Trial, TrialPruned, tune

__all__ = ["Client", "Session", "OptirsError", "DEFAULT_URL", "RETRYABLE_CODES", "DTYPES",
           "encode_vector", "decode_vector", "Study", "Trial", "TrialPruned", "tune",
           "MetaSession"]
__version__ = "0.1.0"
