import pytest

from semcom.experiments.executor import map_tasks
from semcom.experiments.results import Results, provenance


def square_with_noise(task):
    """Module-level task: deterministic given its own seed (as every sweep task is)."""
    import torch

    g = torch.Generator().manual_seed(task["seed"])
    return {"x": task["x"] ** 2, "noise": float(torch.randn(1, generator=g))}


TASKS = [{"x": i, "seed": 100 + i} for i in range(6)]


def test_serial_and_process_pool_agree():
    serial = map_tasks(square_with_noise, TASKS, workers=1, progress=False)
    pooled = map_tasks(square_with_noise, TASKS, workers=2, progress=False)
    assert serial == pooled
    assert [r["x"] for r in serial] == [i * i for i in range(6)]


def test_local_dask_cluster_of_two_workers_agrees_with_serial():
    distributed = pytest.importorskip("distributed")
    serial = map_tasks(square_with_noise, TASKS, workers=1, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            via_dask = map_tasks(square_with_noise, TASKS, cluster=client, progress=False)
            via_address = map_tasks(square_with_noise, TASKS, cluster=cluster.scheduler_address, progress=False)
    assert via_dask == serial
    assert via_address == serial


def test_results_roundtrip_with_provenance(tmp_path):
    res = Results("unit", {"a": [1.0, float("nan")]}, provenance({"k": 1}, seed=3, data_checksums={"img": "abc"}))
    path = res.save(tmp_path)
    back = Results.load(path)
    assert back.data == {"a": [1.0, None]}  # NaN is stored as null: JSON stays strict
    for key in ("version", "git_commit", "config", "seed", "data_checksums", "date"):
        assert key in back.provenance
    assert back.provenance["config"] == {"k": 1} and back.provenance["seed"] == 3


def test_an_unreachable_cluster_is_an_input_error_within_the_timeout(monkeypatch):
    pytest.importorskip("distributed")
    import time

    from semcom import cliargs
    from semcom.errors import InputError

    monkeypatch.setattr(cliargs, "CLUSTER_TIMEOUT_S", 1.0)
    t = time.perf_counter()
    with pytest.raises(InputError, match="cannot connect to the Dask scheduler"):
        map_tasks(square_with_noise, TASKS, cluster="tcp://127.0.0.1:1", progress=False)
    assert time.perf_counter() - t < 5
