"""Train the U-Net on a prepared cache, on the CPU (bf16 autocast, channels_last) or a GPU when there is one.

A checkpoint is written after every epoch (``last.pt``) and for the best validation IoU (``best.pt``);
``--resume`` continues from ``last.pt`` with the same data order, so a killed run loses at most one epoch.
``--init-from`` starts a new run (new optimiser and schedule) from another run's weights: a second learning-rate
cycle, as the model card's "second cycle" trial (not shipped) was trained.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from model import UNet
from polyseg.crop import INPUT_SIZE, MARGIN, MIN_MARGIN, POINT_RADIUS
from prepare import DEFAULT_CACHE, Patch, load_split
from samples import (
    QUALITY,
    Augment,
    Drawn,
    draw_sample,
    make_sample,
    parse_source_weights,
    pieces,
    sampling_probabilities,
)

# --- losses ----------------------------------------------------------------------------------------------------


def distance_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The paper's mean-boundary-distance approximation, per sample then averaged:
    (soft union - soft intersection) / sqrt(ground-truth area)."""
    p = torch.sigmoid(logits).flatten(1)
    g = target.flatten(1)
    inter = (p * g).sum(1)
    union = (p + g - p * g).sum(1)
    return ((union - inter) / g.sum(1).clamp_min(1.0).sqrt()).mean()


def bce_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, target)


LOSSES = {
    "distance": distance_loss,
    "bce": bce_loss,
    "sum": lambda logits, target: distance_loss(logits, target) + bce_loss(logits, target),
}


# --- metrics at network resolution -----------------------------------------------------------------------------


def iou_per_instance(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``(N, S, S)`` bool predictions and targets -> ``(N,)`` IoU."""
    inter = (pred & target).sum((1, 2))
    union = (pred | target).sum((1, 2))
    return inter / np.maximum(union, 1)


def val_metrics_by_source(pred: np.ndarray, target: np.ndarray, classes: list[str]) -> dict[str, dict[str, float]]:
    """:func:`val_metrics` of each data set (the part of ``classes`` before ``/``)."""
    sources = np.array([c.split("/")[0] for c in classes])
    return {
        s: val_metrics(pred[sources == s], target[sources == s], [c for c, k in zip(classes, sources) if k == s])
        for s in sorted(set(sources))
    }


def val_metrics(pred: np.ndarray, target: np.ndarray, classes: list[str], batch: int = 32) -> dict[str, float]:
    """aIoU (IoU of each batch of ``batch`` instances, averaged), iIoU (per instance, averaged), mIoU (per class
    over all its pixels, averaged over classes), all in percent."""
    iiou = iou_per_instance(pred, target)
    aiou = [
        (pred[i : i + batch] & target[i : i + batch]).sum()
        / max((pred[i : i + batch] | target[i : i + batch]).sum(), 1)
        for i in range(0, len(pred), batch)
    ]
    per_class = {}
    for c in sorted(set(classes)):
        sel = np.array([k == c for k in classes])
        per_class[c] = (pred[sel] & target[sel]).sum() / max((pred[sel] | target[sel]).sum(), 1)
    return {
        "aIoU": 100 * float(np.mean(aiou)),
        "iIoU": 100 * float(iiou.mean()),
        "mIoU": 100 * float(np.mean(list(per_class.values()))),
    }


# --- the loop --------------------------------------------------------------------------------------------------


def stack(samples: list[tuple[np.ndarray, np.ndarray]]) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(np.stack([s[0] for s in samples]))
    y = torch.from_numpy(np.stack([s[1] for s in samples]))[:, None]
    return x.contiguous(memory_format=torch.channels_last), y


def sample_geometry(args: argparse.Namespace) -> dict[str, float]:
    """The run's sample geometry, as :func:`samples.make_sample` takes it: input side, point radius, margins.

    They are training arguments, so a checkpoint (which keeps ``vars(args)``) says what its weights were trained
    with, and ``export.py`` writes exactly that into the IR.
    """
    return {"size": args.input_size, "radius": args.point_radius, "margin": args.margin, "min_margin": args.min_margin}


def build_val(patches: list[Patch], geometry: dict[str, float]) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    xs, ys, cls = [], [], []
    for p in patches:
        s = make_sample(p.image, p.mask, None, **geometry)
        if s is not None:
            xs.append(s[0].astype(np.float16))  # half the memory; the 0-255 inputs survive within 0.125
            ys.append(s[1] > 0.5)
            cls.append(f"{p.source}/{p.cls}")
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys)), cls


@torch.no_grad()
def predict(model: UNet, x: torch.Tensor, device: torch.device, amp: bool, batch: int = 128) -> np.ndarray:
    model.eval()
    out = []
    for i in range(0, len(x), batch):
        xb = x[i : i + batch].to(device).float().contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out.append((model.logits(xb).float() > 0).cpu().numpy()[:, 0])
    return np.concatenate(out)


def initial_weights(args: argparse.Namespace, device: torch.device) -> dict[str, torch.Tensor] | None:
    """The weights ``--init-from`` names (a checkpoint's, or a shipped IR's read back, which needs ``--freeze-bn``:
    its BatchNorm is folded); None without it."""
    if args.init_from is None:
        return None
    if args.init_from.suffix == ".xml":
        if not getattr(args, "freeze_bn", False):
            raise SystemExit(f"--init-from {args.init_from}: an IR has its BatchNorm folded; add --freeze-bn")
        from from_ir import unet_from_ir  # OpenVINO: only to read an IR back

        state = unet_from_ir(args.init_from).state_dict()
    else:
        state = torch.load(args.init_from, map_location=device, weights_only=False)["model"]
    print(f"weights from {args.init_from}")
    return state


def optimiser(model: torch.nn.Module, args: argparse.Namespace):  # -> (Adam, LambdaLR, steps per epoch)
    """Adam at ``--lr`` with a cosine decay over all the run's steps."""
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps_per_epoch = math.ceil(args.samples_per_epoch / args.batch)
    total = steps_per_epoch * args.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    return opt, sched, steps_per_epoch


def gradient_step(model: UNet, opt, sched, loss_fn, x: torch.Tensor, y: torch.Tensor, amp: bool) -> torch.Tensor:
    """One optimiser step on a batch (bf16 autocast for the forward pass when ``amp``, the loss in float32);
    returns the loss."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
        logits = model.logits(x)
    loss = loss_fn(logits.float(), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sched.step()
    return loss


def freeze_batchnorm(model: torch.nn.Module) -> None:
    """BatchNorm in eval mode inside a training model: statistics fixed, scale and shift still trained."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()


def epoch_order(rng: np.random.Generator, count: int, samples: int, draw: np.ndarray | None) -> np.ndarray:
    """Which of ``count`` objects make an epoch's ``samples``: drawn by ``draw``, or each once per pass."""
    if draw is None:  # every object once per pass, in a new order each epoch
        return np.resize(rng.permutation(count), samples)
    return rng.choice(count, samples, p=draw)


def make_batch(
    patches: list[Patch], indices: np.ndarray, rng: np.random.Generator, aug: Augment, geometry: dict[str, float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The training batch of ``patches[indices]``: one random sample each (an object rotated out of its patch is
    replaced by another drawn at random)."""
    return stack([(d.x, d.y) for d in draw_objects(patches, indices, rng, aug, geometry)])


def draw_probabilities(patches: list[Patch], args: argparse.Namespace) -> np.ndarray | None:
    """Each training object's draw probability from ``--source-weight`` and ``--piece-weight`` (None: uniform)."""
    several = None
    if args.piece_weight != 1:
        several = np.array([pieces(p.mask > 127) > 1 for p in patches])
    return sampling_probabilities(
        [p.source for p in patches], parse_source_weights(args.source_weight), several, args.piece_weight
    )


def draw_objects(
    patches: list[Patch], indices: np.ndarray, rng: np.random.Generator, aug: Augment, geometry: dict[str, float]
) -> list[Drawn]:
    """One random sample of each of ``patches[indices]`` (:func:`samples.draw_sample`); an object rotated out of
    its patch is replaced by another drawn at random."""
    drawn = []
    for i in indices:
        p = patches[i]
        d = draw_sample(p.image, p.mask, rng, aug, **geometry)
        while d is None:
            p = patches[rng.integers(len(patches))]
            d = draw_sample(p.image, p.mask, rng, aug, **geometry)
        drawn.append(d)
    return drawn


def checkpoint(model: torch.nn.Module, opt, sched, epoch: int, best: float, history: list, **extra) -> dict:
    """What ``last.pt`` holds to resume a run: weights, optimiser, schedule, epoch, best score, history."""
    return {
        "model": model.state_dict(),
        "opt": opt.state_dict(),
        "sched": sched.state_dict(),
        "epoch": epoch,
        "best": best,
        "history": history,
        **extra,
    }


class Batches(torch.utils.data.Dataset):
    """An epoch's batches for DataLoader workers (``--workers``): batch ``step`` is drawn with its own generator,
    seeded by (seed, epoch, step), so the data do not depend on how many workers make them."""

    def __init__(
        self,
        patches: list[Patch],
        order: np.ndarray,
        batch: int,
        seed: list[int],
        aug: Augment,
        geometry: dict[str, float],
    ) -> None:
        self.patches, self.order, self.batch, self.seed, self.aug, self.geometry = (
            patches,
            order,
            batch,
            seed,
            aug,
            geometry,
        )

    def __len__(self) -> int:
        return math.ceil(len(self.order) / self.batch)

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([*self.seed, step])
        return make_batch(
            self.patches, self.order[step * self.batch : (step + 1) * self.batch], rng, self.aug, self.geometry
        )


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


def epoch_batches(
    patches: list[Patch],
    order: np.ndarray,
    rng: np.random.Generator,
    aug: Augment,
    geometry: dict[str, float],
    args: argparse.Namespace,
    epoch: int,
):  # -> Iterable of (x, y)
    """An epoch's batches: made here in order from ``rng`` (``--workers 0``, the CPU recipe), or by
    ``--workers`` processes (a GPU machine's cores), each batch from its own seed."""
    if not args.workers:
        return (
            make_batch(patches, order[i : i + args.batch], rng, aug, geometry) for i in range(0, len(order), args.batch)
        )
    return worker_loader(Batches(patches, order, args.batch, [args.seed, epoch], aug, geometry), args.workers)


def worker_loader(data: torch.utils.data.Dataset, workers: int, collate_fn=None) -> torch.utils.data.DataLoader:
    """``data``'s items in order, each made whole (a batch) by one of ``workers`` processes of one thread each."""
    # OpenCV's thread pool does not survive a fork: a worker that touches it (even to resize it) can hang on a
    # lock the parent held. Without a pool in the parent, the workers inherit none and run OpenCV serially.
    cv2.setNumThreads(0)
    return torch.utils.data.DataLoader(
        data,
        batch_size=None,
        shuffle=False,
        num_workers=workers,
        worker_init_fn=_worker_init,
        prefetch_factor=8,
        pin_memory=torch.cuda.is_available(),
        collate_fn=collate_fn,
    )


def save_epoch(out_dir: Path, checkpoint: dict, kept: torch.nn.Module, metrics: dict, args, improved: bool) -> None:
    """``best.pt`` (the kept weights, their metrics and the run's arguments) when ``improved``, and ``last.pt`` (to
    resume: ``checkpoint``) through a temporary file, so a killed run never leaves half a file."""
    if improved:
        torch.save(
            {"model": kept.state_dict(), "epoch": checkpoint["epoch"], "metrics": metrics, "args": vars(args)},
            out_dir / "best.pt",
        )
    torch.save(checkpoint, out_dir / "last.tmp")
    (out_dir / "last.tmp").replace(out_dir / "last.pt")


def train(args: argparse.Namespace) -> dict:
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(args.threads or torch.get_num_threads())
    amp = not args.no_amp
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    train_patches, val_patches = load_split(args.cache, "train"), load_split(args.cache, "val")
    geometry = sample_geometry(args)
    val_x, val_y, val_cls = build_val(val_patches, geometry)
    draw = draw_probabilities(train_patches, args)
    val_target = val_y.numpy()

    model = UNet().to(device).to(memory_format=torch.channels_last)
    state = initial_weights(args, device)  # a warm restart; a resumed run below overwrites these with its own
    if state is not None:
        model.load_state_dict(state)
    opt, sched, steps_per_epoch = optimiser(model, args)
    loss_fn = LOSSES[args.loss]
    # Optional exponential moving average of the weights (BatchNorm statistics included): validated, kept and
    # exported instead of the raw weights.
    ema = None
    if args.ema > 0:
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(args.ema), use_buffers=True)
    start_epoch, best, history = 0, -1.0, []
    last = out_dir / "last.pt"
    if args.resume and last.exists():
        ck = torch.load(last, map_location=device, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        if ema is not None:
            ema.load_state_dict(ck["ema"])
        start_epoch, best, history = ck["epoch"] + 1, ck["best"], ck["history"]
        print(f"resumed after epoch {ck['epoch']} (best val iIoU {best:.2f})")

    aug = QUALITY if args.quality_aug else Augment()
    for epoch in range(start_epoch, args.epochs):
        rng = np.random.default_rng([args.seed, epoch])  # per-epoch seed: a resumed run repeats the same data
        model.train()
        if getattr(args, "freeze_bn", False):  # BatchNorm keeps its statistics (an identity read from an IR too)
            freeze_batchnorm(model)
        order = epoch_order(rng, len(train_patches), steps_per_epoch * args.batch, draw)
        t0, seen = time.time(), 0
        batches = epoch_batches(train_patches, order, rng, aug, geometry, args, epoch)
        bar = tqdm(batches, total=steps_per_epoch, desc=f"epoch {epoch + 1}/{args.epochs}", mininterval=5, ncols=110)
        for step, (x, y) in enumerate(bar):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = gradient_step(model, opt, sched, loss_fn, x, y, amp)
            if ema is not None:
                ema.update_parameters(model)
            seen += len(x)
            # the running loss stays on the device: reading it every step would stall a GPU
            if step == 0:
                running_t = loss.detach()
            else:
                running_t = 0.98 * running_t + 0.02 * loss.detach()
            if step % 50 == 0:
                bar.set_postfix(
                    loss=f"{running_t.item():.3f}",
                    sps=f"{seen / (time.time() - t0):.0f}",
                    lr=f"{sched.get_last_lr()[0]:.1e}",
                    refresh=False,
                )
        running = running_t.item()
        kept = model if ema is None else ema.module
        pred = predict(kept, val_x, device, amp)
        metrics = val_metrics(pred, val_target, val_cls)
        metrics.update(epoch=epoch + 1, loss=running, seconds=time.time() - t0)
        metrics["sources"] = val_metrics_by_source(pred, val_target, val_cls)
        history.append(metrics)
        print(json.dumps(metrics), flush=True)
        improved = metrics["iIoU"] > best
        best = max(best, metrics["iIoU"])
        ck = checkpoint(model, opt, sched, epoch, best, history, ema=None if ema is None else ema.state_dict())
        save_epoch(out_dir, ck, kept, metrics, args, improved)
    (out_dir / "history.json").write_text(json.dumps(history, indent=1))
    return {"best_iIoU": best, "history": history}


def _input_size(text: str) -> int:
    size = int(text)
    if size < 16 or size % 16:
        raise argparse.ArgumentTypeError(
            f"the input size must be a multiple of 16 (the U-Net pools 4 times), got {size}"
        )
    return size


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    geometry = p.add_argument_group("sample geometry (kept in the checkpoint; export.py writes it into the IR)")
    geometry.add_argument("--input-size", type=_input_size, default=INPUT_SIZE, help="side of the network input, px")
    geometry.add_argument(
        "--point-radius", type=float, default=POINT_RADIUS, help="extreme-point disc radius, input px"
    )
    geometry.add_argument(
        "--margin",
        type=float,
        default=MARGIN,
        help="crop margin per side, fraction of the box side, of validation and inference "
        "(training draws its own per side)",
    )
    geometry.add_argument("--min-margin", type=float, default=MIN_MARGIN, help="smallest crop margin, image px")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--samples-per-epoch", type=int, default=8000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--loss", choices=sorted(LOSSES), default="sum")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="processes that make the training batches (a GPU machine's cores; 0: in the training loop)",
    )
    p.add_argument("--no-amp", action="store_true", help="train in float32 (default: bf16 autocast)")
    p.add_argument("--resume", action="store_true")
    p.add_argument(
        "--init-from",
        type=Path,
        metavar="CHECKPOINT",
        help="start from the weights of another run's checkpoint (best.pt) or of a shipped IR (.xml, with "
        "--freeze-bn) with a fresh optimiser and schedule",
    )
    p.add_argument(
        "--freeze-bn",
        action="store_true",
        help="keep BatchNorm in eval mode while training (its statistics fixed, its scale and shift trained)",
    )
    p.add_argument(
        "--quality-aug", action="store_true", help="also blur, down-and-up resize, JPEG and sharpen (weights 2.0)"
    )
    p.add_argument("--ema", type=float, default=0.0, help="keep an EMA of the weights with this decay (0: off)")
    p.add_argument(
        "--source-weight",
        action="append",
        metavar="NAME=W",
        help="draw objects of data set NAME W times as often (default 1 each; repeatable), e.g. otonom=0.33",
    )
    p.add_argument(
        "--piece-weight",
        type=float,
        default=1.0,
        metavar="W",
        help="draw objects seen in several pieces (behind an occluder) W times as often (default 1)",
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--out", type=Path, default=DEFAULT_CACHE / "run")
    add_train_arguments(p)
    return p


if __name__ == "__main__":
    train(parser().parse_args())
