"""``polyseg annotate --engine ray`` on a local Ray instance (2 CPUs): the same output as the local engine.

Ray is in the test extra, so these tests run in CI; one Ray instance serves the whole module (it takes seconds
to start).
"""

from __future__ import annotations

import json

import pytest
import ray

from annotate_data import write_coco, write_labelme, write_yolo
from polyseg import cli
from polyseg.annotate import annotate

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_and_local_engines_write_the_same_coco(tmp_path):
    path, images, _ = write_coco(tmp_path)
    doc = json.loads(path.read_text())
    (images / "corrupt.png").write_bytes(b"\x89PNG but not really")
    doc["images"] += [
        {"id": 300, "file_name": "gone.png"},
        {"id": 301, "file_name": "corrupt.png"},
        {"id": 302, "file_name": doc["images"][0]["file_name"]},  # a second entry for the same file
    ]
    doc["annotations"] += [
        {"id": 60, "image_id": 300, "bbox": [1, 1, 20, 20], "category_id": 1},
        {"id": 61, "image_id": 301, "bbox": [1, 1, 20, 20], "category_id": 1},
        {"id": 62, "image_id": 302, "bbox": doc["annotations"][0]["bbox"], "category_id": 1},
    ]
    path.write_text(json.dumps(doc))
    local = annotate(path, images, tmp_path / "local.json", progress=False)
    far = annotate(path, images, tmp_path / "ray.json", engine="ray", workers=2, progress=False)
    assert (far.objects, far.failures) == (local.objects, local.failures) == (6, 2)
    assert (tmp_path / "ray.json").read_text() == (tmp_path / "local.json").read_text()
    reports = [json.loads((tmp_path / f"{name}.json.report.json").read_text()) for name in ("local", "ray")]
    for r in reports:
        del r["output"]
    assert reports[0] == reports[1]


@pytest.mark.parametrize("fmt", ["yolo", "labelme"])
def test_ray_and_local_engines_write_the_same_files(fmt, tmp_path):
    if fmt == "yolo":
        path, images, _ = write_yolo(tmp_path)
    else:
        (path, _), images = write_labelme(tmp_path), None
    annotate(path, images, tmp_path / "local", progress=False)
    annotate(path, images, tmp_path / "ray", engine="ray", progress=False)
    local = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*") if p.is_file())
    far = sorted(p.relative_to(tmp_path / "ray") for p in (tmp_path / "ray").rglob("*") if p.is_file())
    assert local == far and local
    for rel in local:
        assert (tmp_path / "ray" / rel).read_bytes() == (tmp_path / "local" / rel).read_bytes(), rel


def test_cli_ray_engine_with_rle(tmp_path, capsys):
    path, images, _ = write_coco(tmp_path)
    args = [str(path), "--images", str(images), "--rle", "--quiet"]
    assert cli.main(["annotate", *args, "--out", str(tmp_path / "local.json")]) == 0
    assert cli.main(["annotate", *args, "--out", str(tmp_path / "ray.json"), "--engine", "ray", "--workers", "1"]) == 0
    assert "5 objects, 0 failures" in capsys.readouterr().err
    assert (tmp_path / "ray.json").read_text() == (tmp_path / "local.json").read_text()
