"""optirs meta-sessions (Client.create_meta_session, MetaSession) against a
real optirsd: a FOMAML round with numpy gradients, Reptile with plain lists,
the stale_round error, a retried contribution, and the argument checks."""
import numpy as np
import pytest

import optirs

TENSORS = [{"name": "w", "shape": [2, 2]}, {"name": "b", "shape": [2]}]


def test_fomaml_round_with_numpy_gradients(url):
    c = optirs.Client(url)
    ms = c.create_meta_session("fomaml", TENSORS, meta_batch=2, outer_lr=0.5, outer_optimizer="sgd",
                               init=np.zeros(6, dtype=np.float32), name="client")
    assert ms.id.startswith("ms-") and ms.desc["init"] == "given" and ms.desc["round"] == 0
    init = ms.init()
    assert init["round"] == 0 and init["params"] == [0.0] * 6
    a = ms.contribute("a", 0, grad=np.full(6, 2.0, dtype=np.float32))
    assert not a["applied"] and a["contributions"] == 1
    b = ms.contribute("b", 0, grad=[4.0] * 6)
    assert b["applied"] and b["current_round"] == 1
    assert ms.init()["params"] == [-1.5] * 6
    assert ms.info()["round"] == 1 and ms.id in [m["id"] for m in c.meta_sessions()]
    assert c.meta_session(ms.id).desc["round"] == 1
    with pytest.raises(optirs.OptirsError) as e:
        ms.contribute("c", 0, grad=[0.0] * 6)
    assert (e.value.code, e.value.status) == ("stale_round", 409)
    # the same task again in the last round: acknowledged, nothing changes
    assert ms.contribute("b", 0, grad=[9.0] * 6)["duplicate"]
    assert ms.init()["params"] == [-1.5] * 6
    assert ms.delete()["deleted"] is True


def test_reptile_and_argument_checks(url):
    c = optirs.Client(url)
    ms = c.create_meta_session("reptile", TENSORS, meta_batch=1, outer_lr=1.0, outer_optimizer="sgd", init="zeros")
    with pytest.raises(ValueError):
        ms.contribute("a", 0)
    with pytest.raises(ValueError):
        ms.contribute("a", 0, params=[0.0] * 6, grad=[0.0] * 6)
    assert ms.contribute("a", 0, params=[0.25] * 6)["applied"]
    assert ms.init()["params"] == [0.25] * 6          # θ − 1·(θ − θ_a)
    with pytest.raises(optirs.OptirsError) as e:
        ms.contribute("a", 1, params=[0.0] * 5)
    assert e.value.code == "length_mismatch"
    ms.delete()
