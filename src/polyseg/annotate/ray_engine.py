"""The Ray engine: the same work as the local engine, spread over the actors of a Ray cluster with Ray Data.

Each actor holds one :class:`polyseg.Segmenter` (``map_batches`` with a callable class) and runs
:func:`polyseg.annotate.engine.segment_tasks` on its batches: it reads each image file's bytes and decodes them
with ``cv2.imdecode``, exactly as the local engine does, so both engines give the same output. Image paths must
be readable at the same path on every node (a shared file system). Results stream back to the driver, which
journals and writes them.

Ray (``pip install "polyseg[ray]"``) is imported only by this module.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .formats import AnnotateError, Task

#: Images per batch handed to an actor.
BATCH_SIZE = 8


class SegmentBatch:
    """Ray Data callable class: one Segmenter per actor, a batch of tasks (JSON) in, results (JSON) out."""

    def __init__(self, fmt: str, rle: bool, tolerance: float, threads: int, model: str | None) -> None:
        from ..segmenter import Segmenter

        self.segmenter = Segmenter.from_pretrained(model, num_threads=threads)
        self.options = {"fmt": fmt, "rle": rle, "tolerance": tolerance, "workers": threads}

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from .engine import segment_tasks

        tasks = [Task.from_json(str(t)) for t in batch["task"]]
        results = segment_tasks(tasks, self.segmenter, **self.options)
        return {"result": np.array([json.dumps(r) for r in results], dtype=object)}


def segment_tasks_ray(
    tasks: list[Task],
    fmt: str,
    *,
    rle: bool = False,
    tolerance: float = 1.4,
    actors: int | None = None,
    cpus_per_actor: int = 1,
    address: str | None = None,
    model: str | Path | None = None,
) -> Iterator[dict[str, Any]]:
    """Results of :func:`polyseg.annotate.engine.segment_images` for ``tasks``, computed on a Ray cluster, in
    the order they finish.

    Parameters
    ----------
    actors : int, optional
        Actors, each with its own Segmenter; default: the cluster's CPUs / ``cpus_per_actor``.
    cpus_per_actor : int
        CPUs Ray reserves per actor, and OpenVINO's thread count in it.
    address : str, optional
        The cluster to join ("auto", "ray://head:10001", ...); default: the running instance, or a new local one.
    """
    try:
        import ray
    except ImportError:
        raise AnnotateError('the ray engine needs Ray: pip install "polyseg[ray]"') from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    if actors is None:
        actors = max(1, int(ray.cluster_resources().get("CPU", 1)) // cpus_per_actor)
    ray.data.DataContext.get_current().enable_progress_bars = False
    items = [{"task": t.to_json()} for t in tasks]
    # blocks of about a batch each (at most 1000), and at least two per actor where there are enough tasks
    blocks = min(len(items), max(2 * actors, min(-(-len(items) // BATCH_SIZE), 1000)))
    dataset = ray.data.from_items(items, override_num_blocks=blocks)
    results = dataset.map_batches(
        SegmentBatch,
        fn_constructor_kwargs={
            "fmt": fmt,
            "rle": rle,
            "tolerance": tolerance,
            "threads": cpus_per_actor,
            "model": None if model is None else str(Path(model).resolve()),
        },
        batch_size=BATCH_SIZE,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=cpus_per_actor,
    )
    for row in results.iter_rows():
        yield json.loads(row["result"])
