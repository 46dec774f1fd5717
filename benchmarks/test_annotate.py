"""``polyseg annotate`` end to end (read the COCO JSON, read and decode the JPEGs, segment, write the output and
the report) on COCO-like data: 640x480 JPEGs with 7 boxes each, made from the bundled example photo.

Run with ``pytest benchmarks/test_annotate.py --benchmark-json=benchmarks/annotate.json`` and summarise with
``python benchmarks/test_annotate.py benchmarks/annotate.json``: objects/s and images/s come from the median.
Nothing here asserts a time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import pytest

from polyseg.annotate import annotate

IMAGES, BOXES = 192, 7


def write_coco_like(root: Path, n_images: int) -> tuple[Path, Path, int]:
    """``n_images`` 640x480 JPEGs (quality 90), random crops of the example photo, and 7 random boxes each."""
    data = resources.files("polyseg") / "data"
    photo = cv2.imread(str(data / json.loads((data / "example.json").read_text())["image"]))
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True, exist_ok=True)
    doc: dict = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "object"}]}
    for i in range(n_images):
        h, w = photo.shape[:2]
        s = rng.uniform(0.5, 1.0)
        cw, ch = int(w * s), int(w * s * 0.75)
        x, y = rng.integers(0, w - cw + 1), rng.integers(0, max(h - ch, 0) + 1)
        image = cv2.resize(photo[y : y + ch, x : x + cw], (640, 480), interpolation=cv2.INTER_AREA)
        image = np.ascontiguousarray(image if i % 2 else image[:, ::-1])
        cv2.imwrite(str(root / "images" / f"{i:06d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        doc["images"].append({"id": i, "file_name": f"{i:06d}.jpg", "width": 640, "height": 480})
        for _ in range(BOXES):  # COCO-like sizes: sides log-uniform in 8..320 px (about 1/3 small, medium, large)
            side, aspect = np.exp(rng.uniform(np.log(8), np.log(320))), np.exp(rng.uniform(-0.7, 0.7))
            bw, bh = min(side * aspect, 639.0), min(side / aspect, 479.0)
            bx, by = rng.uniform(0, 640 - bw), rng.uniform(0, 480 - bh)
            doc["annotations"].append(
                {"id": len(doc["annotations"]) + 1, "image_id": i, "category_id": 1,
                 "bbox": [round(bx, 2), round(by, 2), round(bw, 2), round(bh, 2)], "area": bw * bh, "iscrowd": 0}
            )
    (root / "instances.json").write_text(json.dumps(doc))
    return root / "instances.json", root / "images", len(doc["annotations"])


@pytest.fixture(scope="module")
def coco_like(tmp_path_factory):
    return write_coco_like(tmp_path_factory.mktemp("coco_like"), IMAGES)


@pytest.fixture(scope="module")
def coco_like_4x(tmp_path_factory):
    return write_coco_like(tmp_path_factory.mktemp("coco_like_4x"), 4 * IMAGES)


def run_annotate(benchmark, coco_like, tmp_path, **options):
    path, images, objects = coco_like
    n_images = len(json.loads(path.read_text())["images"])
    out = tmp_path / "out.json"
    summaries = []

    def once():
        summaries.append(annotate(path, images, out, progress=False, **options))

    benchmark.pedantic(once, rounds=5, iterations=1, warmup_rounds=1)
    assert summaries[-1].objects + summaries[-1].failures == objects
    benchmark.extra_info.update({"objects": objects, "images": n_images})
    median = benchmark.stats.stats.median
    benchmark.extra_info.update({"objects_per_s": objects / median, "images_per_s": n_images / median})


def test_annotate_local_engine(benchmark, coco_like, tmp_path):
    """The local engine with its defaults (decoding threads = CPUs)."""
    run_annotate(benchmark, coco_like, tmp_path)


@pytest.mark.parametrize("batch", [4, 1])
def test_network_alone_on_the_same_objects(benchmark, coco_like, batch, monkeypatch):
    """The baseline of this run: the network alone (``Network.run_many``, both cores) on the inputs of the same
    1,344 boxes, built beforehand. The end-to-end rates above are reported as a share of this one (batch 4, as
    shipped); batch 1 shows what batching brings."""
    import polyseg.network
    from polyseg import Segmenter
    from polyseg.annotate.engine import load_image
    from polyseg.annotate.formats import open_dataset, pixel_box
    from polyseg.prompt import Prompt

    monkeypatch.setattr(polyseg.network, "BATCH", batch)  # read when the Segmenter is created
    path, images, _ = coco_like
    segmenter = Segmenter.from_pretrained()
    inputs = []
    for task in open_dataset(path, images).tasks():
        image = load_image(task.image)[0]
        for _, edges in task.boxes:
            box = pixel_box(edges, image.shape[1], image.shape[0], task.normalised)[0]
            if box is not None:
                inputs.append(segmenter.prepare(image, Prompt(box=box)).input)

    def once():
        for _ in segmenter.network.run_many(iter(inputs), len(inputs)):
            pass

    benchmark.pedantic(once, rounds=5, iterations=1, warmup_rounds=1)
    median = benchmark.stats.stats.median
    benchmark.extra_info.update({"objects": len(inputs), "batch": batch, "network_objects_per_s": len(inputs) / median})


def test_annotate_local_engine_4x_images(benchmark, coco_like_4x, tmp_path):
    """The same on four times the images: the start-up (model compilation, first decodes) weighs a quarter as
    much, so this is closer to the rate on a whole data set."""
    run_annotate(benchmark, coco_like_4x, tmp_path)


def test_annotate_ray_engine(benchmark, coco_like, tmp_path):
    """The Ray engine on a local Ray instance already running with 2 CPUs (2 actors, 1 OpenVINO thread each);
    each round starts the actors and loads a Segmenter in each, as every run does."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        run_annotate(benchmark, coco_like, tmp_path, engine="ray")
    finally:
        ray.shutdown()


PEAK = """
import json, sys
from polyseg.annotate import annotate
annotate(sys.argv[1], sys.argv[2], sys.argv[3], progress=False)
print(next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024)
"""


def test_peak_memory_is_flat_in_the_number_of_images(benchmark, tmp_path):
    """Peak RSS of a fresh process annotating 1x and 4x the images: it must not grow with them."""
    peaks = {}

    def measure():
        for n in (IMAGES, 4 * IMAGES):
            path, images, _ = write_coco_like(tmp_path / str(n), n)
            args = [sys.executable, "-c", PEAK, str(path), str(images), str(tmp_path / f"{n}.json")]
            peaks[n] = float(subprocess.run(args, check=True, capture_output=True, text=True).stdout)

    benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update({f"peak_rss_mb_{n}_images": mb for n, mb in peaks.items()})
    assert peaks[4 * IMAGES] < peaks[IMAGES] * 1.25, peaks


if __name__ == "__main__":
    data = json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/annotate.json").read_text())
    cpu = data["machine_info"].get("cpu", {})
    print(f"{cpu.get('brand_raw', '?')}, {cpu.get('count', '?')} logical cores")
    network = next((b["extra_info"]["network_objects_per_s"] for b in data["benchmarks"]
                    if b["extra_info"].get("batch") == 4), None)
    for b in data["benchmarks"]:
        info, median = b["extra_info"], b["stats"]["median"]
        if "objects_per_s" in info:
            share = f" = {info['objects_per_s'] / network:.2f} x the network alone" if network else ""
            print(f"{b['name']}: median {median:.2f} s for {info['images']} images, {info['objects']} objects = "
                  f"{info['objects_per_s']:.0f} objects/s{share}, {info['images_per_s']:.1f} images/s")
        elif "network_objects_per_s" in info:
            print(f"{b['name']}: median {median:.2f} s for {info['objects']} objects = "
                  f"{info['network_objects_per_s']:.0f} objects/s = {info['network_objects_per_s'] / network:.2f} x "
                  "batch 4 (baseline)")
        else:
            print(f"{b['name']}: {json.dumps(info)}")
