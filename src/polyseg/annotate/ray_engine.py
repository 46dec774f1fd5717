"""The Ray engine: the same work as the local engine, spread over the actors of a Ray cluster with Ray Data.

Ray Data reads the image files (``read_binary_files``, in read tasks anywhere in the cluster); a pool of actors
(``map_batches`` with a callable class) each holds one :class:`polyseg.Segmenter`, decodes the bytes with
``cv2.imdecode`` exactly as the local engine does, and segments them with the local engine's
:func:`polyseg.annotate.engine.segment_images`, so both engines give the same output. Paths must be readable at
the same place on every node (a shared file system). Results stream back to the driver, which journals and
writes them.

Ray (``pip install "polyseg[ray]"``) is imported only by this module.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .formats import AnnotateError, Task

#: Images per batch handed to an actor (segmented in one stream through its network).
BATCH_SIZE = 8
#: Read tasks at a time per actor, at least 2 (each Ray worker process started costs seconds of CPU).
READERS_PER_ACTOR = 0.25


class SegmentBatch:
    """Ray Data callable class: one Segmenter per actor; a batch of image files (``bytes``, ``path``) in, the
    results of the tasks of those images (a JSON list per file) out.

    Parameters
    ----------
    tasks : dict
        Absolute image path -> the JSON of the tasks that use that image (usually one).
    """

    def __init__(
        self, tasks: dict[str, list[str]], fmt: str, rle: bool, tolerance: float, threads: int, model: str | None
    ) -> None:
        from ..segmenter import Segmenter

        self.segmenter = Segmenter.from_pretrained(model, num_threads=threads)
        self.tasks = tasks
        self.options = {"fmt": fmt, "rle": rle, "tolerance": tolerance}

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from .engine import decode_image, segment_images

        loaded = []
        for data, path in zip(batch["bytes"], batch["path"]):
            image, reason = decode_image(bytes(data))
            loaded.extend((Task.from_json(text), image, reason) for text in self.tasks[os.path.abspath(str(path))])
        results = segment_images(loaded, self.segmenter, **self.options)
        per_file: dict[str, list[dict[str, Any]]] = {}
        for (task, _, _), result in zip(loaded, results):
            per_file.setdefault(os.path.abspath(task.image), []).append(result)
        return {"results": np.array([json.dumps(per_file.pop(os.path.abspath(str(p)), [])) for p in batch["path"]],
                                    dtype=object)}


def _unreadable(path: str) -> str | None:
    """Why the local engine would not read ``path`` (see :func:`polyseg.annotate.engine.load_image`), checked
    before Ray Data reads it: None if it is a regular file within the size limit."""
    from .engine import MAX_IMAGE_BYTES

    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return "image_missing"
    except (OSError, ValueError):
        return "image_unreadable"
    if stat.S_ISDIR(info.st_mode):
        return "image_missing"
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_IMAGE_BYTES:
        return "image_unreadable"
    return None


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
    from .engine import unreadable

    try:
        import ray
    except ImportError:
        raise AnnotateError('the ray engine needs Ray: pip install "polyseg[ray]"') from None
    by_path: dict[str, list[str]] = {}
    for task in tasks:
        if not task.boxes:
            yield unreadable(task, "")  # nothing to segment: no image needed
        elif (reason := _unreadable(task.image)) is not None:
            yield unreadable(task, reason)
        else:
            by_path.setdefault(os.path.abspath(task.image), []).append(task.to_json())
    if not by_path:
        return
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    if actors is None:
        actors = max(1, int(ray.cluster_resources().get("CPU", 1)) // cpus_per_actor)
    ray.data.DataContext.get_current().enable_progress_bars = False
    # blocks of about a batch each (at most 1000), and at least two per actor where there are enough files
    blocks = min(len(by_path), max(2 * actors, min(-(-len(by_path) // BATCH_SIZE), 1000)))
    files = ray.data.read_binary_files(
        sorted(by_path), include_paths=True, override_num_blocks=blocks, num_cpus=0,
        concurrency=max(2, int(actors * READERS_PER_ACTOR)),
    )  # reading is I/O: it takes no CPU from the actors, and a few reader processes keep up with them
    results = files.map_batches(
        SegmentBatch,
        fn_constructor_kwargs={
            "tasks": by_path,
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
        yield from json.loads(row["results"])
