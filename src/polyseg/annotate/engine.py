"""The local engine: read and decode images in worker threads while the network segments the boxes of earlier
ones. The Ray engine runs the same :func:`segment_tasks` inside each of its actors, so both give the same results.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np

from ..crop import network_input
from ..prompt import check_tolerance
from ..segmenter import Segmenter
from .formats import Task, payload, pixel_box


def load_image(path: str) -> tuple[np.ndarray | None, str]:
    """Read and decode an image file as ``cv2.imdecode`` does, to ``(H, W, 3)`` uint8 RGB.

    Returns
    -------
    image : (H, W, 3) uint8 or None
    reason : str
        "" on success, "image_missing" or "image_unreadable" otherwise.

    Decoding the file's bytes (rather than ``cv2.imread``) keeps OpenCV from printing warnings of its own, and
    gives the Ray engine, which reads the same bytes, the same pixels.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None, "image_missing"
    except OSError:
        return None, "image_unreadable"
    return decode_image(data)


def decode_image(data: bytes) -> tuple[np.ndarray | None, str]:
    """Decode image file bytes to ``(H, W, 3)`` uint8 RGB; ``(None, "image_unreadable")`` if they are not one."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None:
        return None, "image_unreadable"
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), ""


def unreadable(task: Task, reason: str) -> dict[str, Any]:
    """The result of a task whose image could not be read: every box fails for ``reason``."""
    return {"task": task.key, "objects": {}, "failures": {str(i): reason for i, _ in task.boxes}}


#: Images whose objects go through the network in one stream: the network's pipeline drains once per chunk.
CHUNK = 8


def segment_images(
    loaded: list[tuple[Task, np.ndarray | None, str]],
    segmenter: Segmenter,
    fmt: str,
    *,
    rle: bool,
    tolerance: float,
    pool: ThreadPoolExecutor | None = None,
) -> list[dict[str, Any]]:
    """Segment the boxes of several decoded images in one stream through the network.

    Parameters
    ----------
    loaded : list of (Task, image, reason)
        Each task with its ``(H, W, 3)`` uint8 RGB image, or None and the reason it could not be read.
    pool : ThreadPoolExecutor, optional
        Threads that trace the network's outputs while this one builds its inputs; None: this thread does both.

    Returns
    -------
    list of dict
        Per task, ``{"task": key, "objects": {index: payload}, "failures": {index: reason}}``, indices as
        strings in input order, payloads as :func:`polyseg.annotate.formats.payload` makes them.

    The objects are those :meth:`Segmenter.segment_many` would give image by image (the same preparation, network
    and tracing), but the network's streams stay busy across images instead of draining after each one.
    """
    done: list[dict[str, Any]] = []
    jobs = []  # (objects of its task, object index, image, box); the crop window is added when its input is built
    for task, image, reason in loaded:
        objects: dict[int, Any] = {}
        failures: dict[int, str] = {}
        done.append({"task": task.key, "objects": objects, "failures": failures})
        if image is None:
            failures.update((i, reason) for i, _ in task.boxes)
            continue
        image = segmenter._model_order(image)
        for index, edges in task.boxes:
            box, why = pixel_box(edges, image.shape[1], image.shape[0], task.normalised)
            if box is None:
                failures[index] = why
            else:
                jobs.append([objects, index, image, box])
    radius = segmenter.info.point_radius

    def inputs() -> Iterator[np.ndarray]:  # built while the network runs the earlier ones
        for job in jobs:
            job[3] = segmenter._prepare(job[2], None, job[3])[1]
            yield network_input(job[2], job[3], None, radius)

    def finish(j: int, prob: np.ndarray) -> None:
        objects, index, image, window = jobs[j]
        seg = segmenter._finish(prob, window, image.shape[:2], tolerance)
        objects[index] = payload(seg, fmt, rle=rle) if seg.parts else None

    if pool is None:
        for j, prob in segmenter._net.run_many(inputs(), len(jobs)):
            finish(j, prob)
    else:  # masks traced in the pool's threads while this one feeds the network
        futures = [pool.submit(finish, j, prob) for j, prob in segmenter._net.run_many(inputs(), len(jobs))]
        for f in futures:
            f.result()
    for result in done:  # None marks an empty mask; indices as JSON keys, in input order
        objects = result["objects"]
        result["failures"].update((i, "no_object") for i, p in objects.items() if p is None)
        result["objects"] = {str(i): objects[i] for i in sorted(objects) if objects[i] is not None}
        result["failures"] = {str(i): r for i, r in sorted(result["failures"].items())}
    return done


def segment_tasks(
    tasks: Iterable[Task],
    segmenter: Segmenter | Future[Segmenter],
    fmt: str,
    *,
    rle: bool = False,
    tolerance: float = 1.4,
    workers: int = 2,
    chunk: int = CHUNK,
    finish_threads: int = 1,
) -> Iterator[dict[str, Any]]:
    """Results of :func:`segment_images` for each task, in order: ``workers`` threads read and decode the next
    images (decoding and OpenVINO release the GIL) while the network runs on a chunk of ``chunk`` images, this
    thread building the network's inputs and ``finish_threads`` threads (0: this one) tracing its outputs.
    Memory holds at most ``chunk + 2 * workers`` images, whatever the number of tasks. ``segmenter`` may still be
    loading (a Future): the first images are read meanwhile, and its result is awaited when they are ready."""
    tolerance = check_tolerance(tolerance)
    ahead: deque[tuple[Task, Future]] = deque()
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="polyseg-read") as pool, ThreadPoolExecutor(
        finish_threads, thread_name_prefix="polyseg-finish"
    ) if finish_threads else contextlib.nullcontext() as finisher:

        def read(task: Task) -> tuple[np.ndarray | None, str]:
            return load_image(task.image) if task.boxes else (None, "")

        def run(n: int) -> list[dict[str, Any]]:
            loaded = []
            for _ in range(n):
                task, future = ahead.popleft()
                loaded.append((task, *future.result()))
            seg = segmenter.result() if isinstance(segmenter, Future) else segmenter
            return segment_images(loaded, seg, fmt, rle=rle, tolerance=tolerance, pool=finisher)

        for task in tasks:
            ahead.append((task, pool.submit(read, task)))
            if len(ahead) >= chunk + 2 * workers:
                yield from run(chunk)
        while ahead:
            yield from run(min(chunk, len(ahead)))
