"""``annotate()``: a box-labelled data set in, the same data set with polygons out, surviving crashes."""

from __future__ import annotations

import json
import os
import stat
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..imageio import file_kind
from ..prompt import check_tolerance
from .formats import (
    FORMATS,
    REASONS,
    AnnotateError,
    DataSet,
    Task,
    check_replaceable,
    open_dataset,
    output_mode,
    write_atomic,
)
from .journal import Journal
from .progress import Progress

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class Summary:
    """What a run did.

    Attributes
    ----------
    images : int
        Images of the data set with work to do (those done by an earlier, interrupted run included).
    objects : int
        Objects segmented.
    failures : int
        Objects left unchanged (see the report for why).
    images_run, objects_run : int
        Images and objects this run did itself (not replayed from the journal).
    seconds : float
        Wall time of this run's segmenting, reading and writing.
    output, report : Path
    changed : int
        Images an interrupted run had journalled whose input changed since: redone, not replayed.
    """

    images: int
    objects: int
    failures: int
    images_run: int
    objects_run: int
    seconds: float
    output: Path
    report: Path
    changed: int = 0

    @property
    def objects_per_s(self) -> float:
        return self.objects_run / self.seconds if self.seconds > 0 else 0.0

    @property
    def images_per_s(self) -> float:
        return self.images_run / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """The one-line summary the command line prints."""
        line = (
            f"polyseg: {self.images} images, {self.objects} objects, {self.failures} failures "
            f"({self.objects_per_s:.0f} objects/s, {self.images_per_s:.1f} images/s) -> {self.output}; "
            f"report {self.report}"
        )
        if self.changed == 1:
            line += "; 1 journalled image redone: its input changed"
        elif self.changed:
            line += f"; {self.changed} journalled images redone: their input changed"
        return line


def sidecar(out: Path, suffix: str) -> Path:
    """``OUTPUT.<suffix>`` beside the output (a file or a folder)."""
    return out.with_name(out.name + suffix)


def annotate(
    input: str | Path,
    images: str | Path | None,
    out: str | Path,
    *,
    format: str | None = None,
    rle: bool = False,
    tolerance: float = 1.4,
    resume: bool = False,
    overwrite: bool = False,
    workers: int | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    model: str | Path | None = None,
    progress: bool = True,
) -> Summary:
    """Turn the boxes of a COCO, YOLO or labelme data set into polygons.

    Parameters
    ----------
    input : path
        A COCO instance JSON file, a folder of YOLO detection labels (``class cx cy w h``), or labelme JSON files
        (a folder or one file). Never modified.
    images : path or None
        The folder the images are in (COCO: ``file_name`` under it; YOLO: the labels' relative paths; labelme:
        the ``imagePath`` file name, or None to follow ``imagePath`` from each JSON file).
    out : path
        COCO: the output JSON file; YOLO and labelme: the output folder (same relative paths as the input).
        ``OUT.report.json`` lists the failures; ``OUT.journal.jsonl`` holds finished images until the end.
    format : {"coco", "yolo", "labelme"}, optional
        Guessed from ``input`` if not given.
    rle : bool
        COCO: uncompressed RLE instead of polygons, so that holes survive.
    tolerance : float
        Polygon simplification tolerance, px (see :meth:`polyseg.Segmenter.segment`).
    resume : bool
        Continue an interrupted run from its journal, without redoing finished images. Images whose input
        changed since (their image, their boxes or the boxes' places in the input; a label file's bytes) are
        redone; a journal written with other options (format, ``rle``, ``tolerance``, ``overwrite``, ``model``)
        is refused.
    overwrite : bool
        Also segment annotations that already have a segmentation (COCO) or polygon (YOLO).
    workers : int, optional
        Local engine: image-decoding threads (default: the CPU count). Ray: actors (default: the cluster's CPUs).
    engine : {"local", "ray"}
    ray_address : str, optional
        Ray: the cluster to join (e.g. "auto" or "ray://head:10001"); default a local Ray instance.
    model : path, optional
        An OpenVINO IR instead of the bundled weights.
    progress : bool
        Show a progress bar (tqdm if installed) on stderr.

    Returns
    -------
    Summary

    Raises
    ------
    AnnotateError
        (a ``ValueError``) on bad input: missing or malformed files, unknown format, repeated image ids, output
        over the input, an output, journal or report path that holds something other than a regular file, a
        journal left by an interrupted run without ``resume``, or one written with other options.
    OSError
        When the disk refuses to write (read-only, full); the images already journalled are kept for ``resume``.
    """
    input, out = Path(input), Path(out)
    images = None if images is None else Path(images)
    tolerance = check_tolerance(tolerance)
    if engine not in ENGINES:
        raise AnnotateError(f"unknown engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if format is not None and format not in FORMATS:
        raise AnnotateError(f"unknown format {format!r}: expected one of {', '.join(FORMATS)}")
    if workers is not None and workers < 1:
        raise AnnotateError(f"workers must be at least 1, got {workers}")
    dataset = open_dataset(input, images, format, overwrite)
    journal_path, report_path = sidecar(out, ".journal.jsonl"), sidecar(out, ".report.json")
    _check_output(input, out, dataset)
    check_replaceable(journal_path)
    check_replaceable(report_path)
    if journal_path.exists() and not resume:
        raise AnnotateError(
            f"{journal_path} holds the work of an interrupted run: pass --resume to finish it, or delete it to start over"
        )

    tasks = {t.key: t for t in dataset.tasks()}
    options = {"format": dataset.fmt, "rle": rle, "tolerance": tolerance, "overwrite": overwrite,
               "model": None if model is None else str(Path(model).resolve())}
    journal = Journal(journal_path, resume=resume, options=options)
    failures: list[tuple[str, int, str]] = list(dataset.failures())
    objects, changed = 0, 0
    replayed: set[str] = set()
    for key, entry in journal.done.items():
        if key not in tasks:
            continue
        if entry.get("input") != dataset.fingerprint(tasks[key]):
            changed += 1  # computed from another input: redone
            continue
        dataset.accept(entry, out, replay=True)
        replayed.add(key)
        objects += len(entry["objects"])
        failures.extend((key, int(i), r) for i, r in entry["failures"].items())
    todo = [t for k, t in tasks.items() if k not in replayed]
    bar = Progress(len(todo), enabled=progress)
    try:
        for result in _run(todo, dataset.fmt, rle, tolerance, workers, engine, ray_address, model):
            dataset.accept(result, out)
            journal.append({**result, "input": dataset.fingerprint(tasks[result["task"]])})
            objects += len(result["objects"])
            failures.extend((result["task"], int(i), r) for i, r in result["failures"].items())
            bar.update(len(result["objects"]))
        dataset.finish(out)
    finally:
        bar.close()
        journal.close()
    seconds = bar.elapsed
    _write_report(report_path, dataset, input, out, len(tasks), objects, failures)
    journal.remove()
    return Summary(len(tasks), objects, len(failures), bar.images, bar.objects, seconds, out, report_path, changed)


def _check_output(input: Path, out: Path, dataset: DataSet) -> None:
    src, dst = input.resolve(), out.resolve()
    if dst == src or (src.is_dir() and dst.is_relative_to(src)) or (dataset.output_is_dir and src.is_relative_to(dst)):
        raise AnnotateError(f"output {out} would overwrite the input {input}: choose another output path")
    if dataset.output_is_dir and out.is_file():
        raise AnnotateError(f"output {out} is a file; {dataset.fmt} output is a folder")
    if not dataset.output_is_dir and out.is_dir():
        raise AnnotateError(f"output {out} is a folder; COCO output is a JSON file")
    if not dataset.output_is_dir:
        check_replaceable(out)
        return
    mode = output_mode(out)
    if mode is not None and not stat.S_ISDIR(mode):
        raise AnnotateError(f"{out} is {file_kind(mode)}, not a folder: {dataset.fmt} output is a folder")


def _run(
    tasks: list[Task],
    fmt: str,
    rle: bool,
    tolerance: float,
    workers: int | None,
    engine: str,
    ray_address: str | None,
    model: str | Path | None,
) -> Iterator[dict[str, Any]]:
    if not tasks:
        return
    if engine == "ray":
        from .ray_engine import segment_tasks_ray  # Ray is an optional extra: imported only here

        yield from segment_tasks_ray(
            tasks, fmt, rle=rle, tolerance=tolerance, actors=workers, address=ray_address, model=model
        )
        return
    from ..segmenter import Segmenter
    from .engine import segment_tasks

    with ThreadPoolExecutor(1, thread_name_prefix="polyseg-load") as loader:
        loading = loader.submit(Segmenter.from_pretrained, model)  # compiles while the first images are decoded
        try:
            yield from segment_tasks(
                tasks, loading, fmt, rle=rle, tolerance=tolerance, workers=workers or os.cpu_count() or 2
            )
        finally:
            if not loading.cancel() and loading.exception() is None:
                loading.result().close()


def _write_report(
    path: Path,
    dataset: DataSet,
    input: Path,
    out: Path,
    images: int,
    objects: int,
    failures: list[tuple[str, int, str]],
) -> None:
    """``OUT.report.json``: counts, failures by reason, and each failure's image and annotation."""
    failures = sorted(failures, key=lambda f: (f[2], f[0], f[1]))
    report = {
        "input": str(input),
        "output": str(out),
        "format": dataset.fmt,
        "images": images,
        "objects": objects,
        "failures": len(failures),
        "by_reason": dict(sorted(Counter(r for _, _, r in failures).items())),
        "reasons": {r: REASONS[r] for r in sorted({r for _, _, r in failures})},
        "failed": [{"reason": r, **dataset.describe(k, i)} for k, i, r in failures],
    }
    write_atomic(path, json.dumps(report, indent=1))
