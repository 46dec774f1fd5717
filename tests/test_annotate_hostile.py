"""``polyseg annotate`` given careless or hostile inputs (issue 16): device nodes and FIFOs where files are
expected, an input that changed under ``--resume``, repeated image ids, broken entries. Nothing may be damaged,
hang, or be written wrong; a bad entry costs only its own annotations, and a refusal is one line."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from annotate_data import crash_after, write_coco
from polyseg import cli
from polyseg.annotate import AnnotateError, annotate

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")


def null_device(path: Path) -> Path:
    """A character device like ``/dev/null`` (1, 3), made at ``path``."""
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    return path


def zero_device(path: Path) -> Path:
    """A character device like ``/dev/zero`` (1, 5): reading it never ends."""
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 5))
    return path


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def finishes(fn, *args, fifos: tuple[Path, ...] = (), timeout: float = 60.0, **kwargs):
    """``fn(*args, **kwargs)`` in a thread; fails if it still runs after ``timeout`` s (a FIFO opened for reading
    blocks until a writer comes: the FIFOs' write ends are then opened, to free the thread)."""
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 (handed to the test)
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        for path in fifos:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(10)
        pytest.fail(f"{getattr(fn, '__name__', fn)} hung (still running after {timeout:g} s)")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@pytest.fixture
def coco(tmp_path):
    return write_coco(tmp_path)


# --- outputs replace regular files only ------------------------------------------------------------------------


@pytest.mark.parametrize("make", [pytest.param(null_device, marks=as_root, id="device"), pytest.param(fifo, id="fifo")])
def test_an_output_that_is_not_a_regular_file_is_refused_and_left_alone(coco, tmp_path, make):
    path, images, _ = coco
    target = make(tmp_path / "null")
    kind = os.stat(target).st_mode
    with pytest.raises(AnnotateError, match=r"null is a (character device|FIFO), not a regular file"):
        finishes(annotate, path, images, target, progress=False, fifos=(target,))
    assert os.stat(target).st_mode == kind, "the device node is still there"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "instances.json", "null"], "nothing written"


@as_root
def test_the_cli_refuses_a_device_as_output_with_one_line(coco, tmp_path, capsys):
    path, images, _ = coco
    device = null_device(tmp_path / "null")
    assert cli.main(["annotate", str(path), "--images", str(images), "--out", str(device), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"polyseg: error: {device} is a character device, not a regular file: choose another --out"]
    assert stat.S_ISCHR(os.stat(device).st_mode)


@pytest.mark.parametrize("suffix", [".journal.jsonl", ".report.json"])
@pytest.mark.parametrize("make", [pytest.param(null_device, marks=as_root, id="device"), pytest.param(fifo, id="fifo")])
@pytest.mark.parametrize("resume", [False, True], ids=["new", "resume"])
def test_a_sibling_that_is_not_a_regular_file_is_refused(coco, tmp_path, make, suffix, resume):
    path, images, _ = coco
    out = tmp_path / "out.json"
    sibling = make(tmp_path / f"out.json{suffix}")
    kind = os.stat(sibling).st_mode
    with pytest.raises(AnnotateError, match=rf"out\.json{suffix} is a (character device|FIFO), not a regular file"):
        finishes(annotate, path, images, out, resume=resume, progress=False, fifos=(sibling,))
    assert os.stat(sibling).st_mode == kind and not out.exists()


def test_a_label_folder_output_must_be_a_folder(tmp_path):
    from annotate_data import write_yolo

    labels, images, _ = write_yolo(tmp_path)
    out = fifo(tmp_path / "seg")
    with pytest.raises(AnnotateError, match=r"seg is a FIFO, not a folder: yolo output is a folder"):
        finishes(annotate, labels, images, out, progress=False, fifos=(out,))
    assert stat.S_ISFIFO(os.stat(out).st_mode)


def test_an_output_file_inside_the_output_folder_must_be_regular_too(tmp_path):
    from annotate_data import write_yolo

    labels, images, _ = write_yolo(tmp_path)
    (tmp_path / "seg").mkdir()
    target = fifo(tmp_path / "seg" / "scene0.txt")
    with pytest.raises(AnnotateError, match=r"scene0\.txt is a FIFO, not a regular file"):
        finishes(annotate, labels, images, tmp_path / "seg", progress=False, fifos=(target,))
    assert stat.S_ISFIFO(os.stat(target).st_mode)


# --- --resume after the input changed ----------------------------------------------------------------------------


def interrupted(path, images, out, monkeypatch, **options) -> Path:
    """Run until one image is journalled, then die; the journal's path."""
    with monkeypatch.context() as m:
        crash_after(1, m)
        with pytest.raises(KeyboardInterrupt):
            annotate(path, images, out, progress=False, **options)
    journal = Path(str(out) + ".journal.jsonl")
    assert journal.exists()
    return journal


def insert_at_the_top(doc: dict) -> None:
    doc["annotations"].insert(0, {**doc["annotations"][4], "id": 99})  # the disc of image 101 once more


def reverse(doc: dict) -> None:
    doc["annotations"].reverse()


@pytest.mark.parametrize("change", [insert_at_the_top, reverse])
def test_resume_after_the_coco_input_changed_redoes_what_changed(coco, tmp_path, monkeypatch, change):
    path, images, _ = coco
    interrupted(path, images, tmp_path / "broken.json", monkeypatch)
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
    summary = annotate(path, images, tmp_path / "broken.json", resume=True, progress=False)
    annotate(path, images, tmp_path / "whole.json", progress=False)
    broken = json.loads((tmp_path / "broken.json").read_text())
    whole = json.loads((tmp_path / "whole.json").read_text())
    for got, expected in zip(broken["annotations"], whole["annotations"]):
        assert got == expected, f"annotation {got['id']} has another object's polygon"
    assert summary.changed == 1 and summary.images_run == summary.images == 2
    assert "1 journalled image redone: its input changed" in summary.line()


def test_resume_keeps_what_is_still_valid(coco, tmp_path, monkeypatch):
    path, images, _ = coco
    interrupted(path, images, tmp_path / "broken.json", monkeypatch)
    doc = json.loads(path.read_text())
    doc["annotations"][3]["bbox"] = [91.0, 21.0, 48.0, 48.0]  # a box of image 101 changes; image 100 does not
    path.write_text(json.dumps(doc))
    summary = annotate(path, images, tmp_path / "broken.json", resume=True, progress=False)
    annotate(path, images, tmp_path / "whole.json", progress=False)
    assert summary.changed == 0 and summary.images_run == 1
    assert (tmp_path / "broken.json").read_text() == (tmp_path / "whole.json").read_text()


def test_resume_after_a_label_file_changed_redoes_that_file(tmp_path, monkeypatch):
    from annotate_data import write_yolo

    labels, images, _ = write_yolo(tmp_path)
    interrupted(labels, images, tmp_path / "broken", monkeypatch)
    first = labels / "empty.txt"  # the first file done: the label files go in sorted order
    first.write_text("0 0.5 0.5 0.5 0.5\n")
    summary = annotate(labels, images, tmp_path / "broken", resume=True, progress=False)
    annotate(labels, images, tmp_path / "whole", progress=False)
    assert summary.changed == 1
    for name in ("empty.txt", "scene0.txt", "scene1.txt"):
        assert (tmp_path / "broken" / name).read_text() == (tmp_path / "whole" / name).read_text(), name


@pytest.mark.parametrize(
    ("options", "message"),
    [({"rle": True}, r"rle False"), ({"tolerance": 3.0}, r"tolerance 1\.4"), ({"overwrite": True}, r"overwrite False")],
)
def test_resume_with_other_options_is_refused(coco, tmp_path, monkeypatch, options, message):
    path, images, _ = coco
    journal = interrupted(path, images, tmp_path / "out.json", monkeypatch)
    before = journal.read_bytes()
    with pytest.raises(AnnotateError, match=rf"out\.json\.journal\.jsonl was written with other options \(.*{message}"
                                            r".*\): resume with the same options, or delete it to start over"):
        annotate(path, images, tmp_path / "out.json", resume=True, progress=False, **options)
    assert journal.read_bytes() == before


def test_a_journal_without_a_header_is_started_over(coco, tmp_path, monkeypatch):
    path, images, _ = coco
    journal = interrupted(path, images, tmp_path / "broken.json", monkeypatch)
    entry = json.loads(journal.read_text().splitlines()[1])
    del entry["input"]
    journal.write_text(json.dumps(entry) + "\n")  # as an older polyseg wrote it: no header, no fingerprints
    summary = annotate(path, images, tmp_path / "broken.json", resume=True, progress=False)
    annotate(path, images, tmp_path / "whole.json", progress=False)
    assert summary.images_run == summary.images == 2
    assert (tmp_path / "broken.json").read_text() == (tmp_path / "whole.json").read_text()


# --- images that are not regular files ---------------------------------------------------------------------------


def test_a_fifo_as_image_is_unreadable_not_a_hang(tmp_path):
    from polyseg.annotate.engine import load_image

    path = fifo(tmp_path / "a.png")
    assert finishes(load_image, str(path), fifos=(path,), timeout=20) == (None, "image_unreadable")


@as_root
def test_a_null_device_as_image_is_unreadable(tmp_path):
    from polyseg.annotate.engine import load_image

    assert load_image(str(null_device(tmp_path / "a.png"))) == (None, "image_unreadable")


@as_root
def test_an_endless_device_as_image_is_not_read(tmp_path):
    """``/dev/zero`` read without a limit fills the memory: load it in a child process allowed 2 GB."""
    import subprocess
    import sys

    zero = zero_device(tmp_path / "zero.png")
    script = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
        "from polyseg.annotate.engine import load_image\n"
        "print(load_image(sys.argv[1]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(zero)], capture_output=True, text=True, timeout=120,
                          check=False, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")})
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.strip() == "(None, 'image_unreadable')"


def test_an_image_file_over_the_size_limit_is_unreadable(tmp_path, monkeypatch):
    from polyseg.annotate import engine

    path = tmp_path / "a.png"
    path.write_bytes(b"\x89PNG" + bytes(5000))
    monkeypatch.setattr(engine, "MAX_IMAGE_BYTES", 4096)
    assert engine.load_image(str(path)) == (None, "image_unreadable")


def test_an_image_over_opencvs_pixel_limit_is_unreadable_not_a_crash():
    from test_serve_hostile import png_bomb

    from polyseg.annotate.engine import decode_image

    assert decode_image(png_bomb(40000, 40000)) == (None, "image_unreadable")  # 1.6 gigapixels: cv2 raises


def test_a_run_goes_on_past_images_that_are_not_files(coco, tmp_path):
    path, images, _ = coco
    doc = json.loads(path.read_text())
    specials = {200: fifo(tmp_path / "fifo.png"), 201: images}  # a FIFO, a folder
    if os.geteuid() == 0:
        specials[202] = null_device(tmp_path / "null.png")
    for image_id, special in specials.items():
        doc["images"].append({"id": image_id, "file_name": str(special)})
        doc["annotations"].append({"id": image_id, "image_id": image_id, "bbox": [1, 1, 20, 20], "category_id": 1})
    path.write_text(json.dumps(doc))
    summary = finishes(annotate, path, images, tmp_path / "out.json", progress=False, fifos=(specials[200],))
    report = json.loads((tmp_path / "out.json.report.json").read_text())
    assert summary.objects == 5
    failed = {f["annotation"]: f["reason"] for f in report["failed"]}
    assert failed == {200: "image_unreadable", 201: "image_missing", **({202: "image_unreadable"} if 202 in specials
                                                                        else {})}


def test_the_single_image_command_refuses_a_fifo_with_one_line(tmp_path, capsys):
    path = fifo(tmp_path / "a.png")
    assert finishes(cli.main, [str(path), "--box", "1,2,30,40"], fifos=(path,), timeout=20) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"polyseg: error: cannot read image {path}: missing, or not an image OpenCV can decode"]


# --- repeated image ids ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("repeat", [101, "101"], ids=["same", "as-a-string"])
def test_repeated_image_ids_are_refused_naming_the_id(coco, tmp_path, repeat):
    path, images, _ = coco
    doc = json.loads(path.read_text())
    doc["images"].append({"id": repeat, "file_name": "scene0.png"})
    path.write_text(json.dumps(doc))
    with pytest.raises(AnnotateError, match=rf"images\[2\] repeats the id {repeat!r} of images\[1\]: "
                                            "image ids must be unique"):
        annotate(path, images, tmp_path / "out.json", progress=False)
    assert not (tmp_path / "out.json").exists()


# --- one line, never a traceback ------------------------------------------------------------------------------


def run_cli(*args: str) -> int:
    return cli.main(["annotate", *map(str, args), "--quiet"])


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_a_box_past_float_range_is_a_bad_box(coco, tmp_path):
    path, images, _ = coco
    doc = json.loads(path.read_text())
    doc["annotations"][0]["bbox"] = [10**400, 1, 20, 20]
    path.write_text(json.dumps(doc))
    summary = annotate(path, images, tmp_path / "out.json", progress=False)
    report = json.loads((tmp_path / "out.json.report.json").read_text())
    assert summary.objects == 4 and report["failed"] == [{"reason": "bad_box", "image": "100", "annotation": 11}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"images": [], "annotations": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
        ('{"images": [], "annotations": [], "info": ' + "7" * 5000 + "}", "Exceeds the limit (4300 digits)"),
    ],
    ids=["nested", "5000-digits"],
)
def test_json_python_cannot_parse_is_one_line_naming_the_file(coco, tmp_path, capsys, text, message):
    path, images, _ = coco
    path.write_text(text)
    assert run_cli(path, "--images", images, "--out", tmp_path / "out.json") == 2
    line = one_line(capsys)
    assert line.startswith(f"polyseg: error: {path} is not valid JSON") and message in line


@pytest.mark.parametrize(
    ("failing", "error"),
    [("replace", OSError(30, "Read-only file system")), ("fsync", OSError(28, "No space left on device"))],
)
def test_an_output_file_system_that_refuses_writes_is_one_line(coco, tmp_path, capsys, monkeypatch, failing, error):
    path, images, _ = coco

    def refuse(*args, **kwargs):
        raise error

    monkeypatch.setattr(os, failing, refuse)
    assert run_cli(path, "--images", images, "--out", tmp_path / "out.json") == 1
    assert one_line(capsys) == f"polyseg: error: {error.strerror}: {tmp_path / 'out.json'}"


def test_an_output_parent_that_is_a_file_is_one_line(coco, tmp_path, capsys):
    path, images, _ = coco
    (tmp_path / "afile").write_text("")
    assert run_cli(path, "--images", images, "--out", tmp_path / "afile" / "out.json") == 2
    assert one_line(capsys) == f"polyseg: error: cannot write {tmp_path / 'afile' / 'out.json'}: a folder on its path is a file"


def test_a_folder_named_like_a_label_file_is_not_a_label_file(tmp_path, capsys):
    from annotate_data import write_yolo

    labels, images, _ = write_yolo(tmp_path)
    (labels / "x.txt").mkdir()
    (labels / "x.txt" / "scene1.txt").write_text("")
    assert run_cli(labels, "--images", images, "--out", tmp_path / "seg") == 0
    assert "4 images, 5 objects, 0 failures" in one_line(capsys)
    assert (tmp_path / "seg" / "x.txt" / "scene1.txt").read_text() == ""


# --- a bad entry costs only its own annotations ---------------------------------------------------------------


def test_unreadable_label_files_are_reported_and_the_run_goes_on(tmp_path):
    from annotate_data import write_yolo

    labels, images, _ = write_yolo(tmp_path)
    (labels / "latin1.txt").write_bytes("0 0.5 0.5 0.2 0.2 # caf\xe9\n".encode("latin-1"))
    (labels / "broken.txt").symlink_to(tmp_path / "gone.txt")
    fifo(labels / "fifo.txt")
    summary = finishes(annotate, labels, images, tmp_path / "seg", progress=False, fifos=(labels / "fifo.txt",))
    report = json.loads((tmp_path / "seg.report.json").read_text())
    assert summary.objects == 5
    assert sorted((f["reason"], f["image"], f["annotation"]) for f in report["failed"]) == [
        ("label_unreadable", "broken.txt", None), ("label_unreadable", "fifo.txt", None),
        ("label_unreadable", "latin1.txt", None)]
    assert sorted(p.name for p in (tmp_path / "seg").iterdir()) == ["empty.txt", "scene0.txt", "scene1.txt"]


def test_an_unreadable_labelme_file_is_reported_and_the_run_goes_on(tmp_path):
    from annotate_data import write_labelme

    folder, _ = write_labelme(tmp_path)
    (folder / "bad.json").write_bytes(b'{"shapes": [], "imagePath": "caf\xe9.png"}')
    (folder / "notes.json").write_text("[1, 2, 3]")  # JSON, but not labelme
    summary = annotate(folder, None, tmp_path / "out", progress=False)
    report = json.loads((tmp_path / "out.report.json").read_text())
    assert summary.objects == 5
    assert sorted((f["reason"], f["image"]) for f in report["failed"]) == [
        ("label_unreadable", "bad.json"), ("label_unreadable", "notes.json")]


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"id": 300, "file_name": None}, "bad_file_name"),
        ({"id": 300, "file_name": 12}, "bad_file_name"),
        ({"id": 300, "file_name": ""}, "bad_file_name"),
        ({"id": 300, "file_name": "scene0\0.png"}, "bad_file_name"),
        ({"id": {"a": 1}, "file_name": "scene0.png"}, "unknown_image"),
        ({"id": None, "file_name": "scene0.png"}, "unknown_image"),
    ],
    ids=["null", "number", "empty", "nul", "dict-id", "null-id"],
)
def test_a_bad_image_entry_costs_only_its_own_annotations(coco, tmp_path, entry, reason):
    path, images, _ = coco
    doc = json.loads(path.read_text())
    doc["images"].append(entry)
    doc["annotations"].append({"id": 300, "image_id": entry["id"], "bbox": [1, 1, 20, 20], "category_id": 1})
    path.write_text(json.dumps(doc))
    summary = annotate(path, images, tmp_path / "out.json", progress=False)
    report = json.loads((tmp_path / "out.json.report.json").read_text())
    assert summary.objects == 5
    assert [(f["reason"], f["annotation"]) for f in report["failed"]] == [(reason, 300)]
    assert json.loads((tmp_path / "out.json").read_text())["annotations"][-1] == doc["annotations"][-1]


# --- outputs get the user's normal permissions -------------------------------------------------------------------


@pytest.fixture
def umask():
    """Set the process's umask for a test (``umask(0o027)``), and put the old one back after it."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_outputs_are_created_as_the_umask_says(coco, tmp_path, umask, mask):
    from annotate_data import write_yolo

    path, images, _ = coco
    umask(mask)
    annotate(path, images, tmp_path / "out.json", progress=False)
    labels, images, _ = write_yolo(tmp_path / "yolo")
    annotate(labels, images, tmp_path / "seg", progress=False)
    expected = 0o666 & ~mask
    assert mode(tmp_path / "out.json") == mode(tmp_path / "out.json.report.json") == expected
    assert {mode(p) for p in (tmp_path / "seg").iterdir()} == {expected}


def test_a_replaced_output_keeps_its_permissions(coco, tmp_path, umask):
    path, images, _ = coco
    (tmp_path / "out.json").write_text("{}")
    os.chmod(tmp_path / "out.json", 0o640)
    annotate(path, images, tmp_path / "out.json", progress=False)
    assert mode(tmp_path / "out.json") == 0o640 and json.loads((tmp_path / "out.json").read_text())["annotations"]


@pytest.mark.parametrize(
    ("iscrowd", "reason"), [("0", None), (0, None), (False, None), ("1", "crowd"), (1, "crowd"), ("yes", "bad_iscrowd"),
                            (2, "bad_iscrowd")],
)
def test_iscrowd_is_read_as_0_or_1_and_anything_else_reported(coco, tmp_path, iscrowd, reason):
    path, images, _ = coco
    doc = json.loads(path.read_text())
    doc["annotations"][0]["iscrowd"] = iscrowd
    path.write_text(json.dumps(doc))
    summary = annotate(path, images, tmp_path / "out.json", progress=False)
    report = json.loads((tmp_path / "out.json.report.json").read_text())
    out = json.loads((tmp_path / "out.json").read_text())["annotations"][0]
    assert ("polyseg_score" in out) is (reason is None)
    assert summary.objects == (5 if reason is None else 4)
    expected = [{"reason": reason, "image": "100", "annotation": 11}] if reason == "bad_iscrowd" else []
    assert report["failed"] == expected


@pytest.mark.parametrize("command", ["single", "annotate"])
def test_a_corrupt_model_is_one_line(coco, tmp_path, capfd, command):
    path, images, _ = coco
    model = tmp_path / "m.xml"
    model.write_text("this is not an IR")
    (tmp_path / "m.bin").write_bytes(os.urandom(1000))
    if command == "single":
        code = cli.main([str(images / "scene0.png"), "--box", "10,10,50,50", "--model", str(model)])
    else:
        code = run_cli(path, "--images", images, "--out", tmp_path / "out.json", "--model", model)
    err = capfd.readouterr().err.strip().splitlines()  # capfd: OpenVINO's frontends write to fd 2 themselves
    expected = (f"polyseg: error: cannot read the OpenVINO IR {model}: it is corrupt or not an IR (no <net> element "
                "in its first 4096 bytes)")
    assert code == 2 and err == [expected]


def test_a_truncated_weights_file_is_one_line(tmp_path, capfd):
    from serve_support import ROOT

    model = tmp_path / "m.xml"
    model.write_bytes((ROOT / "weights" / "polyseg_unet.xml").read_bytes())
    (tmp_path / "m.bin").write_bytes((ROOT / "weights" / "polyseg_unet.bin").read_bytes()[:5000])
    code = cli.main([str(ROOT / "src" / "polyseg" / "data" / "example.jpg"), "--box", "10,10,50,50", "--model",
                     str(model)])
    err = capfd.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "Incorrect weights in bin file" in err[0]
